"""A small but real method used to test the interface, registry, CLI and demo: Otsu segmentation."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from biomedai.config import BaseConfig
from biomedai.errors import ConfigError, InvalidInputError
from biomedai.methods.base import Method, RunResult
from biomedai.provenance import RunRecorder


@dataclasses.dataclass
class OtsuConfig(BaseConfig):
    min_size: int = 4

    def validate(self) -> None:
        super().validate()
        if self.min_size < 0:
            raise ConfigError("key 'min_size' must be >= 0")


class OtsuMethod(Method):
    name = "toy_otsu"
    title = "Otsu threshold (test method)"
    modality = "any grey image"
    task = "binary segmentation"
    paper = "Otsu N. A threshold selection method from gray-level histograms. IEEE Trans. SMC 9(1), 1979"
    config_class = OtsuConfig
    input_kinds = ("image/grey",)

    def _segment(self, array: np.ndarray) -> np.ndarray:
        from skimage.filters import threshold_otsu
        from skimage.morphology import remove_small_objects

        if array.ndim == 3 and array.shape[-1] in (3, 4):
            array = array[..., :3].mean(axis=-1)
        mask = array > threshold_otsu(array)
        return remove_small_objects(mask, max_size=self.config.min_size)

    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        raise NotImplementedError("Otsu has nothing to train")

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        return self._segment_files(inputs, output_dir, "predict")

    def _segment_files(self, inputs: Sequence[Path], output_dir: Path, action: str) -> RunResult:
        from biomedai.io import read_image
        from biomedai.viz import save_png

        if not inputs:
            raise InvalidInputError("no input files given")
        rec = RunRecorder(Path(output_dir), self.name, action, seed=self.config.seed, config=self.config.to_dict())
        rec.add_inputs(inputs)
        fractions = {}
        with rec.timer("predict"):
            for path in inputs:
                mask = self._segment(read_image(path).array)
                rec.add_file(save_png(mask.astype(np.uint8) * 255, Path(output_dir) / f"{Path(path).stem}_mask.png"))
                fractions[Path(path).name] = float(mask.mean())
        rec.metrics["foreground_fraction"] = fractions
        rec.write()
        return RunResult(Path(output_dir), rec.metrics, [Path(output_dir) / f for f in rec.files])

    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        from biomedai.io import read_image

        data = Path(data)
        images = sorted((data / "images").glob("*.png"))
        if not images:
            raise InvalidInputError("no images/*.png", data)
        rec = RunRecorder(Path(output_dir), self.name, "evaluate", seed=self.config.seed, config=self.config.to_dict())
        dices = []
        for path in images:
            pred = self._segment(read_image(path).array)
            truth = read_image(data / "masks" / path.name).array > 0
            dices.append(2 * (pred & truth).sum() / max(pred.sum() + truth.sum(), 1))
        rec.metrics = {"dice_mean": float(np.mean(dices)), "n_images": len(images), "data": str(data)}
        rec.write()
        return RunResult(Path(output_dir), rec.metrics)

    def demo(self, output_dir: Path) -> RunResult:
        from biomedai.data.samples import sample_path

        return self._segment_files([sample_path("coins")], output_dir, "demo")


class OtsuWithTools(OtsuMethod):
    """The same method with one command-line tool, to test ``biomedai tool``."""

    name = "toy_otsu_tools"

    @classmethod
    def tool_parser(cls, prog: str):
        import argparse

        parser = argparse.ArgumentParser(prog=prog)
        sub = parser.add_subparsers(dest="tool", required=True)
        p = sub.add_parser("threshold", help="print the Otsu threshold of an image")
        p.add_argument("image")
        return parser

    def run_tool(self, args) -> int:
        from skimage.filters import threshold_otsu

        from biomedai.io import read_image

        print(f"threshold {threshold_otsu(read_image(args.image).array):.1f}")
        return 0
