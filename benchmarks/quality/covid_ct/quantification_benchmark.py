"""covid_ct quantification on real chest CT (../shared/data/chest_ct): lung-mask Dice on the label maps, the 3-D CT
(lung volume, seconds per volume on CPU), HU-bin shares on the COVID-19 slices, and the lesion phantom
(SIMULATED lesions in the real 3-D CT) in two scenarios.

    nice -n 5 python benchmarks/quality/covid_ct/quantification_benchmark.py [CHEST_CT_FOLDER]

Writes quantification_results.json next to this file (date, machine, load average, command).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return round(float(2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())), 4)


def lung_dice(folder: Path) -> list[dict]:
    from biomedai.io import read_image
    from biomedai.methods.covid_ct.case import analyse_ct

    rows = []
    for ct, ref, how in (("cip_chest/ct-64.nrrd", "cip_chest/wholeLung-64.nrrd", "value > 0"),
                         ("cip_chest/crop_ct_2slices.nrrd", "cip_chest/crop_ct_2slices_partialLungLabelMap.nrrd",
                          "CIP region (value & 255) > 0"),
                         ("totalsegmentator/example_ct_sm.nii.gz", "totalsegmentator/example_seg.nii.gz",
                          "TotalSegmentator v2 lung lobes 10-14")):
        try:
            result = analyse_ct(folder / ct)
            labels = read_image(folder / ref).array.astype(np.int64)
            reference = (labels > 0) if how == "value > 0" else ((labels & 255) > 0) if how.startswith("CIP") \
                else ((labels >= 10) & (labels <= 14))
            rows.append({"ct": ct, "reference": f"{ref} ({how})", "dice": dice(result.lungs.lung, reference)})
        except Exception as exc:  # noqa: BLE001 - a failure is a result here
            rows.append({"ct": ct, "reference": ref, "error": str(exc)})
    result = analyse_ct(folder / "lungmask_lidc_slice" / "0.dcm")
    right, left = (int((result.lungs.labels == k).sum()) for k in (1, 2))
    rows.append({"ct": "lungmask_lidc_slice/0.dcm", "reference": "lungmask R231 upstream counts / 2 slices",
                 "right_px": right, "right_ref": 32376, "left_px": left, "left_ref": 18268,
                 "right_error_pct": round(100 * (right - 32376) / 32376, 2),
                 "left_error_pct": round(100 * (left - 18268) / 18268, 2)})
    return rows


def covid_slices(folder: Path) -> dict[str, dict]:
    from biomedai.methods.covid_ct.case import analyse_ct

    out = {}
    for path in sorted((folder / "covid19_ny_sbu_axial_slices").glob("*.dcm")):
        s = analyse_ct(path).summary()
        lung = sum(b["lung_ml_in_bin"] for b in s["whole_lung_bins"].values())
        out[path.stem] = {"lung_ml": round(lung, 2), "lesion_pct": s["regions"]["whole lung"]["lesion_pct"],
                          **{f"lung share {k}": round(v["lung_ml_in_bin"] / lung, 4)
                             for k, v in s["whole_lung_bins"].items()}}
    return out


def three_d(folder: Path) -> tuple[dict, object, object]:
    from biomedai.methods.covid_ct.case import analyse_hu
    from biomedai.methods.covid_ct.config import CovidCTConfig
    from biomedai.methods.covid_ct.ct_input import load_chest_ct

    config = CovidCTConfig()
    start, cpu = time.perf_counter(), time.process_time()
    ct = load_chest_ct(folder / "itkelastix_chest_ct" / "chest_ct_phase00.nii.gz", config)
    result = analyse_hu(ct, config)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    s = result.summary()
    return ({"ct": "itkelastix_chest_ct/chest_ct_phase00.nii.gz", "shape": s["shape"], "spacing_mm": s["spacing_mm"],
             "regions": s["regions"], "whole_lung_bins": s["whole_lung_bins"], "lung_notes": s["lung_notes"],
             "seconds_wall": round(wall, 1), "seconds_cpu_process": round(cpu, 1),
             "steps_s": {k: round(v, 1) for k, v in result.timings_s.items()}, "load_average": os.getloadavg()},
            ct, result)


def phantom(ct: object, baseline: object, scenario: dict) -> dict:
    from biomedai.methods.covid_ct.case import analyse_hu
    from biomedai.methods.covid_ct.config import CovidCTConfig
    from biomedai.methods.covid_ct.ct_input import ChestCT
    from biomedai.methods.covid_ct.phantom import insert_lesions, plan_lesions, recovery_table
    from biomedai.methods.covid_ct.phantom_run import recovery_by

    config = CovidCTConfig()
    lesions = plan_lesions(baseline.lobes, baseline.lungs.lung, baseline.lesion, ct.spacing, scenario["n"],
                           scenario["lower_lobe_predominant"], scenario["peripheral_fraction"], scenario["seed"],
                           pleural=scenario.get("pleural", False))
    hu, truth = insert_lesions(ct.hu, ct.spacing, lesions, scenario["seed"])
    result = analyse_hu(ChestCT(hu, ct.spacing, ct.image.with_array(hu), ct.source, []), config)
    rows = recovery_table(lesions, truth, result.lesion, hu, ct.spacing, config.hu_edges, config.hu_bin_names)
    by_bin = []
    for name in config.hu_bin_names:
        t = sum(r[f"true_ml {name}"] for r in rows)
        if t > 0:
            rec = sum(r[f"recovered_ml {name}"] for r in rows)
            by_bin.append({"hu_bin": name, "true_ml": round(t, 3), "recovered_ml": round(rec, 3),
                           "error_pct": round(100 * (rec - t) / t, 2)})
    return {"scenario": scenario, "data": "SIMULATED lesions in the real 3-D CT", "lesions": rows,
            "by_lobe": recovery_by(rows, "lobe"), "by_kind": recovery_by(rows, "kind"),
            "by_placement": recovery_by(rows, "placement"), "by_hu_bin": by_bin}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]) if argv else REPO.parent / "shared" / "data" / "chest_ct"
    record = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": platform.node(),
              "cpu_count": os.cpu_count(), "load_average_start": os.getloadavg(),
              "command": " ".join(["python", *sys.argv])}
    record["lung_dice"] = lung_dice(folder)
    record["covid_slices"] = covid_slices(folder)
    record["ct_3d"], ct, baseline = three_d(folder)
    record["phantom"] = [phantom(ct, baseline, s) for s in (
        {"name": "lower-lobe predominant, mostly peripheral", "n": 8, "lower_lobe_predominant": True,
         "peripheral_fraction": 0.75, "seed": 0},
        {"name": "no lobe preference, central", "n": 6, "lower_lobe_predominant": False,
         "peripheral_fraction": 0.0, "seed": 1},
        {"name": "against the pleura (a known weak spot)", "n": 6, "lower_lobe_predominant": True,
         "peripheral_fraction": 1.0, "seed": 2, "pleural": True})]
    record["load_average_end"] = os.getloadavg()
    (HERE / "quantification_results.json").write_text(json.dumps(record, indent=1, default=float) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "phantom"}, indent=1, default=float)[:4000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
