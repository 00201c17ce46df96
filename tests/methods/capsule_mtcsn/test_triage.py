"""Video triage: keyframe rule on a hand-made sequence, CSV columns, resume after a kill, flat memory,
corrupt segments, variable frame rate, grey and 16-bit frames. Tiny random-weight networks: IO checks only."""
from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from biomedai.errors import InvalidInputError  # noqa: E402
from biomedai.io.video import write_video  # noqa: E402
from biomedai.methods.capsule_mtcsn.config import MtcsnConfig  # noqa: E402
from biomedai.methods.capsule_mtcsn.frames import to_rgb_uint8  # noqa: E402
from biomedai.methods.capsule_mtcsn.keyframes import KeyframeRule, MarkState  # noqa: E402
from biomedai.methods.capsule_mtcsn.model import Mtcsn  # noqa: E402
from biomedai.methods.capsule_mtcsn.report import summarise_triage, write_triage_report  # noqa: E402
from biomedai.methods.capsule_mtcsn.triage import (TRIAGE_COLUMNS, read_triage_rows, sampled_frames,  # noqa: E402
                                                   triage_video)

TINY = dict(input_size=32, light_widths=(4, 4, 8, 8), cls_channels=8, seg_channels=8, infer_batch=4,
            sample_fps=0.0, representative_interval_s=2.0, clear_threshold=0.0, tissue_threshold=0.0)


def tiny_model(seed: int = 0) -> tuple[Mtcsn, MtcsnConfig]:
    torch.manual_seed(seed)
    cfg = MtcsnConfig(**TINY)
    return Mtcsn(cfg).eval(), cfg


def noise_video(path: Path, n: int, size: int = 32, fps: float = 10.0) -> Path:
    rng = np.random.default_rng(0)
    return write_video(((rng.integers(0, 4, (size, size, 3)) * 60).astype(np.uint8) for _ in range(n)), path, fps=fps)


def test_keyframe_rule_on_a_hand_made_sequence() -> None:
    rule = KeyframeRule(lesion_threshold=0.05, clear_threshold=0.8, tissue_threshold=0.5,
                        representative_interval_s=10.0)
    state = MarkState()
    #        (time, cd, p_clear, tissue, lesion)
    seq = [(0, "clear", 0.9, 0.8, 0.0),       # first readable view -> representative
           (2, "clear", 0.95, 0.9, 0.0),      # too soon after the last representative
           (4, "blur", 0.3, 0.9, 0.10),       # lesion on a blurred frame still kept
           (5, "invisible", 0.0, 0.1, 0.30),  # invisible: the lesion map is not trusted
           (6, "clear", 0.7, 0.9, 0.0),       # not clear enough
           (11, "clear", 0.85, 0.4, 0.0),     # too little tissue
           (12, "clear", 0.85, 0.6, 0.04),    # below the lesion threshold, but a representative view
           (13, "clear", 0.99, 0.9, 0.05)]    # lesion at the threshold
    reasons = [rule.mark(state, *s) for s in seq]
    assert reasons == ["representative", "", "lesion", "", "", "", "representative", "lesion"]
    assert state.last_representative_s == 12


def test_triage_csv_report_and_bad_inputs(tmp_path: Path) -> None:
    model, cfg = tiny_model()
    video = noise_video(tmp_path / "exam.mp4", 30)
    result = triage_video(video, tmp_path / "out", model, cfg)
    lines = (tmp_path / "out" / "frames.csv").read_text().splitlines()
    assert lines[0].split(",") == list(TRIAGE_COLUMNS) and len(lines) == 31 == result["rows"] + 1
    rows = list(read_triage_rows(tmp_path / "out" / "frames.csv"))
    assert [r["frame_idx"] for r in rows] == list(range(30))
    assert all(abs(r["p_clear"] + r["p_blur"] + r["p_invisible"] - 1) < 1e-3 for r in rows)
    assert all(0 <= r["%tissue"] <= 100 for r in rows)
    marked = [r for r in rows if r["marked"]]
    assert marked and all((tmp_path / "out" / "keyframes").glob(f"f{r['frame_idx']:07d}_t*.jpg") for r in marked)
    summary = summarise_triage(tmp_path / "out" / "frames.csv", n_bins=10)
    assert summary["frames_scored"] == 30 and summary["frames_marked"] == len(marked)
    page = write_triage_report(tmp_path / "out", "t", summary, ["simulated"])
    text = page.read_text()
    assert "<svg" in text and text.count("<figure") == len(marked)
    # a second run into the same folder with other settings is refused, the CSV kept
    other = MtcsnConfig(**{**TINY, "lesion_threshold": 0.5})
    with pytest.raises(InvalidInputError, match="another video, model or settings"):
        triage_video(video, tmp_path / "out", model, other)
    assert (tmp_path / "out" / "frames.csv").read_text().splitlines() == lines
    with pytest.raises(InvalidInputError, match="no frames"):
        triage_video(video, tmp_path / "late", model, MtcsnConfig(**{**TINY, "start_s": 100.0}))


