"""MSAM (Gu et al.): CPS vs SPS from MEG windows with multi-head self-attention; the registered Method."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from biomedai.errors import InvalidInputError, WeightsError
from biomedai.methods.base import Method, RunResult
from biomedai.methods.registry import register
from biomedai.provenance import RunRecorder
from biomedai.utils import lazy_import, write_csv_atomic

from .config import MsamConfig
from .evaluation import Counts, auc, paper_metrics, subject_vote
from .recordings import WindowSet, prepare_cohort, sensor_info, timed_windows_from_file, zscore_windows
from .report import plot_attention, plot_attention_over_time, table_rows, write_table
from .simulate import SIMULATOR_VERSION, SimulationConfig, simulate_cohort
from .splits import inner_validation

experiment = lazy_import(".experiment", __package__)  # torch + sklearn: imported on first use

logger = logging.getLogger(__name__)

HINT = ("no MSAM weights: train them with `biomedai train msam_meg DATA -o OUT` and pass --weights OUT/model "
        "(there is no bundled model: no real MEG cohort can be had here)")


def _strip(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in ("probabilities", "attention")}


@register
class MsamMeg(Method):
    name = "msam_meg"
    title = "MSAM: temporal-lobe epilepsy subtype (CPS vs SPS) from MEG with multi-head self-attention"
    modality = "MEG (MEGIN/Elekta FIF, CTF .ds, EDF, pre-cut .npy/.npz windows)"
    task = "binary classification of recordings / subjects (CPS = positive)"
    paper = "Gu et al., multi-head self-attention model for TLE subtype classification from MEG"
    config_class = MsamConfig
    input_kinds = ("signal/fif", "signal/ctf", "signal/edf", "signal/npy")
    tools_module = "tools"

    # ------------------------------------------------------------------ actions
    def _windows(self, data: Path, out: Path) -> WindowSet:
        return prepare_cohort(Path(data), self.config, cache_dir=out / "cache")

    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """Fit MSAM on every subject of ``data/labels.csv``; a subject-wise validation split picks the epoch."""
        from biomedai.train.model_folder import ModelInfo, save_model_folder

        cfg, out = self.config, Path(output_dir)
        rec = RunRecorder(out, self.name, "train", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs([data])
        with rec.timer("prepare"):
            ws = self._windows(data, out)
        fit_idx, val_idx = inner_validation(ws.y, ws.subjects, seed=cfg.seed)
        with rec.timer("train"):
            model = experiment.fit_network("msam", ws.subset(fit_idx), ws.subset(val_idx), cfg, out / "run")
        p, _ = experiment.predict_network(model, ws.x[val_idx])
        val = paper_metrics(Counts.from_labels(ws.y[val_idx], (p >= 0.5).astype(int)))
        simulated = (Path(data) / "SIMULATED.txt").is_file()
        info = ModelInfo(method=self.name, name="trained",
                         architecture={"n_channels": ws.x.shape[1], "n_samples": ws.x.shape[2], "heads": cfg.heads,
                                       "variant": cfg.variant, "token_axis": cfg.token_axis,
                                       "time_patch": cfg.time_patch, "residual": cfg.residual},
                         preprocessing={k: getattr(cfg, k) for k in ("l_freq", "h_freq", "notch", "sfreq",
                                                                       "window_s", "overlap", "zscore")}
                         | {"ch_names": ws.ch_names},
                         class_names=["SPS", "CPS"],
                         training_data={"name": str(data), "subjects": len(set(ws.subjects)),
                                        "split": "subject-wise: validation subjects " +
                                                 ",".join(sorted(set(ws.subjects[val_idx])))},
                         metrics={"validation_window": val}, metrics_data="validation subjects of the training data",
                         simulated=simulated)
        folder = save_model_folder(out / "model", model, info)
        rec.metrics = {"validation_window": val, "windows": len(ws.y), "simulated": simulated}
        rec.add_file(folder / "weights.pt")
        rec.add_file(folder / "model.json")
        rec.write()
        return RunResult(out, rec.metrics, [out / f for f in rec.files])

    def _load(self, weights: Path | None) -> tuple[Any, Any]:
        from biomedai.train.model_folder import load_model_folder

        folder = self.resolve_weights(weights)
        if folder is None:
            raise WeightsError(HINT)
        state, info = load_model_folder(folder, method=self.name)
        a = info.architecture
        cfg = MsamConfig(heads=a["heads"], variant=a["variant"], token_axis=a["token_axis"],
                         time_patch=a["time_patch"], residual=a["residual"])
        model = experiment.build_network("msam", a["n_channels"], a["n_samples"], cfg)
        model.load_state_dict(state)
        return model.eval(), info

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        """P(CPS) per window and per recording (mean over windows), and attention per sensor."""
        inputs = [Path(p) for p in inputs]
        if not inputs:
            raise InvalidInputError("no inputs given")
        for p in inputs:
            if not p.exists():
                raise InvalidInputError("input not found", p)
        model, info = self._load(weights)
        pre = info.preprocessing
        cfg = MsamConfig(**{k: pre[k] for k in ("l_freq", "h_freq", "notch", "sfreq", "window_s", "overlap",
                                                "zscore")}, reject_amplitude=self.config.reject_amplitude)
        out = Path(output_dir)
        rec = RunRecorder(out, self.name, "predict", seed=self.config.seed, config=self.config.to_dict())
        rec.add_inputs(inputs)
        rows, summary = [], {}
        for path in inputs:
            x, names, _, starts = timed_windows_from_file(path, cfg)
            if names[:1] != ["ch0"] and names != pre["ch_names"]:
                missing = [c for c in pre["ch_names"] if c not in names]
                if missing:
                    raise InvalidInputError(f"channels the model needs are missing: {missing[:20]}", path)
                x = x[:, [names.index(c) for c in pre["ch_names"]]]
            if x.shape[1:] != (info.architecture["n_channels"], info.architecture["n_samples"]):
                raise InvalidInputError(f"windows {x.shape[1:]} do not fit the model "
                                        f"({info.architecture['n_channels']}, {info.architecture['n_samples']})", path)
            if len(x) == 0:
                raise InvalidInputError("no window left after amplitude rejection", path)
            p, att = experiment.predict_network(model, zscore_windows(x) if cfg.zscore else x)
            rows += [{"file": path.name, "window": i, "start_s": round(float(t), 3), "p_cps": round(float(v), 4)}
                     for i, (t, v) in enumerate(zip(starts, p))]
            mean = float(p.mean())
            summary[path.name] = {"p_cps": mean, "subtype": "CPS" if mean >= 0.5 else "SPS", "windows": len(p)}
            att_mean = att.mean(axis=0)
            rec.add_file(write_csv_atomic(out / f"{path.stem}_attention.csv",
                                          [{"channel": c, "attention": float(a)}
                                           for c, a in zip(pre["ch_names"], att_mean)]))
            rec.add_file(plot_attention(att_mean, pre["ch_names"], out / f"{path.stem}_attention.png",
                                        f"{path.name}: attention per sensor",
                                        info=sensor_info(path, pre["ch_names"])))
            rec.add_file(write_csv_atomic(out / f"{path.stem}_attention_over_time.csv",
                                          [{"window": i, "start_s": round(float(t), 3),
                                            **{c: round(float(a), 5) for c, a in zip(pre["ch_names"], row)}}
                                           for i, (t, row) in enumerate(zip(starts, att))]))
            rec.add_file(plot_attention_over_time(att, starts, pre["ch_names"],
                                                  out / f"{path.stem}_attention_over_time.png",
                                                  f"{path.name}: attention per sensor over time", probability=p))
        rec.add_file(write_csv_atomic(out / "windows.csv", rows))
        rec.metrics = {"recordings": summary}
        rec.notes["model"] = info.usage_note()
        rec.write()
        return RunResult(out, rec.metrics, [out / f for f in rec.files])

    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """With weights: Eqs. 7-10, AUC and the subject vote of a trained model on ``data``. Without: subject-wise
        k-fold cross-validation of MSAM on ``data`` (per fold and mean +/- SD)."""
        cfg, out = self.config, Path(output_dir)
        rec = RunRecorder(out, self.name, "evaluate", seed=cfg.seed, config=cfg.to_dict())
        rec.add_inputs([data])
        ws = self._windows(data, out)
        simulated = (Path(data) / "SIMULATED.txt").is_file()
        label = f"{data} ({'SIMULATED' if simulated else 'as given'}, {len(set(ws.subjects))} subjects)"
        if weights is not None or self.resolve_weights(None) is not None:
            model, _ = self._load(weights)
            p, _ = experiment.predict_network(model, ws.x)
            votes = subject_vote(ws.subjects, p)
            truth = {s: int(ws.y[ws.subjects == s][0]) for s in votes}
            rec.metrics = {"data": label, "window": paper_metrics(Counts.from_labels(ws.y, (p >= 0.5).astype(int))),
                           "subject": paper_metrics(Counts.from_labels([truth[s] for s in votes],
                                                                       [int(v >= 0.5) for v in votes.values()])),
                           "auc": auc(ws.y, p)}
        else:
            with rec.timer("cross_validate"):
                res = experiment.cross_validate(ws, "msam", cfg, out / "cv")
            rec.add_file(write_table(out / "cv_metrics.csv", table_rows([res], data=label)))
            if res["attention"] is not None:
                rec.add_file(plot_attention(res["attention"], ws.ch_names, out / "attention.png",
                                            f"mean attention per sensor, {label}"))
            rec.metrics = {"data": label, **_strip(res)}
        rec.metrics["simulated"] = simulated
        rec.write()
        return RunResult(out, rec.metrics, [out / f for f in rec.files])

    @classmethod
    def example_inputs(cls, folder: Path) -> list[Path]:
        """One small SIMULATED recording (FIF)."""
        sim = simulate_cohort(Path(folder) / "simulated", SimulationConfig(n_subjects=2, seconds=6.0, n_sensors=8))
        return [sim / "sim000_raw.fif"]

    def demo(self, output_dir: Path) -> RunResult:
        """A small SIMULATED cohort (8 subjects), subject-wise 2-fold CV of MSAM (3 epochs) and the RF baseline.
        A smoke run, not a benchmark: see benchmarks/quality/msam_meg/ for Tables 1-2."""
        out = Path(output_dir)
        cfg = MsamConfig.from_dict({**self.config.to_dict(), "epochs": 3, "folds": 2, "sfreq": 200.0,
                                    "h_freq": 80.0, "window_s": 2.0, "overlap": 0.0, "reject_amplitude": None})
        rec = RunRecorder(out, self.name, "demo", seed=cfg.seed, config=cfg.to_dict())
        with rec.timer("simulate"):
            data = simulate_cohort(out / "simulated_cohort",
                                   SimulationConfig(n_subjects=8, seconds=20.0, n_sensors=16, seed=cfg.seed))
        ws = prepare_cohort(data, cfg)
        label = f"SIMULATED cohort ({SIMULATOR_VERSION}), 8 subjects, 16 sensors"
        results = []
        with rec.timer("cross_validate"):
            for kind in ("msam", "rf"):
                results.append(experiment.cross_validate(ws, kind, cfg, out / f"cv_{kind}"))
        rec.add_file(write_table(out / "demo_table.csv", table_rows(results, data=label)))
        if results[0]["attention"] is not None:
            rec.add_file(plot_attention(results[0]["attention"], ws.ch_names, out / "attention.png",
                                        "MSAM attention per sensor (SIMULATED)"))
        rec.metrics = {"data": label, "simulated": True, "note": "smoke demo, 3 epochs; not a benchmark",
                       "results": [_strip(r) for r in results]}
        rec.write()
        return RunResult(out, rec.metrics, [out / f for f in rec.files])
