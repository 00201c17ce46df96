"""The ``ki67`` method: IHC quantification, and Ki-67 positivity from morphology (Liu et al. 2020).

* ``predict`` without weights quantifies Ki-67 IHC images (colour deconvolution, three-value map,
  Dpos/Dneg/Rpos, nuclei and the labelling index); with weights it runs the trained ResNet18 as an FCN
  on H&E / haematoxylin images (whole regions in one pass, whole-slide images tile by tile).
* ``train`` builds 64x64 patches from point annotations (or the DeepLIIF panels) and trains Table 2/3.
* ``evaluate`` scores both against the DeepLIIF masks.
"""
from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.io.wsi import is_slide_file
from biomedai.methods.base import Method, RealSample, RunResult
from biomedai.methods.registry import register
from biomedai.utils import lazy_import

from .config import CLASS_NAMES, Ki67Config
from .deepliif import load_deepliif, seg_to_instances
from .evaluation import evaluate_ihc_quantifier, evaluate_morphology
from .ihc import area_indices, as_rgb, nucleus_scale_warning, quantify_ihc
from .input_check import ihc_input_problem
from .patches import build_patch_set, read_cell_points
from .report import cell_overlay, cells_geojson, class_map_to_rgb, heatmap_rgb, rows_to_csv, upsample_map
from .training_data import training_patches
from .wsi import wsi_probability_map

ki67_model = lazy_import(".model", __package__)  # torch: imported on first use

logger = logging.getLogger(__name__)



