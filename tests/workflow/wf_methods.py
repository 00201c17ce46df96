"""Tiny methods for the workflow tests, importable by path in worker child processes.

``WF_TEST_DIR`` (environment) is where the methods leave a marker per execution, so that tests
can count how many times a method really ran. ``WF_SLEEP_S`` makes ``wf_slow`` take that long;
``WF_FAIL_TIMES`` makes ``wf_flaky`` fail its first N runs.
"""
from __future__ import annotations

import dataclasses
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from biomedai.config import BaseConfig
from biomedai.errors import InvalidInputError
from biomedai.methods.base import Method, RunResult
from biomedai.methods.registry import register, unregister
from biomedai.provenance import RunRecorder


@dataclasses.dataclass
class WfConfig(BaseConfig):
    pass


def _mark(tag: str) -> int:
    folder = Path(os.environ.get("WF_TEST_DIR", "/tmp")) / tag
    folder.mkdir(parents=True, exist_ok=True)
    (folder / uuid.uuid4().hex).touch()
    return len(list(folder.iterdir()))


class WfBrightness(Method):
    """Mean brightness; a bright image is a 'high' finding (tests the findings convention)."""

    name = "wf_brightness"
    title = "brightness (workflow test method)"
    config_class = WfConfig
    input_kinds = ("image/grey", "image/rgb")

    def check_input(self, path):
        """Reads any picture; it says so, so that ``auto`` routing sends pictures to it."""
        return None

    def train(self, data, output_dir, weights=None):
        raise NotImplementedError

    def evaluate(self, data, output_dir, weights=None):
        raise NotImplementedError

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        from biomedai.io import read_image
        from biomedai.viz import save_png

        _mark(self.name)
        rec = RunRecorder(Path(output_dir), self.name, "predict", config=self.config.to_dict())
        rec.add_inputs(inputs)
        means = {}
        for path in inputs:
            array = np.asarray(read_image(path).array, dtype=float)
            if array.max() == array.min():
                raise InvalidInputError("flat image", path)
            means[Path(path).name] = float(array.mean())
            rec.add_file(save_png(((array > array.mean()) * 255).astype(np.uint8),
                                  Path(output_dir) / f"{Path(path).stem}_mask.png"))
        mean = float(np.mean(list(means.values())))
        rec.metrics = {"mean": mean, "per_file": means,
                       "findings": [{"label": f"mean brightness {mean:.0f}",
                                     "severity": "high" if mean > 150 else "low"}]}
        rec.write()
        return RunResult(Path(output_dir), rec.metrics)


class WfSlow(WfBrightness):
    name = "wf_slow"

    def predict(self, inputs, output_dir, weights=None):
        _mark("wf_slow_started")
        time.sleep(float(os.environ.get("WF_SLEEP_S", "3")))
        return super().predict(inputs, output_dir, weights)


class WfFlaky(WfBrightness):
    name = "wf_flaky"

    def predict(self, inputs, output_dir, weights=None):
        if _mark("wf_flaky_runs") <= int(os.environ.get("WF_FAIL_TIMES", "1")):
            raise RuntimeError("transient failure (test)")
        return super().predict(inputs, output_dir, weights)


class WfCtThreshold(WfBrightness):
    """CT density classes by Hounsfield thresholds: a label map with named labels (for the DICOM SEG tests)."""

    name = "wf_ct_threshold"
    title = "CT density classes (workflow test method)"
    input_kinds = ("dicom/CT",)
    #: label -> (name, lowest HU, highest HU)
    CLASSES = {1: ("air (< -200 HU)", -1e9, -200.0), 2: ("soft tissue (-200..300 HU)", -200.0, 300.0),
               3: ("dense (> 300 HU)", 300.0, 1e9)}

    def predict(self, inputs, output_dir, weights=None):
        from biomedai.io import read_image, write_image

        _mark(self.name)
        rec = RunRecorder(Path(output_dir), self.name, "predict", config=self.config.to_dict())
        rec.add_inputs(inputs)
        if len(inputs) != 1:
            raise InvalidInputError(f"one CT image or series at a time, got {len(inputs)}")
        image = read_image(inputs[0])
        if image.metadata.get("Modality") != "CT":
            raise InvalidInputError("not a CT", inputs[0])
        hu = np.asarray(image.array, dtype=float)
        labels = np.zeros(hu.shape, np.uint8)
        for value, (_, low, high) in self.CLASSES.items():
            labels[(hu > low) & (hu <= high)] = value
        rec.add_file(write_image(image.with_array(labels), Path(output_dir) / "ct_labels.nii.gz"))
        rec.metrics = {"segments": {str(k): name for k, (name, _, _) in self.CLASSES.items()},
                       **{f"fraction_{k}": float(np.mean(labels == k)) for k in self.CLASSES}}
        rec.write()
        return RunResult(Path(output_dir), rec.metrics)


ALL = (WfBrightness, WfSlow, WfFlaky, WfCtThreshold)


def register_all() -> None:
    for cls in ALL:
        register(cls)


def unregister_all() -> None:
    for cls in ALL:
        unregister(cls.name)


register_all()