SCRIPT = """
import sys, time, torch
from pathlib import Path
from biomedai.methods.capsule_mtcsn.config import MtcsnConfig
from biomedai.methods.capsule_mtcsn.model import Mtcsn
from biomedai.methods.capsule_mtcsn.triage import triage_video
torch.set_num_threads(1)
torch.manual_seed(0)
cfg = MtcsnConfig(**{tiny})
triage_video(Path(sys.argv[1]), Path(sys.argv[2]), Mtcsn(cfg).eval(), cfg, on_batch=lambda n: time.sleep(0.3))
"""


def test_killed_run_resumed_gives_the_same_csv(tmp_path: Path) -> None:
    model, cfg = tiny_model()
    video = noise_video(tmp_path / "exam.mp4", 80)
    triage_video(video, tmp_path / "whole", model, cfg)
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT.format(tiny=TINY), str(video), str(out)], env=env)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            progress = out / "progress.json"
            if progress.exists() and json.loads(progress.read_text()).get("rows", 0) >= 12:
                break
            assert proc.poll() is None, "the child ended before it could be killed"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    state = json.loads((out / "progress.json").read_text())
    assert 12 <= state["rows"] < 80 and not state["finished"]
    with open(out / "frames.csv", "a") as handle:       # a half-written row, as a kill mid-write leaves
        handle.write("47,4.700,cle")
    result = triage_video(video, out, model, cfg)
    assert result["resumed_from_row"] == state["rows"]
    assert (out / "frames.csv").read_bytes() == (tmp_path / "whole" / "frames.csv").read_bytes()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc for the resident set size")
def test_memory_stays_flat_over_a_long_video(tmp_path: Path) -> None:
    """1200 frames of 96 x 96 (33 MB decoded): keeping them, or anything per frame, would show in the RSS."""
    model, _ = tiny_model()
    video = noise_video(tmp_path / "long.mp4", 1200, size=96, fps=25)
    cfg = MtcsnConfig(**{**TINY, "infer_batch": 8, "overlays": False, "representative_interval_s": 1e9,
                         "lesion_threshold": 1.0})
    samples: dict[int, int] = {}

    def measure(rows: int) -> None:
        if rows in (200, 1200):
            gc.collect()
            samples[rows] = _rss_bytes()

    triage_video(video, tmp_path / "out", model, cfg, on_batch=measure)
    assert set(samples) == {200, 1200}
    assert samples[1200] - samples[200] < 12 * 2**20, samples       # 1000 more frames, < 12 MB more


def test_corrupt_segment_is_skipped_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model, cfg = tiny_model()
    rng = np.random.default_rng(1)
    good = write_video([(rng.integers(0, 4, (64, 64, 3)) * 64).astype(np.uint8) for _ in range(120)],
                       tmp_path / "good.mp4", fps=10)
    data = bytearray(good.read_bytes())
    data[len(data) // 2:len(data) // 2 + 3000] = rng.integers(0, 255, 3000, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    with caplog.at_level("WARNING"):
        result = triage_video(bad, tmp_path / "out", model, cfg)
    errors = (tmp_path / "out" / "decode_errors.csv").read_text().splitlines()
    assert len(errors) >= 2 and "corrupt video packet skipped" in caplog.text
    rows = list(read_triage_rows(tmp_path / "out" / "frames.csv"))
    assert 60 < result["rows"] < 120 and rows[-1]["time"] == pytest.approx(11.9, abs=0.15)


def test_variable_frame_rate_sampling(tmp_path: Path) -> None:
    import av

    path = tmp_path / "vfr.mkv"
    times = np.cumsum(np.r_[0.0, np.tile([0.05, 0.25], 20)])     # alternating 20 fps and 4 fps gaps
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=1000)
        stream.width = stream.height = 16
        stream.pix_fmt = "bgr0"
        stream.time_base = Fraction(1, 1000)
        for t in times:
            frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = int(round(t * 1000)), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    cfg = MtcsnConfig(sample_fps=2.0, start_s=1.0, end_s=5.0)
    kept = [f.metadata["time_s"] for f in sampled_frames(path, cfg, [])]
    # frames at 0, .05, .3, .35, .6, ... s; per 0.5 s tick from 1.0 to 5.0 the first frame at or after it
    assert kept == pytest.approx([1.2, 1.5, 2.1, 2.7, 3.0, 3.6, 4.2, 4.5], abs=1e-3)


def test_grey_16_bit_and_bad_frames() -> None:
    grey = np.arange(100, dtype=np.uint8).reshape(10, 10)
    assert to_rgb_uint8(grey).shape == (10, 10, 3)
    deep = (np.arange(100, dtype=np.uint16).reshape(10, 10) * 600)
    rgb = to_rgb_uint8(deep)
    assert rgb.dtype == np.uint8 and rgb.max() == round(99 * 600 / 257)
    with pytest.raises(InvalidInputError, match="grey or RGB"):
        to_rgb_uint8(np.zeros((4, 10, 10, 3), np.uint8))
    with pytest.raises(InvalidInputError, match="finite"):
        to_rgb_uint8(np.full((10, 10), np.nan))
