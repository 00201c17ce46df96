"""COS-Net as a biomedai Method: train / predict / evaluate / demo, plus the cryo-ET user tools."""
from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.methods.base import Method, RunResult
from biomedai.methods.registry import register
from biomedai.provenance import RunRecorder
from biomedai.utils import lazy_import

from .config import CosNetConfig
from .demo import run_demo
from .inputs import list_mrc, read_subtomogram, read_support_folder
from .report import save_slices, tables_markdown
from .tools import run_extract, run_match, run_simulate

core = lazy_import(".core", __package__)  # torch: imported on first use

logger = logging.getLogger(__name__)


@register
class CosNetMethod(Method):
    name = "cryoet_cosnet"
    title = "COS-Net: one-shot classification and segmentation of cryo-ET subtomograms"
    modality = "cryo-electron tomography (subtomograms)"
    task = "one-shot classification + 3D segmentation"
    paper = "Zhou et al., Front. Mol. Biosci. 7:613347 (2020)"
    config_class = CosNetConfig
    input_kinds = ("volume/mrc",)
    #: models/default/: trained on SIMULATED subtomograms (see its MODEL.md); research use only
    default_model = "default"

    # ------------------------------------------------------------------ actions
    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        cfg = self.config
        rec = RunRecorder(Path(output_dir), self.name, "train", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs([data])
        dataset = core.load_dataset(data)
        with rec.timer("train"):
            _, info = core.train_cosnet(cfg, dataset, Path(output_dir))
        rec.metrics = {"data": str(data), "snr": dataset.snr, **{k: v for k, v in info.items() if k not in ("first", "final")},
                       "final_epoch": info["final"]}
        rec.notes["data"] = "simulated subtomograms (from real structures when built from PolNet templates)"
        for name in ("weights.pt", "model.json", "metrics.jsonl"):
            if (Path(output_dir) / name).exists():
                rec.add_file(Path(output_dir) / name)
        rec.write()
        return RunResult(Path(output_dir), rec.metrics, [Path(output_dir) / f for f in rec.files])

    def _require_weights(self, weights: Path | None) -> Path:
        from biomedai.errors import WeightsError

        folder = self.resolve_weights(weights)
        if folder is None:
            raise WeightsError("cryoet_cosnet needs --weights (train first: biomedai train cryoet_cosnet ...)")
        return folder

    @staticmethod
    def _note_model(rec: RunRecorder, weights: Path) -> None:
        """Record which model ran (for a model folder: its training data, SIMULATED flag and terms)."""
        from biomedai.train.model_folder import is_model_folder, read_model_info

        rec.notes["model"] = (read_model_info(weights).usage_note() if is_model_folder(weights)
                              else f"weights {weights}")

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        """Segment each MRC subtomogram; classify too when ``config.support_dir`` names a support folder."""
        return self._classify_segment(list_mrc(inputs), output_dir, self._require_weights(weights),
                                      Path(self.config.support_dir) if self.config.support_dir else None, segment=True)

    def _classify_segment(self, files: list[Path], output_dir: Path, weights: Path, support: Path | None,
                          segment: bool) -> RunResult:
        import torch

        from biomedai.io.mrc import write_mrc

        cfg = self.config
        out = Path(output_dir)
        rec = RunRecorder(out, self.name, "predict", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs(files)
        device = "cuda" if cfg.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
        model = core.load_model(weights, cfg, device)
        self._note_model(rec, weights)
        box = model.box
        vols = np.stack([read_subtomogram(p, box) for p in files])
        with rec.timer("embed"):
            feats, probs = core.embed_volumes(model, vols, cfg.batch_size, with_masks=segment)
        if support is not None:
            names, shots = read_support_folder(Path(support), box)
            rec.add_inputs([support])
            proto = np.stack([core.embed_volumes(model, s, cfg.batch_size, with_masks=False)[0].mean(0) for s in shots])
            scores = core.cosnet_scores(model, proto, feats)                      # [classes, targets]
            f_out = np.exp(scores - scores.max(0)) / np.exp(scores - scores.max(0)).sum(0)
            lines = ["target,predicted_class," + ",".join(f"p_{n}" for n in names)]
            for i, path in enumerate(files):
                lines.append(f"{path.name},{names[int(f_out[:, i].argmax())]}," +
                             ",".join(f"{v:.4f}" for v in f_out[:, i]))
            (out / "classes.csv").write_text("\n".join(lines) + "\n")
            rec.add_file(out / "classes.csv")
            rec.metrics["predicted"] = {p.name: names[int(f_out[:, i].argmax())] for i, p in enumerate(files)}
            rec.metrics["support_classes"] = names
            rec.metrics["shots_per_class"] = [len(s) for s in shots]
        if segment:
            if probs is None:
                raise InvalidInputError("these weights have no decoder (trained 'w/o Decoder'): no segmentation",
                                        weights)
            with rec.timer("crf"):
                masks = core.refine_masks(probs, vols, cfg, device)
            (out / "masks").mkdir(parents=True, exist_ok=True)
            fractions = {}
            for path, prob, mask in zip(files, probs, masks):
                rec.add_file(write_mrc(mask.astype(np.uint8), out / "masks" / f"{path.stem}_mask.mrc", voxel_size=1.0))
                rec.add_file(write_mrc(prob.astype(np.float32), out / "masks" / f"{path.stem}_prob.mrc",
                                       voxel_size=1.0))
                fractions[path.name] = float(mask.mean())
            rec.metrics["foreground_fraction"] = fractions

            rec.add_file(save_slices(vols[:8], probs[:8], masks[:8], out / "segmentation.png"))
        rec.write()
        return RunResult(out, rec.metrics, [out / f for f in rec.files])

    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """Tables 1-3 on unseen classes of a simulated set: n-way-1-shot accuracy (95% CI) and per-class Dice."""
        import torch

        cfg = self.config
        rec = RunRecorder(Path(output_dir), self.name, "evaluate", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs([data])
        device = "cuda" if cfg.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
        folder = self._require_weights(weights)
        model = core.load_model(folder, cfg, device)
        self._note_model(rec, folder)
        dataset = core.select_classes(core.load_dataset(data), cfg.test_classes, "evaluation")
        with rec.timer("evaluate"):
            result = core.evaluate_model(model, dataset, cfg, device=device)
        rec.metrics = {"data": f"{data} (simulated, SNR={dataset.snr})", "classes": dataset.class_names, **result}
        md = tables_markdown({"COS-Net": result}, dataset.snr)
        (Path(output_dir) / "tables.md").write_text(md)
        rec.add_file(Path(output_dir) / "tables.md")
        rec.write()
        return RunResult(Path(output_dir), rec.metrics, [Path(output_dir) / f for f in rec.files])

    def demo(self, output_dir: Path) -> RunResult:
        return run_demo(self, Path(output_dir))

    # ------------------------------------------------------------------ tools
    @classmethod
    def tool_parser(cls, prog: str) -> argparse.ArgumentParser:
        p = argparse.ArgumentParser(prog=prog, description="cryo-ET tools of COS-Net")
        sub = p.add_subparsers(dest="tool", required=True)
        s = sub.add_parser("simulate", help="simulate subtomograms (or a packed tomogram) from MRC maps / PDB files")
        s.add_argument("structures", nargs="+", help="MRC density maps and/or PDB files, or folders of them")
        s.add_argument("-o", "--out", required=True)
        s.add_argument("--n-per-class", type=int, default=100)
        s.add_argument("--snr", type=float, default=math.inf,
                       help="signal/noise variance of the tilt images in the particle band (see --snr-definition); inf")
        s.add_argument("--snr-definition", default="projection_band", choices=("projection_band", "projection", "volume"))
        s.add_argument("--realistic", action="store_true",
                       help="neighbours cut by the box, membranes, gold fiducials and dose weighting")
        s.add_argument("--tilt", type=float, nargs=3, default=(-60.0, 60.0, 3.0), metavar=("MIN", "MAX", "STEP"))
        s.add_argument("--voxel-size", type=float, default=10.0, help="angstrom")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--mrc", action="store_true", help="also write one MRC per subtomogram and mask")
        s.add_argument("--tomogram", type=int, nargs=3, metavar=("Z", "Y", "X"),
                       help="instead pack particles into a tomogram of this size")
        s.add_argument("--n-particles", type=int, default=50)
        e = sub.add_parser("extract", help="cut box^3 subtomograms at STAR/CSV coordinates from an MRC tomogram")
        e.add_argument("tomogram")
        e.add_argument("coordinates", help=".star (rlnCoordinateX/Y/Z) or .csv (x,y,z[,class]) in voxels")
        e.add_argument("-o", "--out", required=True)
        e.add_argument("--box", type=int, default=32)
        for name, text in (("classify", "classify subtomograms against a support folder (one MRC per class)"),
                           ("segment", "segment subtomograms to MRC masks (decoder + 3D dense CRF)")):
            c = sub.add_parser(name, help=text)
            c.add_argument("targets", nargs="+", help="MRC subtomograms or folders of them")
            c.add_argument("-w", "--weights", help="model folder or weights.pt (default: the bundled model)")
            c.add_argument("-o", "--out", required=True)
            if name == "classify":
                c.add_argument("--support", required=True, help="folder: NAME.mrc or NAME/*.mrc (K shots) per class")
            c.add_argument("-c", "--config", help="YAML config (e.g. CRF parameters)")
            c.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
        m = sub.add_parser("match", help="template matching (missing-wedge-aware by default) against a support folder")
        m.add_argument("targets", nargs="+", help="MRC subtomograms or folders of them")
        m.add_argument("--support", required=True, help="folder: NAME.mrc or NAME/*.mrc (K shots) per class")
        m.add_argument("-o", "--out", required=True)
        m.add_argument("--box", type=int, default=32)
        m.add_argument("--rotations", type=int, default=100, help="identity + uniform random rotations searched")
        m.add_argument("--tilt-range", type=float, nargs=2, default=(-60.0, 60.0), metavar=("MIN", "MAX"),
                       help="tilt range of the tomogram (degrees, tilt axis y) for the wedge")
        m.add_argument("--band", type=float, nargs=2, default=(1 / 32, 0.25), metavar=("LOW", "HIGH"),
                       help="frequencies compared, cycles/voxel (default: the box size to 4 voxels)")
        m.add_argument("--no-wedge", action="store_true", help="ignore the missing wedge (band-limited correlation)")
        m.add_argument("--plain-ncc", action="store_true", help="whole-band NCC, no wedge (the plain baseline)")
        m.add_argument("--seed", type=int, default=0)
        v = sub.add_parser("evaluate", help="Tables 1-3 over random episodes on a simulated set")
        v.add_argument("data", help="dataset.npz (or its folder) from 'simulate'")
        v.add_argument("-w", "--weights", help="model folder or weights.pt (default: the bundled model)")
        v.add_argument("-o", "--out", required=True)
        v.add_argument("-c", "--config")
        v.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
        return p

    def _with_overrides(self, args: argparse.Namespace) -> None:
        from biomedai.config import parse_overrides

        cfg = CosNetConfig.from_file(args.config) if getattr(args, "config", None) else self.config
        self.config = cfg.replace(**parse_overrides(getattr(args, "set", None)))

    def run_tool(self, args: argparse.Namespace) -> int:
        if args.tool == "simulate":
            return run_simulate(args)
        if args.tool == "extract":
            return run_extract(args)
        if args.tool == "match":
            return run_match(args)
        self._with_overrides(args)
        weights = Path(args.weights) if args.weights else None
        if args.tool == "classify":
            res = self._classify_segment(list_mrc(args.targets), Path(args.out), self._require_weights(weights),
                                         Path(args.support), segment=False)
            print(f"classified {len(res.metrics['predicted'])} subtomograms -> {Path(args.out) / 'classes.csv'}")
        elif args.tool == "segment":
            res = self._classify_segment(list_mrc(args.targets), Path(args.out), self._require_weights(weights), None,
                                         segment=True)
            print(f"segmented {len(res.metrics['foreground_fraction'])} subtomograms -> {Path(args.out) / 'masks'}")
        elif args.tool == "evaluate":
            res = self.evaluate(Path(args.data), Path(args.out), weights)
            print(json.dumps({k: v["mean"] for k, v in res.metrics["accuracy"].items()}))
        return 0
