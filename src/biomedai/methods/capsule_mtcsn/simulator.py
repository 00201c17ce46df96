"""A capsule-endoscopy frame and video simulator with known answers (SIMULATED data, not a benchmark of real CE).

A *scene* is a patch of small-bowel mucosa larger than the frame: reddish-orange texture, folds, vessels,
an optional lumen ("hole"), optional lesion (ulcer: fibrin-white centre, red rim; erosion: small red/white
spots), clear bubbles and small excreta. A *frame* is a crop of the scene, then one clearness degradation
whose class is known, then specular highlights, lens vignetting and sensor noise:

* clear: none (occluders cover < 40 % of the field);
* blur: motion blur (a line kernel) or defocus (a disk kernel); tissue pixels are labelled "blur tissue";
* invisible: occlusion by a dense bubble layer or by turbid excreta (>= 60 % of the field), or darkness
  (brightness x 0.03-0.08; every pixel labelled background, nothing readable).

Masks use the 8-class palette of :mod:`.palette`. Videos drift the camera over scenes, with bursts of blur,
occlusion and darkness, and report the frame ranges where a lesion is visible (the lesion segments).

Example:
    >>> frame, truth = simulate_frame(np.random.default_rng(0), size=64, cd="blur")
    >>> frame.shape, frame.dtype, truth.cd, truth.mask.shape
    ((64, 64, 3), dtype('uint8'), 'blur', (64, 64))
"""
from __future__ import annotations

import csv
import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from scipy import ndimage, signal

from biomedai.errors import InvalidInputError

from .palette import CD_CLASSES

logger = logging.getLogger(__name__)

#: fraction of frames per CD class in a frame data set (close to the CECD's Table 1: 323/101/42 of 466)
CD_MIX = (0.69, 0.22, 0.09)
BG, CLEAR_TISSUE, BLUR_TISSUE, LESION, HOLE, BUBBLE_INVISIBLE, EXCRETA, CLEAR_BUBBLE = range(8)


@dataclasses.dataclass
class FrameTruth:
    """The known answer of one simulated frame."""

    cd: str                    # "clear" | "blur" | "invisible"
    mask: np.ndarray           # [y, x] uint8 tissue class indices
    degradation: str           # none | motion | defocus | bubbles | excreta | dark
    lesion: str | None         # None | "ulcer" | "erosion" (present in the scene)

    @property
    def cd_index(self) -> int:
        return CD_CLASSES.index(self.cd)

    @property
    def lesion_fraction(self) -> float:
        return float((self.mask == LESION).mean())


@dataclasses.dataclass
class Scene:
    """A mucosa patch (``rgb`` float in [0, 1], ``labels`` uint8) larger than a frame."""

    rgb: np.ndarray
    labels: np.ndarray
    lesion: str | None


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return field / (field.std() + 1e-6)


def _ellipse(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float, angle: float,
             warp: np.ndarray | None = None) -> np.ndarray:
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(np.float32)
    c, s = np.cos(angle), np.sin(angle)
    u, v = (xx - cx) * c + (yy - cy) * s, -(xx - cx) * s + (yy - cy) * c
    r = (u / rx) ** 2 + (v / ry) ** 2
    return r if warp is None else r + warp


