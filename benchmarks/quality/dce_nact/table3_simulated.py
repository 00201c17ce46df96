"""Table 3 of Fan et al. on a SIMULATED longitudinal cohort (61 development + 53 test patients, as the paper's
split; ``biomedai.methods.dce_nact.synthetic``): simulate -> image steps per patient (SFCM in the seed box,
B-spline registration, Jacobian, radiomics) -> deltaRAD -> the six model sets (SVM-RFE + RBF-SVM, 10-fold CV
grid search on development only) -> test AUC with DeLong CI, Youden point, sens/spec/PPV/NPV, DeLong p against
Feature + MS; univariate comparisons and the cohort table.

Run: ``PYTHONPATH=src python benchmarks/quality/dce_nact/table3_simulated.py [WORK_DIR] [--stage images|analysis|all]``
(default WORK_DIR /tmp/dce_nact_table3; resumable). Settings for the simulated volumes (2 mm, no bias field):
no N4, no resampling, SFCM in the seed box (the simulated true masks are not used), registration: mean squares, 30 iterations, one level at half resolution
(the 2-core machine is shared; the B-spline and its Jacobian still live on the full grid). Writes
``WORK_DIR/analysis/table3.csv`` and prints it; the results are copied by hand into RESULTS-dce_nact.md.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from biomedai.methods.dce_nact.config import DceNactConfig

CONFIG = DceNactConfig(n4=False, resample_spacing_mm=None, segmentation="sfcm", registration_metric="ms", registration_iterations=30,
                       registration_levels=(2,), registration_sampling=0.3)


def main(argv: list[str]) -> int:
    import SimpleITK as sitk

    from biomedai.methods.dce_nact.cohort import process_cohort
    from biomedai.methods.dce_nact.synthetic import simulate_cohort

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)
    work = Path(argv[0]) if argv and not argv[0].startswith("--") else Path("/tmp/dce_nact_table3")
    stage = argv[argv.index("--stage") + 1] if "--stage" in argv else "all"
    data = work / "cohort"
    start = time.perf_counter()
    if stage in ("images", "all"):
        if not (data / "clinical.csv").is_file():
            simulate_cohort(data, 61, 53, seed=2021)
        process_cohort(data, work / "images", CONFIG)
        print(f"image steps done in {time.perf_counter() - start:.0f} s (load average {os.getloadavg()[0]:.1f})")
    if stage in ("analysis", "all"):
        from biomedai.methods.dce_nact.analysis import run_analysis

        result = run_analysis(data / "clinical.csv", work / "images", work / "analysis", CONFIG,
                              data_note="SIMULATED cohort (dce_nact.synthetic, seed 2021)")
        for row in result["table3"]:
            print(row)
        print(f"total {time.perf_counter() - start:.0f} s (load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