@register
class Ki67Method(Method):
    name = "ki67"
    title = "Ki-67: IHC quantification and Ki-67 positivity from morphology"
    modality = "histopathology (Ki-67 IHC; H&E / haematoxylin)"
    task = "cell quantification; 3-class patch classification -> FCN map"
    paper = ("Liu et al. 2020, Predict Ki-67 positive cells in H&E-stained images using deep learning "
             "independently from IHC-stained images, Front. Mol. Biosci. (PMC7438787)")
    config_class = Ki67Config
    input_kinds = ("image/rgb", "wsi")
    headline_metrics = ("labelling_index_pct", "n_cells", "n_positive", "n_negative", "Dpos", "Rpos")

    # ------------------------------------------------------------------------------------- helpers
    def _recorder(self, output_dir: Path, action: str) -> Any:
        from biomedai.provenance import RunRecorder

        return RunRecorder(Path(output_dir), self.name, action, seed=self.config.seed, config=self.config.to_dict())

    @staticmethod
    def _read_rgb(path: Path) -> np.ndarray:
        from biomedai.io import read_image

        return as_rgb(read_image(path).array, path)

    # ------------------------------------------------------------------------------------- predict
    def check_input(self, path: Path) -> str | None:
        """Why this method cannot read ``path``, or None (it reads IHC with DAB and haematoxylin; input_check.py)."""
        return ihc_input_problem(Path(path))

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        output_dir = Path(output_dir)
        inputs = [Path(p) for p in inputs]
        if not inputs:
            raise InvalidInputError("no input images given")
        rec = self._recorder(output_dir, "predict")
        rec.add_inputs(inputs)
        region_rows: list[dict[str, Any]] = []
        model = None
        if weights is not None:
            model = ki67_model.load_classifier(weights, self.config)
            rec.notes["weights"] = str(weights)
        rec.notes["mode"] = "morphology FCN (trained classifier)" if model is not None else "IHC quantification"
        with rec.timer("predict"):
            for path in inputs:
                if model is None:
                    row = self._quantify_one(path, output_dir, rec)
                elif is_slide_file(path):
                    row = self._wsi_one(model, Path(weights), path, output_dir, rec)
                else:
                    row = self._fcn_one(model, path, output_dir, rec)
                region_rows.append(row)

        rec.add_file(rows_to_csv(region_rows, output_dir / "regions.csv"))
        rec.metrics.update(pooled_counts(region_rows))
        rec.metrics["regions"] = region_rows
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    def _quantify_one(self, path: Path, output_dir: Path, rec: Any) -> dict[str, Any]:
        from biomedai.io import read_image
        from biomedai.viz import save_png

        image = read_image(path)
        rgb = as_rgb(image.array, path)
        result = quantify_ihc(image, self.config, path)
        for warning in (result.scale.warning if result.scale else None, nucleus_scale_warning(result, self.config)):
            if warning:
                logger.warning("%s: %s", path.name, warning)
                rec.notes.setdefault("warnings", []).append(f"{path.name}: {warning}")
        stem = path.stem
        rec.add_file(save_png(class_map_to_rgb(result.class_map), output_dir / f"{stem}_ihc_map.png"))
        rec.add_file(save_png(cell_overlay(rgb, result.labels, result.cells), output_dir / f"{stem}_cells_overlay.png"))
        rec.add_file(rows_to_csv([{"image": path.name, **r} for r in result.cells.rows()],
                                 output_dir / f"{stem}_cells.csv"))
        rec.add_file(cells_geojson(result.labels, result.cells, output_dir / f"{stem}_cells.geojson"))
        return {"image": path.name, "source": "IHC", **result.summary()}

    def _fcn_one(self, model: Any, path: Path, output_dir: Path, rec: Any) -> dict[str, Any]:
        from biomedai.viz import save_png

        rgb = self._read_rgb(path)
        if min(rgb.shape[:2]) < self.config.patch_size:
            raise InvalidInputError(f"image is {rgb.shape[1]}x{rgb.shape[0]}, smaller than one "
                                    f"{self.config.patch_size}x{self.config.patch_size} patch", path)
        prob = ki67_model.probability_map(model, rgb, self.config, ki67_model.resolve_device(self.config.device))
        classes = ki67_model.map_to_classes(prob, self.config)
        stem = path.stem
        np.save(output_dir / f"{stem}_probabilities.npy", prob.astype(np.float32))
        rec.add_file(output_dir / f"{stem}_probabilities.npy")
        rec.add_file(save_png(class_map_to_rgb(classes), output_dir / f"{stem}_fcn_map.png"))
        full = upsample_map(classes, rgb.shape[:2], model.to_fcn().stride, self.config.patch_size)
        blend = (0.6 * rgb + 0.4 * class_map_to_rgb(full)).round().astype(np.uint8)
        rec.add_file(save_png(blend, output_dir / f"{stem}_fcn_overlay.png"))
        rec.add_file(save_png(heatmap_rgb(prob[1]), output_dir / f"{stem}_p_positive.png"))
        return {"image": path.name, "source": "morphology FCN", "architecture": model.architecture,
                "map_rows": int(prob.shape[1]),
                "map_cols": int(prob.shape[2]), **area_indices(classes)}

    def _wsi_one(self, model: Any, weights: Path, path: Path, output_dir: Path, rec: Any) -> dict[str, Any]:
        from biomedai.train.model_folder import training_mpp_of
        from biomedai.viz import save_png

        prob, info = wsi_probability_map(model, path, self.config, ki67_model.resolve_device(self.config.device),
                                         target_mpp=training_mpp_of(weights))
        choice = info.pop("level_choice")  # the whole record in the notes, its numbers in the row (regions.csv)
        rec.notes.setdefault("slide_level", {})[path.name] = choice
        info.update(downsample=choice["downsample"], mpp=choice["mpp"])
        warning = choice["warning"]
        if warning:
            logger.warning("%s: %s", path.name, warning)
            rec.notes.setdefault("warnings", []).append(f"{path.name}: {warning}")
        classes = ki67_model.map_to_classes(prob, self.config)
        stem = path.stem
        np.save(output_dir / f"{stem}_probabilities.npy", prob.astype(np.float32))
        rec.add_file(output_dir / f"{stem}_probabilities.npy")
        rec.add_file(save_png(heatmap_rgb(prob[1]), output_dir / f"{stem}_heatmap_p_positive.png"))
        rec.add_file(save_png(class_map_to_rgb(classes), output_dir / f"{stem}_fcn_map.png"))
        return {"image": path.name, "source": "morphology FCN (whole slide)", "architecture": model.architecture,
                **info, **area_indices(classes)}

    # ------------------------------------------------------------------------------------- train
    def real_samples(self, data_root: Path) -> list[RealSample]:
        """The first DeepLIIF IHC test tile with its mask (``ki67/deepliif_sample``; never used for tuning)."""
        root = Path(data_root) / "ki67" / "deepliif_sample"
        for image in sorted((root / "test_cli").glob("*.png")) if (root / "test_cli").is_dir() else []:
            truth = root / "test_groundtruth" / image.name
            if truth.is_file():
                return [RealSample((image,), f"DeepLIIF Ki-67 IHC test tile {image.stem}",
                                   "DeepLIIF: Apache 2.0 with Commons Clause (no selling)", non_commercial=True,
                                   ground_truth=truth)]
        return []

    def score_real_sample(self, sample: RealSample, result: RunResult) -> dict[str, Any]:
        """Labelling index and cell counts against the tile's positive/negative nucleus mask."""
        _, classes = seg_to_instances(self._read_rgb(sample.ground_truth))
        positive, total = int((classes[1:] == 1).sum()), int(len(classes) - 1)
        truth_li = 100.0 * positive / total if total else float("nan")
        found = result.metrics.get("labelling_index_pct")
        return {"labelling_index_pct": found, "labelling_index_pct_truth": round(truth_li, 1),
                "abs_LI_error_pct": round(abs(found - truth_li), 1) if found is not None else None,
                "n_cells": result.metrics.get("n_cells"), "n_cells_truth": total,
                "n_positive": result.metrics.get("n_positive"), "n_positive_truth": positive}

    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        output_dir = Path(output_dir)
        rec = self._recorder(output_dir, "train")
        rec.add_inputs([data])
        with rec.timer("build_patches"):
            (x_train, y_train), (x_val, y_val), counts = training_patches(Path(data), self.config)
        if weights is not None:
            rec.notes["init_weights"] = str(weights)
        with rec.timer("train"):
            deepliif = (Path(data) / "train").is_dir()
            described = {"name": str(data), "layout": "DeepLIIF" if deepliif else "point annotations",
                         "split": "random 8:2 cell split (section 1.3); validation chose the best epoch",
                         "licence": "DeepLIIF terms: non-commercial research use" if deepliif else "the data's own",
                         "non_commercial": deepliif}
            _, result = ki67_model.train_classifier(x_train, y_train, x_val, y_val, self.config, output_dir,
                                                    progress=True, init_weights=weights, training_data=described)
        rec.metrics = {"architecture": self.config.architecture, "class_balance": self.config.class_balance,
                       "patch_counts": counts, "train_patches": len(y_train),
                       "val_patches": len(y_val), "monitor": result.monitor, "best_metric": result.best_metric,
                       "best_epoch": result.best_epoch, "epochs": result.epochs_completed,
                       "data": str(data)}
        if (output_dir / "model.json").is_file():
            rec.add_file(output_dir / "weights.pt")
            rec.add_file(output_dir / "model.json")
            rec.notes["model_folder"] = str(output_dir)
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    # ------------------------------------------------------------------------------------- evaluate
    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        output_dir = Path(output_dir)
        rec = self._recorder(output_dir, "evaluate")
        rec.add_inputs([data])
        with rec.timer("ihc_quantifier"):
            ihc = evaluate_ihc_quantifier(Path(data), self.config)
        rec.add_file(rows_to_csv(ihc["rows"], output_dir / "ihc_per_tile.csv"))
        rec.metrics = {"data": str(data), "ihc_quantifier": ihc["summary"], "ihc_per_tile": ihc["rows"]}
        if weights is not None:
            model = ki67_model.load_classifier(weights, self.config)
            tiles = [t for t in load_deepliif(Path(data)) if t.split == "test"]
            with rec.timer("morphology"):
                rec.metrics["morphology"] = evaluate_morphology(model, tiles, self.config)
            rec.notes["weights"] = str(weights)
        rec.write()
        return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])

    # ------------------------------------------------------------------------------------- demo
    def demo(self, output_dir: Path) -> RunResult:
        """The IHC quantifier on scikit-image's ``ihc.png`` (colonic glands, DAB + haematoxylin)."""
        from biomedai.data.samples import sample_path

        method = Ki67Method(self.config)  # the settings predict and the service use: the same index for the same image
        result = method.predict([sample_path("ihc")], output_dir)
        note = ("scikit-image ihc.png: the DAB there marks FHL2 (cytoplasm/membrane), not Ki-67; the demo shows "
                "the quantifier (deconvolution, three-value map, nuclei found on haematoxylin, positive/negative "
                "calls on nuclear DAB), not a Ki-67 result")
        data = json.loads((Path(output_dir) / "result.json").read_text(encoding="utf-8"))
        data["notes"]["demo"] = note
        data["action"] = "demo"  # the predict run above, recorded as what it was: the demo
        from biomedai.utils import write_json_atomic

        write_json_atomic(Path(output_dir) / "result.json", data)
        return result

    # ------------------------------------------------------------------------------------- tools
    @classmethod
    def tool_parser(cls, prog: str) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog=prog, description="Ki-67 tools")
        sub = parser.add_subparsers(dest="tool", required=True)
        p = sub.add_parser("build-patches", help="cut 64x64 cell patches + background boxes from point "
                                                 "annotations (Labelme / GeoJSON / CSV) into class folders")
        p.add_argument("image")
        p.add_argument("annotations")
        p.add_argument("-o", "--output", required=True)
        p.add_argument("--background-per-cell", type=float, default=None)
        return parser

    def run_tool(self, args: argparse.Namespace) -> int:
        from biomedai.viz import save_png

        image = self._read_rgb(Path(args.image))
        xy, classes = read_cell_points(args.annotations)
        ratio = self.config.background_per_cell if args.background_per_cell is None else args.background_per_cell
        n_bg = int(round(ratio * int((classes != 2).sum())))
        patches, labels, centres = build_patch_set(
            image, xy, classes, self.config.patch_size, n_bg, self.config.cell_box_size, self.config.border_policy,
            np.random.default_rng(self.config.seed), args.annotations)
        out = Path(args.output)
        stem = Path(args.image).stem
        for k, (patch, label, (x, y)) in enumerate(zip(patches, labels, centres)):
            save_png(patch, out / CLASS_NAMES[label] / f"{stem}_{k:05d}_x{int(x)}_y{int(y)}.png")
        counts = {name: int((labels == c).sum()) for c, name in enumerate(CLASS_NAMES)}
        print(json.dumps({"output": str(out), **counts}))
        return 0


def pooled_counts(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The headline numbers over all images: cell counts and the labelling index of the pooled cells
    (and the area indices when there is a single image).

    Example:
        >>> pooled_counts([{"n_cells": 10, "n_positive": 2}, {"n_cells": 30, "n_positive": 6}])["labelling_index_pct"]
        20.0
    """
    counted = [r for r in rows if "n_cells" in r]
    out: dict[str, Any] = {}
    if counted:
        n = sum(int(r["n_cells"]) for r in counted)
        pos = sum(int(r["n_positive"]) for r in counted)
        out = {"labelling_index_pct": round(100.0 * pos / n, 1) if n else None, "n_cells": n, "n_positive": pos,
               "n_negative": n - pos}
    if len(rows) == 1:
        out.update({k: round(v, 4) for k, v in rows[0].items() if k in ("Dpos", "Dneg", "Rpos")
                    and isinstance(v, float)})
    return out
