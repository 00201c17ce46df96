"""Video frames through PyAV on tiny videos written by the test."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError, UnsupportedFormatError
from biomedai.io import describe_file, read_image
from biomedai.io.video import read_video_frames, video_info, write_video


def _frames(n: int = 6) -> list[np.ndarray]:
    """Frame k: grey level 40*k with a white square moving right by 4 px per frame."""
    frames = []
    for k in range(n):
        frame = np.full((48, 64, 3), 40 * k, np.uint8)
        frame[10:20, 4 * k: 4 * k + 10] = 255
        frames.append(frame)
    return frames


def test_lossless_mkv_round_trip_exact(tmp_path):
    frames = _frames()
    path = write_video(frames, tmp_path / "clip.mkv", fps=10)
    read = list(read_video_frames(path))
    assert len(read) == 6
    for k, image in enumerate(read):
        np.testing.assert_array_equal(image.array, frames[k])
        assert image.metadata["frame_index"] == k
        assert image.metadata["time_s"] == pytest.approx(k / 10, abs=1e-3)
        assert image.channel_axis == -1


def test_mp4_info_and_frame_selection(tmp_path):
    path = write_video(_frames(), tmp_path / "clip.mp4", fps=5)
    info = video_info(path)
    assert (info["width"], info["height"], info["n_frames"]) == (64, 48, 6)
    assert info["fps"] == pytest.approx(5.0) and info["duration_s"] == pytest.approx(1.2, abs=0.05)
    chosen = list(read_video_frames(path, start=1, stop=5, step=2))
    assert [f.metadata["frame_index"] for f in chosen] == [1, 3]
    # lossy codec: the mean grey level still identifies each frame
    for image in chosen:
        k = image.metadata["frame_index"]
        assert abs(float(image.array[30:, :, 0].mean()) - 40 * k) < 6
    facts = describe_file(path)
    assert facts["format"] == "video" and facts["shape"] == [6, 48, 64, 3]


def test_read_image_points_to_the_video_reader(tmp_path):
    path = write_video(_frames(2), tmp_path / "clip.mp4")
    with pytest.raises(UnsupportedFormatError, match="read_video_frames"):
        read_image(path)


def test_bad_videos_and_arguments(tmp_path, make_corrupt):
    source = write_video(_frames(), tmp_path / "good.mp4", fps=5)
    for kind, path in make_corrupt(source).items():
        with pytest.raises(InvalidInputError) as info:
            list(read_video_frames(path))
        assert path.name in str(info.value), kind
        with pytest.raises(InvalidInputError):
            video_info(path)
    with pytest.raises(InvalidInputError, match="step"):
        read_video_frames(source, step=0)
    with pytest.raises(InvalidInputError, match="uint8"):
        write_video([np.zeros((8, 8, 3), np.float32)], tmp_path / "f.mp4")
    with pytest.raises(InvalidInputError, match="no frames"):
        write_video([], tmp_path / "e.mp4")
    assert not (tmp_path / "e.mp4").exists()


def test_corrupt_segment_skipped_and_logged(tmp_path, caplog):
    rng = np.random.default_rng(0)
    frames = [(rng.integers(0, 4, (64, 64, 3)) * 64).astype(np.uint8) for _ in range(120)]
    good = write_video(frames, tmp_path / "good.mp4", fps=10)
    data = bytearray(good.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 3000] = rng.integers(0, 255, 3000, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    with pytest.raises(InvalidInputError, match="bad.mp4"):
        list(read_video_frames(bad))
    with caplog.at_level("WARNING", logger="biomedai.io.video"):
        kept = list(read_video_frames(bad, on_error="skip"))
    lost = sum(f.metadata["corrupt_packets_before"] for f in kept)
    assert 60 < len(kept) < 120 and lost >= 1
    assert "corrupt video packet skipped" in caplog.text
    times = [f.metadata["time_s"] for f in kept]
    assert times == sorted(times) and times[-1] == pytest.approx(11.9, abs=0.15)   # decoding went on to the end
    with pytest.raises(InvalidInputError, match="on_error"):
        read_video_frames(good, on_error="ignore")
