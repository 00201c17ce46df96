"""Video frames (capsule endoscopy, ultrasound clips, microscopy movies) through PyAV.

Frames come one at a time as RGB :class:`Image` objects with ``metadata["frame_index"]`` and
``metadata["time_s"]``, so long videos never sit in memory whole.

Example:
    >>> import tempfile, numpy as np
    >>> p = Path(tempfile.mkdtemp()) / "clip.mp4"
    >>> _ = write_video([np.full((32, 48, 3), v, np.uint8) for v in (0, 128, 255)], p, fps=5)
    >>> video_info(p)["n_frames"], [f.metadata["frame_index"] for f in read_video_frames(p, step=2)]
    (3, [0, 2])
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.io._files import existing_file, reading, writing
from biomedai.io.image import Image
from biomedai.io.limits import check_array_size, check_frames
from biomedai.utils import atomic_path

logger = logging.getLogger(__name__)


def video_info(path: str | Path) -> dict[str, Any]:
    """Container facts without decoding every frame: size, fps, frame count, duration, codec."""
    import av

    path = existing_file(path)
    with reading(path, "video"):
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            fps = float(stream.average_rate) if stream.average_rate else None
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            n_frames = int(stream.frames) if stream.frames else None
            if n_frames is None and duration is not None and fps:
                n_frames = int(round(duration * fps))
            return {"format": "video", "container": container.format.name, "codec": stream.codec_context.name,
                    "width": int(stream.codec_context.width), "height": int(stream.codec_context.height),
                    "fps": fps, "n_frames": n_frames, "n_frames_exact": bool(stream.frames),
                    "duration_s": duration, "pixel_format": stream.codec_context.pix_fmt}


def read_video_frames(path: str | Path, start: int = 0, stop: int | None = None, step: int = 1,
                      on_error: str = "raise") -> Iterator[Image]:
    """Yield frames ``start, start+step, ...`` (before ``stop``) as ``[y, x, 3]`` uint8 RGB images.

    Decoding errors in the middle of a file raise :class:`InvalidInputError` naming the file and the
    frame index reached; with ``on_error="skip"`` the corrupt packets are logged and skipped, decoding
    goes on, and each frame's ``metadata["corrupt_packets_before"]`` counts the packets skipped since
    the frame before it (frame indices then count decoded frames; ``time_s`` stays the stream's time).
    """
    if on_error not in ("raise", "skip"):
        raise InvalidInputError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    import av

    if start < 0 or step < 1 or (stop is not None and stop < start):
        raise InvalidInputError(f"need 0 <= start <= stop and step >= 1, got start={start}, stop={stop}, "
                                f"step={step}")
    path = existing_file(path)
    with reading(path, "video"):
        container = av.open(str(path))
    try:
        stream = _video_stream(container, path)
        with reading(path, "video"):
            height, width, frames = int(stream.codec_context.height or 1), int(stream.codec_context.width or 1), \
                int(stream.frames or 0)
        check_array_size((height, width, 3), 1, path, "video frame")
        check_frames(frames, path, "video frames")
    except BaseException:
        container.close()
        raise
    return _iterate_frames(container, stream, path, start, stop, step, on_error == "skip")


def _decode_skipping_corrupt(container: Any, stream: Any, path: Path, skipped: list[int]) -> Iterator[Any]:
    """Decode packet by packet; a packet the decoder refuses is logged, counted in ``skipped[0]`` and passed."""
    import av

    for packet in container.demux(stream):
        try:
            decoded = packet.decode()
        except av.error.FFmpegError as exc:
            skipped[0] += 1
            when = float(packet.pts * packet.time_base) if packet.pts is not None and packet.time_base else None
            logger.warning("%s: corrupt video packet skipped (stream time %s s): %s", path,
                           "?" if when is None else f"{when:.3f}", exc)
            continue
        yield from decoded


def _iterate_frames(container: Any, stream: Any, path: Path, start: int, stop: int | None, step: int,
                    skip_corrupt: bool = False) -> Iterator[Image]:
    index = -1
    skipped = [0]
    reported = 0
    try:
        fps = float(stream.average_rate) if stream.average_rate else None
        frames = _decode_skipping_corrupt(container, stream, path, skipped) if skip_corrupt \
            else container.decode(stream)
        while True:
            with reading(path, f"video (at frame {index + 1})"):
                try:
                    frame = next(frames)
                except StopIteration:
                    break
            index += 1
            if stop is not None and index >= stop:
                break
            check_frames(index + 1, path, "video frames")
            if index < start or (index - start) % step:
                continue
            time_s = float(frame.time) if frame.time is not None else (index / fps if fps else None)
            array = frame.to_ndarray(format="rgb24")
            metadata = {"format": "video", "frame_index": index, "time_s": time_s, "fps": fps}
            if skip_corrupt:
                metadata["corrupt_packets_before"], reported = skipped[0] - reported, skipped[0]
            yield Image(array, channel_axis=-1, spacing_unit="pixel", metadata=metadata)
    finally:
        container.close()
    if index < 0:
        raise InvalidInputError("video holds no decodable frames", path)


def _video_stream(container: Any, path: Path) -> Any:
    if not container.streams.video:
        raise InvalidInputError("file has no video stream", path)
    return container.streams.video[0]


def write_video(frames: Iterable[np.ndarray | Image], path: str | Path, fps: float = 10.0,
                codec: str | None = None) -> Path:
    """Write RGB uint8 frames (all one size) to a video file, atomically.

    ``codec`` defaults to ``mpeg4`` for .mp4/.avi/.mov and ``ffv1`` (lossless) for .mkv. Frame
    sizes are padded to even numbers as most codecs require.
    """
    import av

    path = Path(path)
    suffix = path.suffix.lower()
    codec = codec or {".mkv": "ffv1"}.get(suffix, "mpeg4")
    written = 0
    with writing(path, "video"), atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format={".mkv": "matroska", ".avi": "avi", ".mov": "mov"}.get(suffix, "mp4")
                     ) as container:
            stream = None
            for item in frames:
                array = item.array if isinstance(item, Image) else np.asarray(item)
                array = _rgb_frame(array, path)
                if stream is None:
                    stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
                    stream.width, stream.height = array.shape[1], array.shape[0]
                    stream.pix_fmt = "yuv420p" if codec != "ffv1" else "bgr0"
                    shape = array.shape
                elif array.shape != shape:
                    raise InvalidInputError(f"frame {written} has shape {array.shape}, first frame {shape}", path)
                frame = av.VideoFrame.from_ndarray(array, format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
                written += 1
            if stream is None:
                raise InvalidInputError("no frames to write", path)
            for packet in stream.encode():
                container.mux(packet)
    return path


def _rgb_frame(array: np.ndarray, path: Path) -> np.ndarray:
    if array.ndim == 2:
        array = np.repeat(array[..., np.newaxis], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] != 3 or array.dtype != np.uint8 or array.size == 0:
        raise InvalidInputError(f"video frames must be [y, x, 3] uint8, got {array.shape} {array.dtype}", path)
    height, width = array.shape[:2]
    if height % 2 or width % 2:
        array = np.pad(array, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    return np.ascontiguousarray(array)
