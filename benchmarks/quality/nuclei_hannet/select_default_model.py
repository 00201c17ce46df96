"""Choose the bundled nuclei model on the validation tiles only: the current bundled model or a stage-2 run
(warm start from it), each with and without 8-fold test-time augmentation, under every post-processing
candidate; then score the held-out test tiles for every (model, TTA) pair at its own validation choice (so
the test numbers are reported either way) and, when the winner differs from the bundled model, rewrite
``models/default/`` (weights.pt, model.json, MODEL.md).

Stage 2 of the recipe (after ``make models``' stage 1; see MODEL.md)::

    biomedai train nuclei_hannet --data ../shared/data/nuclei -o runs/nuclei_stage2 \\
        --weights src/biomedai/methods/nuclei_hannet/models/default/weights.pt --set variant=unetpp ... --set aug_stain=0.05
    python benchmarks/quality/nuclei_hannet/select_default_model.py --run runs/nuclei_stage2

The test tiles never influence the choice: they are scored only after it is made.
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bundle_default_model import (  # noqa: E402  (the one-stage bundler's helpers)
    CANDIDATES, DEFAULT_DATA, DEFAULT_OUT, RECIPE, ROOT, _cpu_curve, _scores, _segment_all, _summary, write_card)

from biomedai.methods.nuclei_hannet.config import HanNetConfig  # noqa: E402
from biomedai.methods.nuclei_hannet.data import load_split_file, load_tiles  # noqa: E402
from biomedai.methods.nuclei_hannet.segmenter import NucleiSegmenter, read_arch  # noqa: E402
from biomedai.train import load_weights  # noqa: E402
from biomedai.train.model_folder import load_model_folder, read_model_info, save_model_folder  # noqa: E402

STAGE2 = ("biomedai train nuclei_hannet --data ../shared/data/nuclei -o runs/nuclei_stage2 "
          "--weights src/biomedai/methods/nuclei_hannet/models/default/weights.pt --set variant=unetpp --set base_channels=16 "
          "--set split=all_sources --set crop_size=128 --set batch_size=4 --set crops_per_tile=8 --set lr=0.001 "
          "--set epochs=40 --set max_minutes=20 --set val_every=2 --set val_from=0.3 --set aug_stain=0.05 "
          "--set device=cpu --set seed=1")
SELECT = "python benchmarks/quality/nuclei_hannet/select_default_model.py --run runs/nuclei_stage2"
RESULTS = ROOT / "benchmarks" / "results" / "nuclei_default_selection.json"


def _probs(model, arch, tiles, tta: bool) -> list[np.ndarray]:
    cfg = HanNetConfig(device="cpu", tta=tta)
    seg = NucleiSegmenter(model, cfg, arch)
    return [seg.probabilities(t.image) for t in tiles]


def _mean_aji(rows) -> float:
    return float(np.mean([r["aji"] for r in rows]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True, help="output folder of the stage-2 training command")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the bundled model folder (read, maybe rewritten)")
    p.add_argument("--cpu-log", type=Path, default=None)
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.process_time()

    split = load_split_file("all_sources")
    val, test = load_tiles(args.data, "val", split), load_tiles(args.data, "test", split)
    base_info = read_model_info(args.out)
    base_arch = dict(base_info.architecture)
    base_model = NucleiSegmenter.build_network(base_arch)
    load_model_folder(args.out, base_model, method="nuclei_hannet")
    new_arch = read_arch(args.run / "weights.pt") or base_arch
    new_model = NucleiSegmenter.build_network(new_arch)
    load_weights(new_model, args.run / "weights.pt")
    models = {"bundled": (base_model.eval(), base_arch), "stage2": (new_model.eval(), new_arch)}
    cfg = HanNetConfig(device="cpu")

    # ---- choice on the validation tiles only
    table, per_pair = [], {}
    for name, (model, arch) in models.items():
        for tta in (False, True):
            probs = _probs(model, arch, val, tta)
            best = None
            for setting in CANDIDATES:
                aji = _mean_aji(_scores(val, _segment_all(probs, cfg, setting)))
                table.append({"model": name, "tta": tta, **setting, "val_aji": round(aji, 4)})
                print(f"validation AJI {aji:.4f}: {name} tta={tta} {setting}", flush=True)
                if best is None or aji > best[0]:
                    best = (aji, setting)
            per_pair[(name, tta)] = best
    (win_name, win_tta), (win_val, win_setting) = max(per_pair.items(), key=lambda kv: kv[1][0])
    print(f"chosen on {len(val)} validation tiles: {win_name} tta={win_tta} {win_setting} (AJI {win_val:.4f})",
          flush=True)

    # ---- test tiles, scored only now (reported either way): the bundled model as it was, the winner, and
    # stage 2 without TTA; each at its own validation choice of post-processing
    test_probs: dict = {}

    def test_probabilities(name: str, tta: bool) -> list[np.ndarray]:
        if (name, tta) not in test_probs:
            test_probs[(name, tta)] = _probs(*models[name], test, tta)
        return test_probs[(name, tta)]

    test_rows = {}
    for name, tta in dict.fromkeys([("bundled", False), (win_name, win_tta), ("stage2", False)]):
        setting = per_pair[(name, tta)][1]
        rows = _scores(test, _segment_all(test_probabilities(name, tta), cfg, setting))
        test_rows[(name, tta)] = rows
        summ = _summary(rows)
        print(f"test {name} tta={tta}: miccai2015 AJI {summ['miccai2015_aji']['value']} "
              f"{summ['miccai2015_aji']['ci95']}, gbm40 AJI {summ['gbm40_aji']['value']} {summ['gbm40_aji']['ci95']}",
              flush=True)
    report = {
        "date": dt.date.today().isoformat(), "machine": f"{platform.node()} {platform.machine()}",
        "command": SELECT, "stage2_recipe": STAGE2, "chosen": {"model": win_name, "tta": win_tta, **win_setting,
                                                               "val_aji": round(win_val, 4)},
        "validation": table, "validation_tiles": [f"{t.dataset}/{t.name}" for t in val],
        "test": [{"model": n, "tta": tt, "setting": per_pair[(n, tt)][1], "val_aji": round(per_pair[(n, tt)][0], 4),
                  "summary": {k: v for k, v in _summary(r).items() if v is not None}}
                 for (n, tt), r in test_rows.items()],
    }

    # ---- the bundled folder: rewritten only when the validation choice differs from it
    info = copy.deepcopy(base_info)
    post = {"postprocess": win_setting["postprocess"], "split_h": win_setting["split_h"],
            "dilation_radius": win_setting["dilation_radius"], "tta": win_tta}
    if win_name == "bundled" and win_tta is False and win_setting == {
            k: base_info.preprocessing["postprocessing"].get(k) for k in ("postprocess", "split_h", "dilation_radius")}:
        report["bundle"] = "unchanged (the bundled model, without TTA, at its post-processing, won on validation)"
    else:
        model, arch = models[win_name]
        rows = test_rows[(win_name, win_tta)]
        info.preprocessing = {**info.preprocessing, "postprocessing": post}
        x = dict(info.extra)
        x["validation_choice"] = {"aji": round(win_val, 4), "setting": win_setting, "tta": win_tta,
                                  "model": win_name, "candidates": [
                                      {"aji": r["val_aji"], **{k: r[k] for k in ("postprocess", "split_h",
                                                                                 "dilation_radius")}}
                                      for r in table if r["model"] == win_name and r["tta"] == win_tta],
                                  "all_pairs": [{"model": n, "tta": tt, "aji": round(v[0], 4)}
                                                for (n, tt), v in per_pair.items()]}
        half, diff = True, 0.0
        if win_name == "stage2":
            save_model_folder(args.out, model, info, half=True)
            half_model = NucleiSegmenter.build_network(arch)
            load_model_folder(args.out, half_model)
            # fp16 storage checked without TTA (one pass per tile): fp32 vs fp16 weights at the chosen setting
            rows32 = _scores(test, _segment_all(test_probabilities("stage2", False), cfg, win_setting))
            rows16 = _scores(test, _segment_all(_probs(half_model, arch, test, False), cfg, win_setting))
            diff = max(abs(a["aji"] - b["aji"]) for a, b in zip(rows32, rows16))
            half = diff <= 0.002
            x["fp16_check"] = ("per-tile AJI, fp32 vs fp16 weights, without TTA, at the chosen post-processing; the "
                               "test metrics below were measured with the fp32 weights")
            curve, load = _cpu_curve(args.run, args.cpu_log)
            x["training_curve_stage1"] = x.get("training_curve_stage1", x.get("training_curve", []))
            x["training_load_stage1"] = x.get("training_load_stage1", x.get("training_load", {}))
            x["training_curve"], x["training_load"] = curve, load
            x["recipe"] = RECIPE + "\n" + "python benchmarks/quality/nuclei_hannet/bundle_default_model.py " \
                "--run runs/nuclei_default\n" + STAGE2
            x["bundle_command"] = SELECT
            x["fp16_max_tile_aji_change"] = round(diff, 5)
        metrics = _summary(rows)
        info.metrics = {k: v for k, v in metrics.items() if v is not None and not k.endswith("_n_nuclei")}
        x["counts"] = {k: v for k, v in metrics.items() if k.endswith("_n_nuclei")}
        x["per_tile"] = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
        x["scoring_cpu_s"] = round(time.process_time() - t0, 1)
        x["date"] = dt.date.today().isoformat()
        info.extra = x
        if win_name == "stage2":
            save_model_folder(args.out, model, info, half=half)
        else:  # same weights, new post-processing / TTA: rewrite model.json only, keep the stored weights
            state, _ = load_model_folder(args.out, method="nuclei_hannet")
            save_model_folder(args.out, state, info, half=base_info.weights_dtype == "float16")
        write_card(args.out, info)
        report["bundle"] = f"rewritten: {win_name}, tta={win_tta}, {win_setting}"
    report["cpu_s"] = round(time.process_time() - t0, 1)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(report["bundle"])
    print(f"written {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