def simulate_scene(rng: np.random.Generator, size: int, lesion: str | None = None, margin: float = 1.4,
                   bubbles: bool | None = None) -> Scene:
    """One mucosa scene of ``round(size * margin)`` pixels square; ``lesion`` None, "ulcer" or "erosion"."""
    n = int(round(size * margin))
    k = size / 240.0                                             # geometry scales with the frame size
    shape = (n, n)
    base = np.array([0.80, 0.45, 0.30]) + rng.normal(0, 0.04, 3)  # orange-pink small-bowel mucosa
    coarse = _smooth_noise(rng, shape, 18 * k)
    fine = _smooth_noise(rng, shape, max(1.0, 1.8 * k))          # villi
    shade = 0.85 + 0.08 * coarse + 0.09 * fine
    rgb = base[None, None, :] * shade[..., None]
    labels = np.full(shape, CLEAR_TISSUE, np.uint8)
    yy, xx = np.mgrid[:n, :n].astype(np.float32)
    # folds: dark curved valleys with a lit ridge beside them
    for _ in range(rng.integers(1, 4)):
        angle, phase = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        freq, amp, offset = rng.uniform(0.5, 2.0) * np.pi / n, rng.uniform(5, 25) * k, rng.uniform(0.15, 0.85) * n
        u = xx * np.cos(angle) + yy * np.sin(angle)
        v = -xx * np.sin(angle) + yy * np.cos(angle) + n * np.sin(angle) * 0.0
        dist = v - (offset + amp * np.sin(freq * u + phase))
        width = rng.uniform(4, 9) * k
        valley = np.exp(-(dist / width) ** 2)
        ridge = np.exp(-((dist - 1.6 * width) / (1.2 * width)) ** 2)
        rgb *= (1 - 0.45 * valley)[..., None]
        rgb += 0.12 * ridge[..., None]
    # vessels: thin branching dark-red random walks
    vessel = np.zeros(shape, np.float32)
    for _ in range(rng.integers(2, 6)):
        y, x, heading = rng.uniform(0, n), rng.uniform(0, n), rng.uniform(0, 2 * np.pi)
        for _step in range(int(120 * margin)):
            heading += rng.normal(0, 0.25)
            y, x = y + 1.5 * k * np.sin(heading), x + 1.5 * k * np.cos(heading)
            if 0 <= y < n and 0 <= x < n:
                vessel[int(y), int(x)] = 1.0
    vessel = np.clip(ndimage.gaussian_filter(vessel, max(0.6, 0.9 * k)) * 3, 0, 1)
    rgb = rgb * (1 - 0.35 * vessel[..., None]) + 0.35 * vessel[..., None] * np.array([0.55, 0.08, 0.10])
    # lumen: a dark hole with soft edge
    if rng.random() < 0.5:
        r = _ellipse(shape, rng.uniform(0.2, 0.8) * n, rng.uniform(0.2, 0.8) * n, rng.uniform(20, 45) * k,
                     rng.uniform(20, 45) * k, rng.uniform(0, np.pi), 0.25 * _smooth_noise(rng, shape, 8 * k))
        depth = np.clip(1.3 - r, 0, 1) ** 0.7
        rgb *= (1 - 0.9 * depth)[..., None]
        labels[depth > 0.5] = HOLE
    if lesion is not None:
        rgb, labels = _add_lesion(rng, rgb, labels, lesion, k)
    if bubbles if bubbles is not None else rng.random() < 0.3:
        _add_bubbles(rng, rgb, labels, int(rng.integers(2, 8)), (4 * k, 14 * k), CLEAR_BUBBLE, region=None)
    if rng.random() < 0.2:
        r = _ellipse(shape, rng.uniform(0, n), rng.uniform(0, n), rng.uniform(6, 15) * k, rng.uniform(6, 15) * k,
                     rng.uniform(0, np.pi), 0.3 * _smooth_noise(rng, shape, 3 * k))
        blob = r < 1
        rgb[blob] = np.array([0.45, 0.38, 0.10]) * (0.8 + 0.2 * _smooth_noise(rng, shape, 2 * k)[blob, None])
        labels[blob] = EXCRETA
    return Scene(np.clip(rgb, 0, 1).astype(np.float32), labels, lesion)


def _add_lesion(rng: np.random.Generator, rgb: np.ndarray, labels: np.ndarray, kind: str, k: float
                ) -> tuple[np.ndarray, np.ndarray]:
    n = rgb.shape[0]
    centre = rng.uniform(0.35, 0.65, 2) * n                       # near the middle: visible in most crops
    if kind == "ulcer":
        ry, rx = rng.uniform(10, 26, 2) * k
        r = _ellipse(labels.shape, centre[0], centre[1], ry, rx, rng.uniform(0, np.pi),
                     0.25 * _smooth_noise(rng, labels.shape, 4 * k))
        rim = (r < 1.8) & (r >= 1)
        core = r < 1
        rgb[rim] = rgb[rim] * 0.5 + 0.5 * np.array([0.85, 0.12, 0.10])          # inflamed red rim
        rgb[core] = np.array([0.93, 0.90, 0.70]) * (0.9 + 0.05 * rng.standard_normal((int(core.sum()), 1)))
        labels[core | rim] = LESION
    elif kind == "erosion":
        for _ in range(rng.integers(3, 8)):
            spot = rng.normal(centre, 18 * k)
            r = _ellipse(labels.shape, spot[0], spot[1], rng.uniform(2.5, 6) * k, rng.uniform(2.5, 6) * k, 0.0)
            red, white = r < 1.6, r < 0.7
            rgb[red] = rgb[red] * 0.4 + 0.6 * np.array([0.90, 0.10, 0.12])
            rgb[white] = np.array([0.95, 0.93, 0.85])
            labels[red] = LESION
    else:
        raise ValueError(f"unknown lesion kind {kind!r}")
    return rgb, labels


