"""The paper's pipeline as steps over one output folder (spec 2.3 and 2.6).

Each step reads what earlier steps left in the output folder and writes its own files, so that every step can
run alone from the command line (``biomedai tool crc_radiomics_nomogram <step> DATA -o OUT``) or all at once
(``run``). The state between steps is ``features.csv`` (raw features), ``preprocessing.json`` and
``model.json`` (the frozen model, completed step by step).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError, WeightsError
from biomedai.stats import survival as sv
from biomedai.utils import read_csv_rows, write_json_atomic

from . import report
from .clinical import TNM_LABELS, Cohort, read_clinical_csv
from .config import CrcNomogramConfig
from .model import NomogramCox, RadiomicsNomogramModel, paper_preset

logger = logging.getLogger(__name__)

COHORTS = ("primary", "validation")
VARIABLE_LABELS = {"radscore_group": "Rad-score (high vs low)", "radscore": "Rad-score", "sex": "Sex (M vs F)",
                   "age": "Age (years)", "cea": "CEA (high vs low)", "grade": "Differentiation grade",
                   "tnm": "TNM stage", "ln": "Lymph-node metastasis"}


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    from biomedai.utils import write_csv_atomic

    return write_csv_atomic(path, rows, float_format=".6g")


def single_thread_blas():
    """The matrices here are small: one BLAS thread avoids oversubscribing shared cores (10-30x faster)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def radiomics_params(config: CrcNomogramConfig) -> dict[str, Any]:
    """PyRadiomics settings of spec 2.3 step 2: original image, all 3-D classes, binWidth, no resampling."""
    return {"setting": {"binWidth": config.bin_width, "label": config.label},
            "imageType": {"Original": {}},
            "featureClass": {c: None for c in ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")}}


@dataclass
class NomogramStudy:
    """One analysis: the cohort in ``data`` (folder with clinical.csv, or the CSV), outputs in ``out``."""

    data: Path
    out: Path
    config: CrcNomogramConfig = field(default_factory=CrcNomogramConfig)
    preset: str | None = None  # "cai2020": score with the paper's formula instead of a fitted model
    files: list[Path] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data, self.out = Path(self.data), Path(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        if self.preset not in (None, "cai2020"):
            raise InvalidInputError(f"unknown preset {self.preset!r} (known: cai2020)")

    def _file(self, path: Path) -> Path:
        self.files.append(path)
        return path

    # ------------------------------------------------------------------------------------------ inputs
    @cached_property
    def cohort(self) -> Cohort:
        return read_clinical_csv(self.data)

    def extract(self) -> Path:
        """Step 2: 107 PyRadiomics 'original' features per patient (our radiomics engine) -> features.csv."""
        import yaml

        from biomedai.radiomics import extract
        from biomedai.utils import progress, write_text_atomic

        cohort = read_clinical_csv(self.data, require_images=True)
        params = radiomics_params(self.config)
        write_text_atomic(self.out / "radiomics_params.yaml", yaml.safe_dump(params))
        self._file(self.out / "radiomics_params.yaml")
        rows = []
        for pid in progress(cohort.ids, desc="radiomics"):
            try:
                feats = extract(cohort.images[pid], cohort.masks[pid], params)
            except InvalidInputError as exc:
                raise InvalidInputError(f"line {cohort.rows[pid]} (id {pid!r}): {exc}", cohort.path) from exc
            rows.append({"id": pid, **{k: float(v) for k, v in feats.items() if k.startswith("original_")}})
        self.metrics["n_features_extracted"] = len(rows[0]) - 1
        return self._file(_write_csv(self.out / "features.csv", rows))

    def has_features(self) -> bool:
        """A features.csv in the output folder or beside the clinical CSV."""
        return (self.out / "features.csv").is_file() or \
            ((self.data if self.data.is_dir() else self.data.parent) / "features.csv").is_file()

    @cached_property
    def raw_features(self) -> tuple[list[str], np.ndarray]:
        """``(names, matrix)`` with rows in the cohort's id order; every id must have a row."""
        cohort = self.cohort  # check the clinical CSV first: its errors name the bad line
        path = self.out / "features.csv"
        if not path.is_file():
            alt = (self.data if self.data.is_dir() else self.data.parent) / "features.csv"
            if not alt.is_file():
                raise InvalidInputError("no features.csv: run the 'extract' step first", self.out)
            path = alt
        rows = read_csv_rows(path, required=["id"])
        names = [c for c in (rows[0] if rows else {}) if c not in ("id", None)]
        table = {row["id"]: row for row in rows}
        missing = [pid for pid in self.cohort.ids if pid not in table]
        if missing:
            pid = missing[0]
            raise InvalidInputError(f"line {self.cohort.rows[pid]} of {self.cohort.path.name}: id {pid!r} has no "
                                    f"features ({len(missing)} ids missing)", path)
        try:
            X = np.array([[float(table[pid][c]) for c in names] for pid in self.cohort.ids])
        except ValueError as exc:
            raise InvalidInputError(f"non-numeric feature value ({exc})", path) from None
        return names, X

    # ------------------------------------------------------------------------------------------ steps 3-4
    def preprocess(self) -> Path:
        """Z-score (primary-fitted or per cohort) and the '80 % higher signal' filter -> features_z.csv."""
        names, X = self.raw_features
        prim = self.cohort.select("primary")
        finite = np.all(np.isfinite(X[prim]), axis=0) & (X[prim].std(axis=0) > 0)
        cfg = self.config
        k = int(np.floor(cfg.filter_fraction * len(names)))
        if cfg.filter_criterion == "mean_abs":
            rank = np.where(finite, np.abs(X[prim].mean(axis=0)), -np.inf)
        elif cfg.filter_criterion == "variance":
            rank = np.where(finite, X[prim].var(axis=0), -np.inf)
        else:
            rank, k = np.where(finite, 0.0, -np.inf), int(finite.sum())
        keep = np.sort(np.argsort(-rank, kind="stable")[: min(k, int(finite.sum()))])
        kept = [names[j] for j in keep]
        mean, sd = X[prim][:, keep].mean(axis=0), X[prim][:, keep].std(axis=0, ddof=1)
        state = {"kept": kept, "mean": mean.tolist(), "sd": sd.tolist(), "zscore": cfg.zscore,
                 "criterion": cfg.filter_criterion, "fraction": cfg.filter_fraction, "n_features_in": len(names)}
        write_json_atomic(self.out / "preprocessing.json", state)
        Z = self._zscore(X[:, keep], mean, sd)
        rows = [{"id": pid, "cohort": c, **dict(zip(kept, z))} for pid, c, z in zip(self.cohort.ids,
                                                                                  self.cohort.cohort, Z)]
        self.metrics["n_features_kept"] = len(kept)
        self.__dict__.pop("zscored", None)
        self._file(self.out / "preprocessing.json")
        return self._file(_write_csv(self.out / "features_z.csv", rows))

    def _zscore(self, X: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
        sd = np.where(sd > 0, sd, 1.0)
        if self.config.zscore == "primary":
            return (X - mean) / sd
        Z = np.empty_like(X)
        for c in COHORTS:
            sel = self.cohort.select(c)
            if sel.any():
                m, s = X[sel].mean(axis=0), X[sel].std(axis=0, ddof=1)
                Z[sel] = (X[sel] - m) / np.where(s > 0, s, 1.0)
        return Z

    @cached_property
    def zscored(self) -> tuple[list[str], np.ndarray, dict[str, Any]]:
        path = self.out / "preprocessing.json"
        if not path.is_file():
            self.preprocess()
        state = json.loads(path.read_text(encoding="utf-8"))
        names, X = self.raw_features
        idx = [names.index(n) for n in state["kept"]]
        return state["kept"], self._zscore(X[:, idx], np.asarray(state["mean"]), np.asarray(state["sd"])), state

    # ------------------------------------------------------------------------------------------ step 5
    def select(self) -> Path:
        """LASSO-Cox with 10-fold CV on the primary cohort -> coefficients, path and CV plots, model.json."""
        from biomedai.stats.penalised_cox import cv_penalised_cox

        names, Z, state = self.zscored
        prim = self.cohort.select("primary")
        cfg = self.config
        cv = cv_penalised_cox(Z[prim], self.cohort.time[prim], self.cohort.event[prim], alpha=cfg.alpha,
                              n_folds=cfg.n_folds, seed=cfg.seed, n_lambda=cfg.n_lambda,
                              lambda_min_ratio=cfg.lambda_min_ratio, feature_names=names)
        coefs = cv.coefficients(cfg.lambda_rule)
        if not coefs:
            raise InvalidInputError(f"LASSO-Cox selected no feature at lambda.{cfg.lambda_rule} "
                                    "(no radiomic signal in the primary cohort?)", self.data)
        chosen = cv.lambda_min if cfg.lambda_rule == "min" else cv.lambda_1se
        for p in report.plot_lasso(cv, chosen, self.out / "lasso_path.png", self.out / "lasso_cv.png"):
            self._file(p)
        idx = [names.index(n) for n in coefs]
        zmean = [state["mean"][i] for i in idx] if cfg.zscore == "primary" else None
        zsd = [state["sd"][i] for i in idx] if cfg.zscore == "primary" else None
        model = RadiomicsNomogramModel(list(coefs), list(coefs.values()), float("nan"), zmean, zsd,
                                       radscore_mode=cfg.nomogram_radscore, time_unit=cfg.time_unit,
                                       notes={"lambda_min": cv.lambda_min, "lambda_1se": cv.lambda_1se,
                                              "lambda_rule": cfg.lambda_rule, "n_folds": cfg.n_folds,
                                              "seed": cfg.seed, "zscore": cfg.zscore})
        model.save(self.out / "model.json")
        self._file(self.out / "model.json")
        self.__dict__.pop("model", None)
        rows = [{"feature": n, "coefficient": c} for n, c in coefs.items()]
        self.metrics.update({"lambda_min": cv.lambda_min, "lambda_1se": cv.lambda_1se, "n_selected": len(coefs),
                             "selected_features": coefs})
        return self._file(_write_csv(self.out / "lasso_coefficients.csv", rows))

    @cached_property
    def model(self) -> RadiomicsNomogramModel:
        if self.preset == "cai2020":
            return paper_preset()
        path = self.out / "model.json"
        if not path.is_file():
            self.select()
        return RadiomicsNomogramModel.load(path)

    # ------------------------------------------------------------------------------------------ steps 6-7
    @cached_property
    def scores(self) -> np.ndarray:
        """Rad-score of every patient (z-scored as the model says; per cohort when it saved no parameters)."""
        names, X = self.raw_features
        missing = [f for f in self.model.features if f not in names]
        if missing:
            raise InvalidInputError(f"features.csv lacks the model's feature(s) {missing}", self.out)
        raw = X[:, [names.index(f) for f in self.model.features]]
        if self.model.zscore_mean is not None:
            return self.model.rad_score(raw)
        score = np.empty(self.cohort.n)
        for c in COHORTS:
            sel = self.cohort.select(c)
            if sel.any():
                score[sel] = self.model.rad_score(raw[sel], where=f"{c} cohort")
        return score

    def score(self) -> Path:
        """Step 6: Rad-score per patient (and the group when a cut-off is known) -> radscore.csv."""
        groups = (self.model.risk_group(self.scores) if np.isfinite(self.model.cutoff)
                  else np.full(self.cohort.n, -1))
        rows = [{"id": pid, "cohort": c, "radscore": float(s),
                 "group": {1: "high", 0: "low"}.get(int(g), "")}
                for pid, c, s, g in zip(self.cohort.ids, self.cohort.cohort, self.scores, groups)]
        return self._file(_write_csv(self.out / "radscore.csv", rows))

    def cutoff(self) -> Path:
        """Step 7: time-dependent ROC (KM method) at the horizon in the primary cohort; Youden cut-off."""
        prim = self.cohort.select("primary")
        cfg = self.config
        roc = sv.time_dependent_roc(self.scores[prim], self.cohort.time[prim], self.cohort.event[prim],
                                    cfg.cutoff_horizon)
        cut, j, tpr, fpr = sv.youden_cutoff(roc)
        model = self.model
        if cfg.fixed_cutoff is not None:
            cut, rule = cfg.fixed_cutoff, "fixed (config)"
        elif self.preset == "cai2020":
            cut, rule = model.cutoff, "the paper's -0.077"
        else:
            rule = f"Youden J max of the KM time-dependent ROC at {cfg.cutoff_horizon:g} {cfg.time_unit}"
        model.cutoff = float(cut)
        model.notes["cutoff_rule"] = rule
        if self.preset is None:
            model.save(self.out / "model.json")
        self._file(report.plot_roc({"Rad-score": roc}, self.out / "roc_cutoff.png",
                                   f"primary cohort, {cfg.cutoff_horizon:g}-{cfg.time_unit} ROC",
                                   {f"Youden cut-off {cut:.3f}": (fpr, tpr)}))
        self.metrics.update({"cutoff": float(cut), "cutoff_rule": rule, "radscore_auc_primary_cutoff_horizon":
                             roc.auc, "youden_j": j,
                             "n_high_risk_primary": int((self.scores[prim] > cut).sum()), "n_primary": int(prim.sum())})
        write_json_atomic(self.out / "cutoff.json", {"cutoff": float(cut), "rule": rule, "auc": roc.auc, "youden_j": j,
                                                     "tpr": tpr, "fpr": fpr, "horizon": cfg.cutoff_horizon})
        self._file(self.out / "cutoff.json")
        return self.score()

    @property
    def groups(self) -> np.ndarray:
        if not np.isfinite(self.model.cutoff):
            self.cutoff()
        return self.model.risk_group(self.scores)

    # ------------------------------------------------------------------------------------------ step 8
    def survival(self) -> Path:
        """KM per Rad-score group and cohort with log-rank P and the univariable HR (Fig. 2 analogue)."""
        cfg, out = self.config, {}
        groups = self.groups
        for c in COHORTS:
            sel = self.cohort.select(c)
            if sel.sum() < 4:
                continue
            t, e, g = self.cohort.time[sel], self.cohort.event[sel], groups[sel]
            self._file(report.plot_waterfall(self.scores[sel], e, self.model.cutoff, self.out / f"waterfall_{c}.png",
                                             f"{c} cohort"))
            if len(set(g.tolist())) < 2:
                out[c] = {"note": "all patients in one risk group"}
                continue
            lr = sv.log_rank_test(t, e, g)
            hr = sv.cox_regression(t, e, {"radscore_group": g}).rows[0]
            curves = {"low risk": sv.kaplan_meier(t[g == 0], e[g == 0]),
                      "high risk": sv.kaplan_meier(t[g == 1], e[g == 1])}
            ticks = np.linspace(0, np.ceil(t.max() / 12) * 12, 6).round()
            at_risk = {k: sv.numbers_at_risk(t[g == (k == "high risk")], ticks) for k in curves}
            note = f"HR {hr.formatted()}\nlog-rank P = {lr.p_value:.2g}"
            self._file(report.plot_km(curves, ticks, at_risk, self.out / f"km_{c}.png", f"{c} cohort: DFS by Rad-score",
                                      note, cfg.time_unit))
            out[c] = {"n_low": int((g == 0).sum()), "n_high": int((g == 1).sum()), "logrank_chi2": lr.statistic,
                      "logrank_p": lr.p_value, "hr": hr.hr, "hr_low": hr.low, "hr_high": hr.high, "hr_p": hr.p,
                      **{f"dfs_{h:g}_{k.split()[0]}": float(km.at(h)[0]) for h in cfg.horizons
                         for k, km in curves.items()}}
            self.metrics.update({f"km_hr_{c}": hr.hr, f"logrank_p_{c}": lr.p_value})
        write_json_atomic(self.out / "survival.json", out)
        return self._file(self.out / "survival.json")

    def _variables(self, sel: np.ndarray) -> dict[str, np.ndarray]:
        variables = {"radscore_group": self.groups[sel].astype(float)}
        for v in self.config.clinical_variables:
            if v in self.cohort.clinical:
                variables[v] = self.cohort.clinical[v][sel]
        return variables

    def cox(self) -> Path:
        """Univariable and multivariable Cox per cohort, in the layout of the paper's Table 2."""
        rows = []
        for c in COHORTS:
            sel = self.cohort.select(c)
            if sel.sum() < 10:
                continue
            table = sv.cox_table(self.cohort.time[sel], self.cohort.event[sel], self._variables(sel),
                                 multivariable=self.config.multivariable)
            for r in table:
                rows.append({"cohort": c, "variable": VARIABLE_LABELS.get(r["variable"], r["variable"]),
                             "univariable HR (95% CI)": f"{r['uni_hr']:.2f} ({r['uni_low']:.2f}-{r['uni_high']:.2f})",
                             "univariable P": r["uni_p"], "n": r["uni_n"],
                             "multivariable HR (95% CI)": "-" if r["multi_hr"] is None else
                             f"{r['multi_hr']:.2f} ({r['multi_low']:.2f}-{r['multi_high']:.2f})",
                             "multivariable P": "-" if r["multi_p"] is None else r["multi_p"]})
        return self._file(_write_csv(self.out / "cox_table.csv", rows))

    def baseline(self) -> Path:
        """Table 1: clinical variables by Rad-score group per cohort, chi-square (Yates on 2x2) / t-test."""
        from biomedai.stats.baseline_tests import chi_square_test, format_p, t_test

        rows = []
        groups = np.where(self.groups == 1, "high", "low")
        for c in COHORTS:
            sel = self.cohort.select(c)
            if sel.sum() < 4 or len(set(groups[sel].tolist())) < 2:
                continue
            for v, values in self.cohort.clinical.items():
                x, g = values[sel], groups[sel]
                ok = np.isfinite(x)
                try:
                    res = (t_test(x[ok], g[ok]) if v == "age" else
                           chi_square_test(x[ok].astype(int).astype(str), g[ok]))
                except InvalidInputError as exc:
                    rows.append({"cohort": c, "variable": v, "note": str(exc)})
                    continue
                if v == "age":
                    desc = {k: f"{x[ok & (g == k)].mean():.1f} ({x[ok & (g == k)].std(ddof=1):.1f})"
                            for k in ("low", "high")}
                else:
                    desc = {k: "; ".join(f"{int(lv)}: {int(np.sum(ok & (g == k) & (x == lv)))}"
                                         for lv in np.unique(x[ok])) for k in ("low", "high")}
                rows.append({"cohort": c, "variable": v, "low risk": desc["low"], "high risk": desc["high"],
                             "test": res.test, "P": format_p(res.p_value), "n used": res.n_used,
                             "n missing": int((~ok).sum())})
        return self._file(_write_csv(self.out / "baseline_table.csv", rows))

    # ------------------------------------------------------------------------------------------ step 9
    def _nomogram_matrix(self, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cols = [self.scores[sel] if self.config.nomogram_radscore == "continuous" else self.groups[sel]]
        for v in self.config.nomogram_clinical:
            if v not in self.cohort.clinical:
                raise InvalidInputError(f"the nomogram needs clinical column {v!r}", self.cohort.path)
            cols.append(self.cohort.clinical[v][sel])
        X = np.column_stack(cols).astype(float)
        return X, np.all(np.isfinite(X), axis=1)

    def _fit_cox(self, X: np.ndarray, t: np.ndarray, e: np.ndarray) -> sv.CoxModel:
        names = ["radscore", *self.config.nomogram_clinical]
        return sv.cox_regression(t, e, {n: X[:, j] for j, n in enumerate(names)})

    def nomogram(self) -> Path:
        """Fit Cox(Rad-score + TNM) on the primary cohort, save it in model.json, draw the nomogram."""
        from biomedai.stats.nomogram import NomogramPredictor, build_nomogram, draw_nomogram

        if self.preset is not None:
            raise WeightsError("the paper preset publishes no nomogram coefficients; run without --preset")
        prim = self.cohort.select("primary")
        X, ok = self._nomogram_matrix(prim)
        fit = self._fit_cox(X[ok], self.cohort.time[prim][ok], self.cohort.event[prim][ok])
        names = fit.covariates
        ranges = {n: [float(X[ok][:, j].min()), float(X[ok][:, j].max())] for j, n in enumerate(names)}
        model = self.model
        model.cox = NomogramCox(names, fit.coef.tolist(), fit.means.tolist(), fit.baseline_times.tolist(),
                                fit.baseline_survival.tolist(), ranges)
        model.save(self.out / "model.json")
        predictors = []
        for j, n in enumerate(names):
            lo, hi = ranges[n]
            if n == "tnm":
                predictors.append(NomogramPredictor("TNM stage", fit.coef[j], 1, 4, [1, 2, 3, 4], list(TNM_LABELS)))
            elif n == "radscore" and self.config.nomogram_radscore == "binary":
                predictors.append(NomogramPredictor("Rad-score group", fit.coef[j], 0, 1, [0, 1], ["low", "high"]))
            else:
                predictors.append(NomogramPredictor(VARIABLE_LABELS.get(n, n), fit.coef[j], lo, hi))
        # baseline at lp = 0 for uncentred covariates: S0c ** exp(-coef . means)
        shift = float(np.dot(fit.coef, fit.means))
        base = {h: model.cox.baseline_at(h) ** np.exp(-shift) for h in self.config.horizons}
        labels = {h: f"{h / 12:g}-year DFS" if self.config.time_unit == "months" else f"DFS at {h:g}"
                  for h in self.config.horizons}
        nom = build_nomogram(predictors, base, labels)
        self._file(draw_nomogram(nom, self.out / "nomogram.png", title="Radiomics nomogram (primary cohort fit)"))
        rows = []
        for j, pid in enumerate(self.cohort.ids):
            Xj, okj = self._nomogram_matrix(np.arange(self.cohort.n) == j)
            if not okj[0]:
                continue
            total = float(sum(nom.points(p.name, Xj[0, k]) for k, p in enumerate(predictors)))
            rows.append({"id": pid, "cohort": self.cohort.cohort[j], "total_points": total,
                         **{f"predicted_dfs_{h:g}": float(model.cox.survival_at(Xj, h)[0]) for h in self.config.horizons}})
        self.metrics["nomogram"] = {r.variable: {"hr": r.hr, "low": r.low, "high": r.high, "p": r.p} for r in fit.rows}
        self.__dict__.pop("model", None)
        return self._file(_write_csv(self.out / "nomogram_points.csv", rows))

    def _nomogram_model(self) -> NomogramCox:
        if self.model.cox is None:
            self.nomogram()
        return self.model.cox

    # ------------------------------------------------------------------------------------------ steps 10-11
    def calibrate(self) -> Path:
        """Calibration at each horizon: bootstrap-corrected in the primary cohort, external in validation."""
        from biomedai.stats.penalised_cox import penalised_cox_path

        cfg = self.config
        cox = self._nomogram_model()
        rows = []
        prim = self.cohort.select("primary")
        Xp, okp = self._nomogram_matrix(prim)
        tp, ep = self.cohort.time[prim][okp], self.cohort.event[prim][okp]
        Xp = Xp[okp]
        group = cfg.calibration_group_size or None
        for h in cfg.horizons:
            curves = {}

            def fit_predict(train_idx: np.ndarray, eval_idx: np.ndarray, h: float = h) -> tuple[np.ndarray, np.ndarray]:
                # unpenalised Cox refit (Newton, Breslow ties) + Breslow baseline: fast enough for B = 1000
                coef = penalised_cox_path(Xp[train_idx], tp[train_idx], ep[train_idx], lambdas=[0.0]).coef[0]
                lp_train = Xp[train_idx] @ coef
                s0 = sv.breslow_survival_at(lp_train, tp[train_idx], ep[train_idx], h)
                return s0 ** np.exp(lp_train), s0 ** np.exp(Xp[eval_idx] @ coef)

            curves["primary"] = sv.bootstrap_calibration(fit_predict, tp, ep, h, group_size=group,
                                                         n_boot=cfg.calibration_boot, seed=cfg.seed)
            val = self.cohort.select("validation")
            if val.sum() >= 8:
                Xv, okv = self._nomogram_matrix(val)
                curves["validation"] = sv.calibration_at(cox.survival_at(Xv[okv], h), self.cohort.time[val][okv],
                                                         self.cohort.event[val][okv], h, group_size=group)
            label = f"{h / 12:g}-year" if cfg.time_unit == "months" else f"t = {h:g}"
            self._file(report.plot_calibration(curves, self.out / f"calibration_{h:g}.png", f"calibration, {label} DFS"))
            for c, cal in curves.items():
                rows += [{"cohort": c, "horizon": h, **r} for r in cal.rows()]
        return self._file(_write_csv(self.out / "calibration.csv", rows))

    def evaluate(self) -> Path:
        """C-index (95% bootstrap CI) and time-dependent AUC per cohort: nomogram vs TNM alone vs Rad-score."""
        from biomedai.metrics import concordance_index_ci

        cfg = self.config
        results: dict[str, Any] = {}
        cox = None if self.preset else self._nomogram_model()
        for c in COHORTS:
            sel = self.cohort.select(c)
            if sel.sum() < 8:
                continue
            t, e = self.cohort.time[sel], self.cohort.event[sel]
            markers = {"Rad-score": self.scores[sel]}
            if cox is not None:
                X, ok = self._nomogram_matrix(sel)
                lp = np.full(sel.sum(), np.nan)
                lp[ok] = cox.linear_predictor(X[ok])
                markers["nomogram"] = lp
            if "tnm" in self.cohort.clinical:
                markers["TNM stage"] = self.cohort.clinical["tnm"][sel]
            res: dict[str, Any] = {}
            rocs = {}
            for name, m in markers.items():
                ok = np.isfinite(m)
                ci = concordance_index_ci(t[ok], m[ok], e[ok], predicted_is_risk=True, n_resamples=cfg.cindex_boot,
                                          seed=cfg.seed)
                res[name] = {"c_index": ci.estimate, "c_low": ci.low, "c_high": ci.high, "n": int(ok.sum())}
                for h in cfg.horizons:
                    try:
                        roc = sv.time_dependent_roc(m[ok], t[ok], e[ok], h)
                    except InvalidInputError as exc:
                        res[name][f"auc_{h:g}"] = None
                        logger.info("%s cohort, %s: no AUC at %g (%s)", c, name, h, exc)
                        continue
                    res[name][f"auc_{h:g}"] = roc.auc
                    if h == max(cfg.horizons):
                        rocs[name] = roc
            if rocs:
                self._file(report.plot_roc(rocs, self.out / f"td_roc_{c}.png",
                                           f"{c} cohort, {max(cfg.horizons):g}-{cfg.time_unit} DFS"))
            results[c] = res
            for name, r in res.items():
                key = name.lower().replace(" ", "_").replace("-", "")
                self.metrics[f"cindex_{key}_{c}"] = r["c_index"]
                hmax = f"auc_{max(cfg.horizons):g}"
                if r.get(hmax) is not None:
                    self.metrics[f"{hmax}_{key}_{c}"] = r[hmax]
        write_json_atomic(self.out / "evaluation.json", results)
        return self._file(self.out / "evaluation.json")

    # ------------------------------------------------------------------------------------------ step 12
    def radiogenomics(self, scores_csv: Path | None = None, alpha: float = 0.05) -> Path:
        """Pearson r between the model's features and per-sample pathway scores (e.g. DeepCC hallmark
        enrichment, computed outside: ``id`` + one column per hallmark); heatmap of the hallmarks significant
        with at least one feature, starred at P < alpha, no multiple-testing correction (as the paper)."""
        from scipy.stats import pearsonr

        path = Path(scores_csv) if scores_csv else (self.data if self.data.is_dir() else self.data.parent) / \
            "hallmark_scores.csv"
        if not path.is_file():
            raise InvalidInputError("hallmark score CSV not found (give --scores FILE: id + one column per "
                                    "hallmark)", path)
        rows = read_csv_rows(path, required=["id"])
        hallmarks = [c for c in (rows[0] if rows else {}) if c not in ("id", None)]
        table = {row["id"]: row for row in rows}
        if not hallmarks:
            raise InvalidInputError("needs at least one score column besides 'id' (and rows)", path)
        names, X = self.raw_features
        ids = [pid for pid in self.cohort.ids if pid in table]
        if len(ids) < 4:
            raise InvalidInputError(f"only {len(ids)} ids match the cohort; need >= 4", path)
        rows_idx = [self.cohort.ids.index(pid) for pid in ids]
        feats = self.model.features
        F = X[rows_idx][:, [names.index(f) for f in feats]]
        try:
            H = np.array([[float(table[pid][h]) for h in hallmarks] for pid in ids])
        except ValueError as exc:
            raise InvalidInputError(f"non-numeric score ({exc})", path) from None
        r = np.zeros((len(hallmarks), len(feats)))
        p = np.ones_like(r)
        for i in range(len(hallmarks)):
            for j in range(len(feats)):
                if np.ptp(H[:, i]) > 0 and np.ptp(F[:, j]) > 0:
                    res = pearsonr(H[:, i], F[:, j])
                    r[i, j], p[i, j] = res.statistic, res.pvalue
        shown = np.flatnonzero((p < alpha).any(axis=1))
        self._file(report.plot_correlation_heatmap(r[shown], p[shown] < alpha, [hallmarks[i] for i in shown], feats,
                                                   self.out / "radiogenomics.png", len(ids)))
        self.metrics["radiogenomics_significant_hallmarks"] = [hallmarks[i] for i in shown]
        rows = [{"hallmark": h, "feature": f, "pearson_r": float(r[i, j]), "p": float(p[i, j]), "n": len(ids)}
                for i, h in enumerate(hallmarks) for j, f in enumerate(feats)]
        return self._file(_write_csv(self.out / "radiogenomics.csv", rows))

    # ------------------------------------------------------------------------------------------ all
    def run(self, extract: bool = True) -> list[Path]:
        """Every step in order (extraction skipped when ``extract`` is False and features.csv exists)."""
        with single_thread_blas():
            return self._run(extract)

    def _run(self, extract: bool) -> list[Path]:
        if extract or not self.has_features():
            self.extract()
        if self.preset is None:
            self.preprocess()
            self.select()
        self.cutoff()
        self.survival()
        self.cox()
        self.baseline()
        if self.preset is None:
            self.nomogram()
            self.calibrate()
        self.evaluate()
        if ((self.data if self.data.is_dir() else self.data.parent) / "hallmark_scores.csv").is_file():
            self.radiogenomics()
        return self.files
