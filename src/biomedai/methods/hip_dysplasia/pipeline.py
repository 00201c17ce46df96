"""The hip-dysplasia method (Yang et al. 2020): angles from contours, a data-driven normal-hip model, a landmark
detector, and the tools ``measure``, ``fit``, ``diagnose``, ``simulate`` and ``annotate``."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from biomedai.errors import InvalidInputError, WeightsError
from biomedai.methods.base import Method, RunResult
from biomedai.methods.registry import register
from biomedai.utils import lazy_import

from .annotation import HipAnnotation, annotation_for, patient_side_of_image_left, spacing_of_image
from .config import HipDysplasiaConfig
from .demo import run_demo
from .geometry import PLAUSIBLE, HipMeasurement, SideShapes, angles_from_landmarks
from .measurement import NO_SPACING_NOTE, film_picture, measure_annotation, orientation_of, side_rows, write_csv
from .normal_model import NormalHipModel
from .report import bland_altman_png, overlay_png, patient_report
from .synthetic import synthetic_film
from .input_check import pelvis_input_problem

landmark_detector = lazy_import(".detector", __package__)  # torch: imported on first use
landmark_net = lazy_import(".model", __package__)  # torch: imported on first use

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------- the method
@register
class HipDysplasia(Method):
    """Yang et al. 2020: CE, Sharp and Tönnis angles from drawn contours and a density-peak normal-hip model."""

    name = "hip_dysplasia"
    title = "Hip dysplasia from pelvis X-rays (Yang et al. 2020)"
    modality = "X-ray (AP pelvis)"
    task = "hip angles, data-driven dysplasia model, landmark detection"
    paper = "Yang et al., Front. Mol. Biosci. 7:613878 (2020), doi:10.3389/fmolb.2020.613878"
    config_class = HipDysplasiaConfig
    needs_weights = True  # predict on an image runs the trained model
    input_kinds = ("image/grey", "dicom/DX", "dicom/CR", "annotation/hip-json")
    tools_module = "tools"

    @classmethod
    def example_inputs(cls, folder: Path) -> list[Path]:
        """A simulated film's annotation file (angles need no weights), for the conformance suite."""
        return [HipAnnotation(synthetic_film(seed=0).shapes).save(Path(folder) / "film.hip.json")]

    # ----------------------------------------------------------------------------------- predict
    def check_input(self, path: Path) -> str | None:
        """Why this method cannot read ``path``, or None (the hip method reads AP pelvis films; input_check.py)."""
        return pelvis_input_problem(Path(path))

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None,
                normal_model: Path | None = None) -> RunResult:
        """Angles per film, from the annotation beside each image (``NAME.hip.json``/``NAME.json``), from an
        annotation file given directly, or from the landmark detector when ``weights`` is given and there is
        no annotation. Writes ``angles.csv``, per film ``NAME_measurement.json``, ``NAME_overlay.png`` and
        ``NAME_report.html``."""
        from biomedai.io import read_image
        from biomedai.provenance import RunRecorder
        from biomedai.utils import write_json_atomic

        output_dir = Path(output_dir)
        if not inputs:
            raise InvalidInputError("predict needs at least one image or annotation file")
        rec = RunRecorder(output_dir, self.name, "predict", seed=self.config.seed, config=self.config.to_dict())
        rec.add_inputs(inputs)
        model = NormalHipModel.load(normal_model) if normal_model else None
        detector = None
        all_rows: list[dict[str, Any]] = []
        films: dict[str, Any] = {}
        with rec.timer("predict"):
            for path in map(Path, inputs):
                is_annotation = path.suffix.lower() == ".json"
                image = None if is_annotation else read_image(path)
                stem = path.name.split(".")[0]
                ann_path = path if is_annotation else annotation_for(path)
                if ann_path is not None:
                    measurement, ann, notes = measure_annotation(ann_path, image, None if is_annotation else path,
                                                                 self.config)
                    shapes, source = ann.hips, f"annotation {ann_path.name}"
                elif weights is not None:
                    if detector is None:
                        detector = landmark_detector.load_detector(weights, self.config)
                    measurement, notes = self._detect(detector, image, path)
                    shapes, source = None, "landmark detector"
                else:
                    raise InvalidInputError(f"no annotation beside the film ({stem}.hip.json or {stem}.json) and "
                                            "no detector --weights", path)
                rows = side_rows(path.name, measurement, model, self.config)
                all_rows += rows
                record = {"source": source, "notes": notes, **measurement.to_dict()}
                rec.add_file(write_json_atomic(output_dir / f"{stem}_measurement.json", record))
                overlay = self._overlay(image, shapes, measurement, rows, output_dir / f"{stem}_overlay.png",
                                        f"{path.name} ({source})")
                rec.add_file(overlay)
                rec.add_file(patient_report(output_dir / f"{stem}_report.html", path.name, rows, measurement.flags,
                                            overlay.name, notes))
                films[path.name] = {"angles": measurement.angles, "flags": measurement.flags, "notes": notes,
                                    "source": source}
        rec.add_file(write_csv(all_rows, output_dir / "angles.csv"))
        rec.metrics["films"] = films
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    def _overlay(self, image: Any, shapes: Any, measurement: Any, rows: list[dict[str, Any]], path: Path,
                 title: str) -> Path:
        key = "model_class" if self.config.colour_rule == "model" and "model_class" in rows[0] else "knowledge_class"
        classes = {row["side"]: row[key] for row in rows}
        if shapes is None:  # detector output: draw the points only, with a small head circle
            shapes = {s: SideShapes() for s in ("right", "left")}
            import numpy as np

            for s in shapes:
                h = np.asarray(measurement.landmarks[s]["H"])
                r = 0.12 * float(np.hypot(*(np.asarray(measurement.landmarks["right"]["H"]) -
                                            np.asarray(measurement.landmarks["left"]["H"]))))
                t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
                shapes[s].femoral_head = h + r * np.c_[np.cos(t), np.sin(t)]
        picture = film_picture(image, shapes)
        spacing = tuple(measurement.settings.get("spacing", (1.0, 1.0)))
        return overlay_png(picture, shapes, measurement.to_dict(), classes, path, title, spacing=spacing)

    def _detect(self, detector: Any, image: Any, path: Path) -> tuple[Any, list[str]]:
        """Angles from detected landmarks; the head centre is detected directly (no contours)."""
        import numpy as np

        from biomedai.viz import to_display

        picture = to_display(image).astype(np.float32) / 255.0
        if picture.ndim == 3:
            picture = picture.mean(axis=-1)
        points = landmark_detector.detect_landmarks(detector, [picture], self.config.detector_size)[0]
        spacing, orientation = spacing_of_image(image)
        notes = []
        image_left = patient_side_of_image_left(orientation or orientation_of(path))
        if image_left is None:
            image_left = "right"
            notes.append("sides assumed from the radiological convention (patient right on the image left)")
        if spacing is None:
            if self.config.require_spacing:
                raise InvalidInputError("the film has no pixel spacing (require_spacing is set)", path)
            notes.append(NO_SPACING_NOTE)
        marks = landmark_net.positional_to_sides(points, image_left)
        angles = angles_from_landmarks(marks, spacing or (1.0, 1.0), ce_reference=self.config.ce_reference,
                                       signed=self.config.signed)
        flags: dict[str, list[str]] = {s: ["from_detector"] for s in marks}
        landmarks = {}
        for s in marks:
            landmarks[s] = {**marks[s], "C": angles[s].pop("C")}
            for key in ("D", "E", "F"):
                landmarks[s][key] = marks[s]["H"]
            for name, (low, high) in PLAUSIBLE.items():
                if not low <= angles[s][name] <= high:
                    flags[s].append(f"implausible_{name}")
        confidence = {f"{p}{i}": float(v) for i, (p, v) in enumerate(zip(["peak"] * len(points), points[:, 2]))}
        settings = {"spacing": list(spacing or (1.0, 1.0)), "source": "detector", "peak_values": confidence}
        return HipMeasurement(landmarks=landmarks, angles=angles, flags=flags, settings=settings), notes

    # ----------------------------------------------------------------------------------- train / evaluate
    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """Train the landmark detector on a folder of annotated films, or on ``synthetic`` films."""
        import numpy as np

        from biomedai.provenance import RunRecorder

        cfg = self.config
        output_dir = Path(output_dir)
        rec = RunRecorder(output_dir, self.name, "train", seed=cfg.seed, config=cfg.to_dict())
        with rec.timer("data"):
            if str(data) == "synthetic":
                train = landmark_detector.load_samples("synthetic", cfg, cfg.n_synthetic_train,
                                                       seed=cfg.seed * 1000 + 1)
                val = landmark_detector.load_samples("synthetic", cfg, cfg.n_synthetic_val, seed=cfg.seed * 1000 + 2)
                rec.notes["data"] = "simulated pelvis-like radiographs (no real hip data are bundled)"
            else:
                rec.add_inputs([data])
                samples = landmark_detector.load_samples(data, cfg, 0, cfg.seed)
                order = np.random.default_rng(cfg.seed).permutation(len(samples))
                n_val = max(1, len(samples) // 5)
                val = [samples[i] for i in order[:n_val]]
                train = [samples[i] for i in order[n_val:]] or val
        with rec.timer("train"):
            result = landmark_detector.train_detector(cfg, train, val, output_dir, init_weights=weights)
        rec.metrics.update({"n_train": len(train), "n_val": len(val), "best_epoch": result.best_epoch,
                            "best_val_radial_error_px": result.best_metric, "weights_sha256": result.weights_sha256})
        if result.weights is not None:
            rec.add_file(result.weights)
            synthetic = str(data) == "synthetic"
            folder = landmark_detector.save_detector_folder(
                output_dir / "model", result.weights, cfg, simulated=synthetic,
                training_data={"name": "simulated pelvis-like radiographs" if synthetic else str(data),
                               "split": f"{len(train)} train / {len(val)} validation films (seed {cfg.seed})",
                               "licence": "simulated (no terms)" if synthetic else "see the data's own terms"},
                metrics={"val_radial_error_px": result.best_metric}, metrics_data="validation films")
            for name in ("weights.pt", "model.json"):
                rec.add_file(folder / name)
            with rec.timer("validate angles"):
                rec.metrics["val_angle_agreement"] = self._agreement(result.weights, val)
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    def _agreement(self, weights: Path, samples: Sequence[Any]) -> dict[str, Any]:
        import numpy as np

        net = landmark_detector.load_detector(weights, self.config)
        true, pred, radial = [], [], []
        for start in range(0, len(samples), 16):
            chunk = samples[start:start + 16]
            points = landmark_detector.detect_landmarks(net, [s.picture for s in chunk], self.config.detector_size)
            for s, p in zip(chunk, points):
                true_marks = landmark_net.positional_to_sides(s.points, s.image_left_side)
                pred_marks = landmark_net.positional_to_sides(p[:, :2], s.image_left_side)
                true.append(angles_from_landmarks(true_marks, s.spacing))
                pred.append(angles_from_landmarks(pred_marks, s.spacing))
                radial.append(np.hypot(*(p[:, :2] - s.points).T))
        report = landmark_detector.agreement_report(true, pred)
        report["radial_error_px"] = {"mean": float(np.mean(radial)), "median": float(np.median(radial)),
                                     "n_points": int(np.size(radial))}
        report["_pairs"] = {"true": true, "pred": pred}
        return report

    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """The detector's error against manual landmarks: MAE, ICC(2,1) and Bland-Altman per angle."""
        from biomedai.provenance import RunRecorder

        if weights is None:
            raise WeightsError("evaluate compares the landmark detector with manual landmarks: give --weights")
        cfg = self.config
        output_dir = Path(output_dir)
        rec = RunRecorder(output_dir, self.name, "evaluate", seed=cfg.seed, config=cfg.to_dict())
        samples = landmark_detector.load_samples(data, cfg, cfg.n_synthetic_val, seed=cfg.seed * 1000 + 3)
        if str(data) != "synthetic":
            rec.add_inputs([data])
        with rec.timer("evaluate"):
            report = self._agreement(Path(weights), samples)
        pairs = report.pop("_pairs")
        rec.add_file(bland_altman_png(pairs["true"], pairs["pred"], output_dir / "bland_altman.png"))
        rec.metrics = {"data": "simulated radiographs (synthetic)" if str(data) == "synthetic" else str(data),
                       "n_films": len(samples), **report}
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    # ----------------------------------------------------------------------------------- demo
    def demo(self, output_dir: Path) -> RunResult:
        """Simulated data only: one synthetic film measured from its drawn contours, and a simulated cohort
        through the density-peak normal model, with both rules' sensitivity and specificity."""
        return run_demo(self, Path(output_dir))
