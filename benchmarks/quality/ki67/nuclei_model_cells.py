"""Ki-67 IHC cell F1 on the DeepLIIF sample: the quantifier's threshold nuclei (default) against the bundled
nuclei_hannet model run on the haematoxylin-only rendering, both called positive on the same DAB map.

    python benchmarks/quality/ki67/nuclei_model_cells.py [--data ../shared/data/ki67/deepliif_sample]
"""
import sys

import numpy as np
import torch
torch.set_num_threads(1)
from pathlib import Path
from biomedai.methods.ki67.config import Ki67Config
from biomedai.methods.ki67.deepliif import load_deepliif, seg_to_instances
from biomedai.methods.ki67.deepliif import match_cells
from biomedai.methods.ki67.ihc import quantify_ihc, hematoxylin_only_rgb, stain_channels, call_cells, detect_nuclei
from biomedai.methods.nuclei_hannet.config import HanNetConfig
from biomedai.methods.nuclei_hannet.segmenter import NucleiSegmenter
from biomedai.train.model_folder import default_model_folder
root = Path(sys.argv[sys.argv.index("--data") + 1]) if "--data" in sys.argv else \
    Path(__file__).resolve().parents[4] / "shared" / "data" / "ki67" / "deepliif_sample"
cfg = Ki67Config()
seg = NucleiSegmenter.from_weights(default_model_folder("nuclei_hannet"), HanNetConfig(device="cpu"))
rows = []
for tile in load_deepliif(root):
    tl, tc = seg_to_instances(tile.seg)
    base = quantify_ihc(tile.ihc, cfg, tile.source)
    m0 = match_cells(tl, tc, base.cells.x, base.cells.y, base.cells.positive)
    labels = seg.segment(hematoxylin_only_rgb(tile.ihc))
    _, dab = detect_nuclei(tile.ihc, cfg)  # the same DAB map the quantifier calls cells on
    cells = call_cells(labels.astype(np.int32), dab, cfg.dab_threshold)
    m1 = match_cells(tl, tc, cells.x, cells.y, cells.positive)
    rows.append((tile.name, tile.split, m0["f1"], m1["f1"], m0["f1_positive"], m1["f1_positive"]))
    print(rows[-1], flush=True)
for part in ("test", None):
    r = [x for x in rows if part is None or x[1] == part]
    print(part or "all", len(r), "cell F1 threshold %.3f nuclei-model %.3f; F1 positive %.3f vs %.3f" % tuple(np.mean([x[k] for x in r]) for k in (2, 3, 4, 5)))
