"""Regional feature tables (ENIGMA-style FreeSurfer morphometry) as a second input type: load, z-score patients
against controls, Cohen's d against the published ENIGMA-Epilepsy effect sizes, and windows for MSAM over regions
(tokens = regions, one feature each).

20 subjects (the ENIGMA toolbox example) are far too few for a classifier benchmark: this module checks the
statistics, it does not train on them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from biomedai.errors import InvalidInputError

from .recordings import WindowSet

_SUFFIXES = ("_thickavg", "_surfavg")


def _read_csv(path: Path) -> pd.DataFrame:
    if not Path(path).is_file():
        raise InvalidInputError("feature table not found", path)
    try:
        return pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise InvalidInputError(f"cannot read CSV: {exc}", path) from exc


def load_features(table: Path, covariates: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Regional measures (rows = subjects, columns = regions; ``SubjID`` index; summary columns such as ICV and
    hemisphere means dropped; ``_thickavg``/``_surfavg`` stripped) and the covariates (``Dx``: 0 control, 1 patient)."""
    feats = _read_csv(table)
    cov = _read_csv(covariates)
    for name, df, path in (("features", feats, table), ("covariates", cov, covariates)):
        if "SubjID" not in df.columns:
            raise InvalidInputError(f"{name} table has no SubjID column", path)
    if "Dx" not in cov.columns:
        raise InvalidInputError("covariates table has no Dx column (0 = control, 1 = patient)", covariates)
    feats = feats.set_index("SubjID")
    cov = cov.set_index("SubjID")
    unknown = sorted(set(feats.index) - set(cov.index))
    if unknown:
        raise InvalidInputError(f"subjects without covariates: {unknown[:10]}", table)
    drop = [c for c in feats.columns if c in ("ICV", "LThickness", "RThickness", "LSurfArea", "RSurfArea")]
    feats = feats.drop(columns=drop)
    feats.columns = [c.removesuffix(_SUFFIXES[0]).removesuffix(_SUFFIXES[1]) for c in feats.columns]
    if feats.isna().any().any():
        raise InvalidInputError("feature table has missing values", table)
    return feats.astype(float), cov.loc[feats.index]


def zscores(feats: pd.DataFrame, is_control: pd.Series) -> pd.DataFrame:
    """Every subject's z-score per region against the controls' mean and sample SD."""
    controls = feats[is_control.to_numpy(bool)]
    if len(controls) < 2:
        raise InvalidInputError(f"{len(controls)} control(s): need at least 2 to z-score")
    return (feats - controls.mean()) / controls.std(ddof=1)


def cohens_d(feats: pd.DataFrame, is_patient: pd.Series, is_control: pd.Series) -> pd.Series:
    """Cohen's d (patients - controls, pooled sample SD) per region; not corrected for age, sex or ICV."""
    p, c = feats[is_patient.to_numpy(bool)], feats[is_control.to_numpy(bool)]
    n1, n2 = len(p), len(c)
    if n1 < 2 or n2 < 2:
        raise InvalidInputError(f"{n1} patients and {n2} controls: need at least 2 of each")
    pooled = np.sqrt(((n1 - 1) * p.var(ddof=1) + (n2 - 1) * c.var(ddof=1)) / (n1 + n2 - 2))
    return (p.mean() - c.mean()) / pooled


def load_published(path: Path) -> pd.Series:
    """Published ENIGMA-Epilepsy ``d_icv`` per ``Structure`` (either first-column spelling)."""
    df = _read_csv(path)
    if not {"Structure", "d_icv"} <= set(df.columns):
        raise InvalidInputError("summary table lacks Structure/d_icv", path)
    return df.set_index("Structure")["d_icv"].astype(float)


def compare_effects(ours: pd.Series, published: pd.Series) -> dict[str, float]:
    """Matched on names: regions, Pearson r, Spearman rho, sign agreement, and our/published mean d."""
    common = [r for r in published.index if r in ours.index]
    if len(common) < 3:
        raise InvalidInputError(f"only {len(common)} regions in common with the published table")
    a, b = ours[common].to_numpy(float), published[common].to_numpy(float)
    return {"regions": len(common), "pearson_r": float(np.corrcoef(a, b)[0, 1]),
            "spearman_rho": float(pd.Series(a).rank().corr(pd.Series(b).rank())),
            "sign_agreement": float(np.mean(np.sign(a) == np.sign(b))),
            "mean_d_ours": float(a.mean()), "mean_d_published": float(b.mean())}


def region_windows(feats: pd.DataFrame, labels: pd.Series) -> WindowSet:
    """MSAM input over regions: ``x`` (subjects, regions, 1) z-scored per region, one 'window' per subject."""
    x = ((feats - feats.mean()) / feats.std(ddof=1).replace(0, 1)).to_numpy(np.float32)[:, :, None]
    return WindowSet(x, labels.to_numpy(int), feats.index.to_numpy(str), list(feats.columns), float("nan"))
