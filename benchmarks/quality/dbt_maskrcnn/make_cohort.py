"""Write the SIMULATED DBT cohort the dbt_maskrcnn benchmark trains and tests on.

Usage: python benchmarks/quality/dbt_maskrcnn/make_cohort.py OUT_DIR [--train 40] [--test 30] [--seed 0]
"""
from __future__ import annotations

import argparse
import logging
import time

from biomedai.methods.dbt_maskrcnn.cohort import write_cohort
from biomedai.methods.dbt_maskrcnn.config import DbtSimConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir")
    parser.add_argument("--train", type=int, default=DbtSimConfig.n_train_breasts)
    parser.add_argument("--test", type=int, default=DbtSimConfig.n_test_breasts)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    start = time.process_time()
    manifest = write_cohort(args.out_dir, DbtSimConfig(n_train_breasts=args.train, n_test_breasts=args.test,
                                                       seed=args.seed))
    print(f"SIMULATED cohort: {manifest['n_breasts']} breasts, {manifest['n_views']} views in {args.out_dir}; "
          f"CPU {time.process_time() - start:.0f} s")


if __name__ == "__main__":
    main()
