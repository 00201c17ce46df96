"""MTCSN as a biomedai Method: train / predict (frames or whole videos: triage) / evaluate / demo."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from biomedai.methods.base import Method, RunResult
from biomedai.methods.registry import register
from biomedai.utils import lazy_import

from .config import MtcsnConfig
from .data import simulate_clips
from .overlay import write_rgb
from .simulator import write_simulated_video

actions = lazy_import(".actions", __package__)  # torch: imported on first use


@register
class MtcsnMethod(Method):
    name = "capsule_mtcsn"
    title = "MTCSN: capsule-endoscopy clearness classification, tissue segmentation and video triage"
    modality = "capsule endoscopy (RGB frames and videos)"
    task = "3-class clearness degree + 8-class tissue segmentation (cross fusion); keyframe triage of videos"
    paper = "Kong et al., Multi-Task Classification and Segmentation for Explicable Capsule Endoscopy Diagnostics, " \
            "Front. Mol. Biosci. (2021)"
    config_class = MtcsnConfig
    input_kinds = ("image/rgb", "video/mp4")
    tools_module = "tools"
    #: set to "default" once models/default/ (trained on SIMULATED frames) ships
    default_model = None
    headline_metrics = ("accuracy", "f1_macro", "miou", "macc")

    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """Train on a frame folder (labels.csv + images/ + masks/, see data.py); the split keeps groups whole."""
        return actions.train(self, Path(data), Path(output_dir))

    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        """Frames -> CD class, tissue mask and overlay; videos -> per-frame CSV, keyframes and an HTML report."""
        return actions.predict(self, list(inputs), Path(output_dir), weights)

    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """Accuracy, per-class and macro precision/recall/F1, confusion matrix, mIoU, mACC on a frame folder."""
        return actions.evaluate(self, Path(data), Path(output_dir), weights)

    def demo(self, output_dir: Path) -> RunResult:
        return actions.demo(self, Path(output_dir))

    @classmethod
    def example_inputs(cls, folder: Path) -> list[Path]:
        """One SIMULATED frame and a 3-second SIMULATED video."""
        frames = simulate_clips(1, 1, 96, seed=0)
        frame = write_rgb(frames.images[0], Path(folder) / "simulated_frame.png")
        video = Path(folder) / "simulated_video.mp4"
        write_simulated_video(video, 12, size=96, fps=4.0, seed=0)
        return [frame, video]