def _add_bubbles(rng: np.random.Generator, rgb: np.ndarray, labels: np.ndarray, count: int,
                 radius: tuple[float, float], label: int, region: np.ndarray | None) -> None:
    n_y, n_x = labels.shape
    yy, xx = np.mgrid[:n_y, :n_x].astype(np.float32)
    for _ in range(count):
        cy, cx, r = rng.uniform(0, n_y), rng.uniform(0, n_x), rng.uniform(*radius)
        y0, y1, x0, x1 = int(max(cy - r - 2, 0)), int(min(cy + r + 3, n_y)), int(max(cx - r - 2, 0)), \
            int(min(cx + r + 3, n_x))
        if y1 <= y0 or x1 <= x0:
            continue
        d = np.sqrt((yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2) / r
        inside = d < 1
        if region is not None:
            inside &= region[y0:y1, x0:x1]
        rim = np.clip(1 - np.abs(d - 0.92) / 0.1, 0, 1) * inside
        sub = rgb[y0:y1, x0:x1]
        sub[inside] = sub[inside] * 0.75 + 0.25 * np.array([0.95, 0.92, 0.75])
        sub += 0.5 * rim[..., None]
        glint = np.sqrt((yy[y0:y1, x0:x1] - cy + 0.45 * r) ** 2 + (xx[y0:y1, x0:x1] - cx + 0.4 * r) ** 2) < 0.18 * r
        sub[glint & inside] = 1.0
        labels[y0:y1, x0:x1][inside] = label


def _line_kernel(length: int, angle: float) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    for t in np.linspace(-c, c, 4 * length):
        kernel[int(round(c + t * np.sin(angle))), int(round(c + t * np.cos(angle)))] = 1
    return kernel / kernel.sum()


def _disk_kernel(radius: float) -> np.ndarray:
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    kernel = (yy ** 2 + xx ** 2 <= radius ** 2).astype(np.float32)
    return kernel / kernel.sum()


def _blur(rgb: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return np.stack([signal.fftconvolve(rgb[..., c], kernel, mode="same") for c in range(3)], -1)


def render_frame(rng: np.random.Generator, scene: Scene, size: int, offset: tuple[int, int], cd: str,
                 degradation: str | None = None) -> tuple[np.ndarray, FrameTruth]:
    """Crop ``scene`` at ``offset`` and apply the degradation of CD class ``cd`` (random kind if not given)."""
    if cd not in CD_CLASSES:
        raise ValueError(f"cd must be one of {CD_CLASSES}, got {cd!r}")
    k = size / 240.0
    y, x = offset
    rgb = scene.rgb[y:y + size, x:x + size].copy()
    labels = scene.labels[y:y + size, x:x + size].copy()
    if rgb.shape[:2] != (size, size):
        raise ValueError(f"offset {offset} leaves the scene of {scene.rgb.shape[:2]}")
    shape = labels.shape
    # specular highlights (wet mucosa), before the degradation so that blur smears them too
    for _ in range(rng.integers(0, 6)):
        r = _ellipse(shape, rng.uniform(0, size), rng.uniform(0, size), rng.uniform(1, 4) * k + 0.5,
                     rng.uniform(2, 8) * k + 0.5, rng.uniform(0, np.pi))
        rgb = np.where((r < 1)[..., None], 1.0, rgb)
    if cd == "clear":
        degradation = "none"
    elif cd == "blur":
        degradation = degradation or ("motion" if rng.random() < 0.6 else "defocus")
        if degradation == "motion":
            kernel = _line_kernel(max(int(rng.integers(9, 22) * k), 7) | 1, rng.uniform(0, np.pi))
        else:
            kernel = _disk_kernel(max(rng.uniform(4, 8) * k, 2.5))
        rgb = _blur(rgb, kernel)
        labels[labels == CLEAR_TISSUE] = BLUR_TISSUE
    else:
        degradation = degradation or str(rng.choice(["bubbles", "excreta", "dark"], p=[0.4, 0.4, 0.2]))
        if degradation == "dark":
            rgb *= rng.uniform(0.03, 0.08)
            labels[:] = BG
        else:
            cover = _smooth_noise(rng, shape, 20 * k) < rng.uniform(0.6, 1.4)    # >= ~70% of the field
            cover = ndimage.binary_closing(cover, iterations=2)
            if degradation == "bubbles":
                tint = rgb * 0.6 + 0.4 * np.array([0.85, 0.85, 0.65])
                rgb = np.where(cover[..., None], tint, rgb)
                _add_bubbles(rng, rgb, labels, int(260 * k * k) + 20, (3 * k + 1, 9 * k + 1), BUBBLE_INVISIBLE,
                             region=cover)
                labels[cover] = BUBBLE_INVISIBLE
            else:
                turbid = np.array([0.50, 0.42, 0.12]) * (0.85 + 0.15 * _smooth_noise(rng, shape, 3 * k))[..., None]
                alpha = np.clip(ndimage.gaussian_filter(cover.astype(np.float32), 2 * k), 0, 1)[..., None]
                rgb = rgb * (1 - 0.95 * alpha) + 0.95 * alpha * turbid
                labels[cover] = EXCRETA
    # lens vignetting: radial fall-off, black outside the field circle (labelled background)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    radius = np.sqrt((yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2) / (size / 2)
    rgb *= np.clip(1.15 - 0.55 * radius ** 2, 0, 1)[..., None]
    outside = radius > 1.02
    rgb += rng.normal(0, 0.01, rgb.shape)
    rgb[outside] = 0
    labels[outside] = BG
    frame = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    return frame, FrameTruth(cd, labels, degradation, scene.lesion)


def simulate_frame(rng: np.random.Generator, size: int = 240, cd: str | None = None,
                   lesion: str | None | bool = None) -> tuple[np.ndarray, FrameTruth]:
    """One frame and its truth: ``cd`` drawn from :data:`CD_MIX` and a lesion in ~35 % of scenes if not given."""
    cd = cd or str(rng.choice(CD_CLASSES, p=CD_MIX))
    if lesion is None or lesion is True:
        lesion = (str(rng.choice(["ulcer", "erosion"])) if lesion is True or rng.random() < 0.35 else None)
    scene = simulate_scene(rng, size, lesion or None)
    span = scene.rgb.shape[0] - size
    return render_frame(rng, scene, size, (int(rng.integers(0, span + 1)), int(rng.integers(0, span + 1))), cd)


def simulate_frames(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[FrameTruth]]:
    """``n`` frames: ``images [n, y, x, 3] uint8``, ``cd [n]``, ``masks [n, y, x]`` and the truths."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.empty((n, size, size), np.uint8)
    cds = np.empty(n, np.int64)
    truths = []
    for i in range(n):
        images[i], truth = simulate_frame(rng, size)
        masks[i], cds[i] = truth.mask, truth.cd_index
        truths.append(dataclasses.replace(truth, mask=np.empty(0, np.uint8)))
    return images, cds, masks, truths


# ---------------------------------------------------------------------------------------------- videos
@dataclasses.dataclass
class VideoTruth:
    """Per-frame known answers of a simulated video and its lesion segments (inclusive frame ranges)."""

    fps: float
    cd: list[str] = dataclasses.field(default_factory=list)
    lesion_fraction: list[float] = dataclasses.field(default_factory=list)
    scene: list[int] = dataclasses.field(default_factory=list)

    def lesion_segments(self, min_fraction: float = 0.005, min_frames: int = 2) -> list[tuple[int, int]]:
        """Runs of frames where a lesion covers >= ``min_fraction`` of a non-invisible frame."""
        visible = [f >= min_fraction and c != "invisible" for f, c in zip(self.lesion_fraction, self.cd)]
        segments, start = [], None
        for i, v in enumerate([*visible, False]):
            if v and start is None:
                start = i
            elif not v and start is not None:
                if i - start >= min_frames:
                    segments.append((start, i - 1))
                start = None
        return segments

    @classmethod
    def read_csv(cls, path: Path) -> VideoTruth:
        """Read back the truth table written from :meth:`to_rows` (``simulate-video``)."""
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if not rows or not {"cd_class", "lesion_fraction", "scene", "time"} <= set(rows[0]):
            raise InvalidInputError("not a simulated-video truth table (frame_idx,time,cd_class,lesion_fraction,scene)",
                                    path)
        step = float(rows[1]["time"]) - float(rows[0]["time"]) if len(rows) > 1 else 0.0
        truth = cls(1.0 / step if step > 0 else 1.0)
        for row in rows:
            truth.cd.append(row["cd_class"])
            truth.lesion_fraction.append(float(row["lesion_fraction"]))
            truth.scene.append(int(row["scene"]))
        return truth

    def to_rows(self) -> list[dict[str, object]]:
        return [{"frame_idx": i, "time": round(i / self.fps, 4), "cd_class": c, "lesion_fraction": round(f, 5),
                 "scene": s} for i, (c, f, s) in enumerate(zip(self.cd, self.lesion_fraction, self.scene))]


def simulate_video_frames(n_frames: int, size: int = 240, fps: float = 4.0, seed: int = 0,
                          lesion_rate: float = 0.2, truth: VideoTruth | None = None
                          ) -> Iterator[tuple[np.ndarray, FrameTruth]]:
    """Stream ``n_frames`` frames: the camera drifts over scenes of 20-80 frames; a fraction ``lesion_rate``
    of scenes holds a lesion; blur, occlusion and darkness come in bursts. Fills ``truth`` as it goes."""
    if n_frames < 1 or size < 32:
        raise InvalidInputError(f"need n_frames >= 1 and size >= 32, got {n_frames}, {size}")
    rng = np.random.default_rng(seed)
    produced, scene_id, state, state_left = 0, -1, "clear", 0
    while produced < n_frames:
        scene_id += 1
        lesion = str(rng.choice(["ulcer", "erosion"])) if rng.random() < lesion_rate else None
        scene = simulate_scene(rng, size, lesion, margin=1.6)
        span = scene.rgb.shape[0] - size
        length = int(rng.integers(20, 81))
        pos = rng.uniform(0, span, 2)
        velocity = rng.normal(0, span / length, 2)
        for _ in range(min(length, n_frames - produced)):
            if state_left <= 0:
                state = str(rng.choice(CD_CLASSES, p=(0.75, 0.17, 0.08)))
                state_left = int(rng.integers(8, 30)) if state == "clear" else int(rng.integers(2, 10))
            state_left -= 1
            pos = pos + velocity
            for axis in range(2):                                 # bounce off the scene's edges
                if not 0 <= pos[axis] <= span:
                    velocity[axis] *= -1
                    pos[axis] = float(np.clip(pos[axis], 0, span))
            frame, frame_truth = render_frame(rng, scene, size, (int(pos[0]), int(pos[1])), state)
            if truth is not None:
                truth.cd.append(frame_truth.cd)
                truth.lesion_fraction.append(frame_truth.lesion_fraction)
                truth.scene.append(scene_id)
            produced += 1
            yield frame, frame_truth


def write_simulated_video(path: str | Path, n_frames: int, size: int = 240, fps: float = 4.0, seed: int = 0,
                          lesion_rate: float = 0.2, codec: str | None = None) -> VideoTruth:
    """Write a simulated CE video (frames streamed to the encoder) and return its :class:`VideoTruth`."""
    from biomedai.io.video import write_video

    truth = VideoTruth(fps)
    frames = (frame for frame, _ in simulate_video_frames(n_frames, size, fps, seed, lesion_rate, truth))
    write_video(frames, path, fps=fps, codec=codec)
    logger.info("simulated video %s: %d frames, %d lesion segments", path, n_frames, len(truth.lesion_segments()))
    return truth
