"""Simulated tactile data with known truth, from the contact mechanics in :mod:`.mechanics`.

* palpation sequences: the probe slides over tissue with (or without) an inclusion;
* inverse-problem cases (Lee & Won 2013): one press centred over an inclusion of size d, depth h,
  modulus E, with the truth;
* contact shapes (Liu 2012), slip direction (Zapata-Impata 2019) and hardness (Yuan 2017): rigid
  or soft objects of known footprint pressed on the sensor, each frame a contact solve.

Every generator takes a ``numpy.random.Generator``; its seed and :data:`SIMULATOR_VERSION` go into
each output's provenance. All data here are simulated.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from .config import CONTACT_SHAPES, SLIP_CLASSES, TactileConfig
from .mechanics import MODEL_VERSION, HalfSpaceModel, Probe, Tissue, rectangle_inverse_distance
from .sensors import SensorLayout

SIMULATOR_VERSION = f"tactile_mis.simulate 1 ({MODEL_VERSION})"

#: ASTM D2240 type 00 durometer: spring force F = 0.2039 + 0.0092 H N on a 1.19 mm radius hemisphere
#: that protrudes 2.54 mm at H = 0 (our reading of the standard; durometer scales are empirical)
SHORE00_SPRING_N = (0.2039, 0.0092)
SHORE00_TIP_RADIUS_MM = 1.19
SHORE00_TRAVEL_MM = 2.54

#: a BioTac-SP-like sparse layout: 24 electrodes on a 12 x 11 image (our placement; the review's
#: Figure 3 is not in the seed text). Rows 0-11, columns 0-10.
BIOTAC_LIKE_ELECTRODES: tuple[tuple[int, int], ...] = (
    (0, 3), (0, 7), (1, 1), (1, 5), (1, 9), (3, 0), (3, 3), (3, 7), (3, 10), (5, 2), (5, 5), (5, 8),
    (6, 0), (6, 10), (7, 3), (7, 7), (8, 5), (9, 1), (9, 9), (10, 3), (10, 7), (11, 0), (11, 5), (11, 10))


def biotac_like_layout() -> SensorLayout:
    return SensorLayout("biotac_sp_like", 12, 11, np.array(BIOTAC_LIKE_ELECTRODES), pitch_mm=2.0)


def tissue_from_config(cfg: TactileConfig, with_inclusion: bool = True) -> Tissue:
    return Tissue(cfg.tissue_modulus_kpa, cfg.poisson_ratio, cfg.block_thickness_mm, cfg.block_size_mm,
                  cfg.inclusion_diameter_mm if with_inclusion else 0.0, cfg.inclusion_depth_mm,
                  cfg.inclusion_modulus_kpa)


def probe_from_config(cfg: TactileConfig) -> Probe:
    return Probe(cfg.sensor_rows, cfg.sensor_cols, cfg.taxel_pitch_mm, cfg.skin_stiffness_n_mm3)


# ----------------------------------------------------------------------------------- palpation
@dataclasses.dataclass
class PalpationRecording:
    frames: np.ndarray          # (T, rows, cols) forces, N (noisy)
    clean: np.ndarray           # (T, rows, cols) noise-free forces
    path_xy: np.ndarray         # (T, 2) probe centre, mm
    indentation_mm: np.ndarray  # (T,)
    tissue: Tissue
    probe: Probe
    seed: int

    def truth(self) -> dict[str, object]:
        return {"simulator": SIMULATOR_VERSION, "seed": self.seed, "tissue": dataclasses.asdict(self.tissue),
                "probe": dataclasses.asdict(self.probe), "path_xy_mm": self.path_xy.tolist(),
                "indentation_mm": self.indentation_mm.tolist()}


def line_path(start: Sequence[float], stop: Sequence[float], frames: int) -> np.ndarray:
    """(frames, 2) probe centres along a straight transverse scan (Hosseini 2010)."""
    t = np.linspace(0.0, 1.0, frames)[:, None]
    return np.asarray(start, float) * (1 - t) + np.asarray(stop, float) * t


def palpation(tissue: Tissue, probe: Probe, path_xy: np.ndarray, indentation: float | np.ndarray, noise_n: float,
              seed: int, influence_radius: float = 16.0) -> PalpationRecording:
    """Press the probe at every point of ``path_xy``; Gaussian sensor noise of ``noise_n`` N per taxel."""
    model = HalfSpaceModel(tissue, probe, influence_radius)
    depth = np.broadcast_to(np.asarray(indentation, float), (len(path_xy),)).copy()
    clean = np.stack([model.press(tuple(xy), d) for xy, d in zip(path_xy, depth)])
    rng = np.random.default_rng(seed)
    noisy = np.clip(clean + rng.normal(0.0, noise_n, clean.shape), 0.0, None)
    return PalpationRecording(noisy, clean, np.asarray(path_xy, float), depth, tissue, probe, seed)


# ----------------------------------------------------------------------------------- inverse problem
@dataclasses.dataclass(frozen=True)
class InclusionRanges:
    """Ranges the inclusion parameters are drawn from (uniform): d and h in mm, E in kPa."""

    diameter: tuple[float, float] = (4.0, 14.0)
    depth: tuple[float, float] = (4.0, 12.0)
    modulus_kpa: tuple[float, float] = (120.0, 600.0)


def inclusion_cases(cfg: TactileConfig, n: int, ranges: InclusionRanges, seed: int,
                    max_offset_mm: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """n noisy force maps (n, rows, cols) of presses over an inclusion, and their truth (n, 3) = (d, h, E kPa).

    The inclusion is centred under the probe within ``max_offset_mm``; its top stays below the surface.
    """
    rng = np.random.default_rng(seed)
    probe = probe_from_config(cfg)
    maps, truth = [], []
    for _ in range(n):
        d = rng.uniform(*ranges.diameter)
        h = max(rng.uniform(*ranges.depth), d / 2 + 0.5)
        e = rng.uniform(*ranges.modulus_kpa)
        offset = rng.uniform(-max_offset_mm, max_offset_mm, 2)
        tissue = dataclasses.replace(tissue_from_config(cfg), inclusion_diameter=d, inclusion_depth=h,
                                     inclusion_modulus_kpa=e, inclusion_xy=(float(offset[0]), float(offset[1])))
        clean = HalfSpaceModel(tissue, probe, cfg.influence_radius_mm).press((0.0, 0.0), cfg.indentation_mm)
        maps.append(np.clip(clean + rng.normal(0, cfg.noise_n, clean.shape), 0, None))
        truth.append((d, h, e))
    return np.stack(maps), np.array(truth)


def homogeneous_map(cfg: TactileConfig) -> np.ndarray:
    """The nodule-free press of the same probe (the baseline of the subtraction map), noise-free."""
    return HalfSpaceModel(tissue_from_config(cfg, with_inclusion=False), probe_from_config(cfg),
                          cfg.influence_radius_mm).press((0.0, 0.0), cfg.indentation_mm)


# ----------------------------------------------------------------------------------- objects on the sensor
def footprint(shape: str, size: float, angle: float, center: Sequence[float], x: np.ndarray,
              y: np.ndarray) -> np.ndarray:
    """Boolean footprint of a contact shape of characteristic ``size`` (mm) on points (x, y)."""
    c, s = math.cos(angle), math.sin(angle)
    u = c * (x - center[0]) + s * (y - center[1])
    v = -s * (x - center[0]) + c * (y - center[1])
    r = size / 2
    if shape == "disc":
        return u ** 2 + v ** 2 <= r ** 2
    if shape == "square":
        return (np.abs(u) <= r) & (np.abs(v) <= r)
    if shape == "triangle":   # equilateral, circumradius r
        return (v >= -r / 2) & (math.sqrt(3) * u + v <= r) & (-math.sqrt(3) * u + v <= r)
    if shape == "bar":        # a 3:1 rectangle
        return (np.abs(u) <= r * 1.5) & (np.abs(v) <= r / 2)
    if shape == "ellipse":    # 2:1, an object of the unseen set
        return (u / (1.2 * r)) ** 2 + (v / (0.6 * r)) ** 2 <= 1
    if shape == "cross":
        return ((np.abs(u) <= r) & (np.abs(v) <= r / 3)) | ((np.abs(v) <= r) & (np.abs(u) <= r / 3))
    if shape == "ring":
        return (u ** 2 + v ** 2 <= r ** 2) & (u ** 2 + v ** 2 >= (0.5 * r) ** 2)
    raise ValueError(f"unknown contact shape {shape!r}")


class ObjectContact:
    """Pressure on a rows x cols sensor from an object pressed ``delta`` mm into its skin.

    Each taxel in contact carries skin stiffness ``k`` times its covered fraction (4 x 4 sub-samples);
    the object (modulus ``object_kpa``, half-space) and the soft substrate under the skin add their
    Boussinesq compliances, so soft objects spread and flatten the pressure.
    """

    def __init__(self, rows: int, cols: int, pitch: float, k_skin: float = 0.05, substrate_kpa: float = 200.0,
                 poisson: float = 0.45, subsamples: int = 4):
        self.rows, self.cols, self.pitch, self.k_skin = rows, cols, pitch, k_skin
        self.substrate_kpa, self.poisson = substrate_kpa, poisson
        xs = (np.arange(cols) - (cols - 1) / 2) * pitch
        ys = (np.arange(rows) - (rows - 1) / 2) * pitch
        self.gx, self.gy = np.meshgrid(xs, ys)
        dx = self.gx.ravel()[:, None] - self.gx.ravel()[None, :]
        dy = self.gy.ravel()[:, None] - self.gy.ravel()[None, :]
        self._unit = (1 - poisson ** 2) / math.pi * rectangle_inverse_distance(dx, dy, pitch / 2)
        offsets = ((np.arange(subsamples) + 0.5) / subsamples - 0.5) * pitch
        self._sub = np.stack(np.meshgrid(offsets, offsets), -1).reshape(-1, 2)

    def coverage(self, shape: str, size: float, angle: float, center: Sequence[float]) -> np.ndarray:
        hits = [footprint(shape, size, angle, center, self.gx + ox, self.gy + oy) for ox, oy in self._sub]
        return np.mean(hits, axis=0)

    def pressures_to_forces(self, coverage: np.ndarray, delta: float, object_kpa: float = 1e6) -> np.ndarray:
        """(rows, cols) forces (N) for a footprint ``coverage`` pressed ``delta`` mm in."""
        cov = coverage.ravel()
        active = cov > 0
        forces = np.zeros(cov.shape)
        if active.any() and delta > 0:
            inv_modulus = 1 / (self.substrate_kpa * 1e-3) + 1 / (object_kpa * 1e-3)
            compliance = self._unit[np.ix_(active, active)] * inv_modulus
            k = self.k_skin * cov[active]
            system = np.eye(int(active.sum())) + k[:, None] * compliance
            pressure = np.linalg.solve(system, k * delta)
            forces[active] = pressure * self.pitch ** 2
        return forces.reshape(self.rows, self.cols)


def shape_sequences(n: int, seed: int, shapes: Sequence[str] = CONTACT_SHAPES, size_range: tuple[float, float] = (5.0, 9.0),
                    frames: int = 4, grid: int = 16, pitch: float = 1.0,
                    noise_n: float = 0.002) -> tuple[np.ndarray, np.ndarray]:
    """n pressing sequences (n, frames, grid, grid) of rigid shapes, and the shape index per sequence."""
    rng = np.random.default_rng(seed)
    contact = ObjectContact(grid, grid, pitch)
    seqs, labels = [], []
    for _ in range(n):
        label = int(rng.integers(len(shapes)))
        size, angle = rng.uniform(*size_range), rng.uniform(0, 2 * math.pi)
        center = rng.uniform(-2.0, 2.0, 2) * pitch
        cov = contact.coverage(shapes[label], size, angle, center)
        peak = rng.uniform(0.3, 1.0)
        unit = contact.pressures_to_forces(cov, 1.0)        # linear elasticity: forces scale with the depth
        seq = [unit * peak * (t + 1) / frames for t in range(frames)]
        seqs.append(np.clip(np.stack(seq) + rng.normal(0, noise_n, (frames, grid, grid)), 0, None))
        labels.append(label)
    return np.stack(seqs), np.array(labels)


def normalised_pressure_map(sequence: np.ndarray) -> np.ndarray:
    """Liu et al. 2012 step (i): a strongly correlated sequence -> one map (frame mean scaled to max 1)."""
    mean = np.asarray(sequence, float).mean(axis=-3)
    peak = mean.max(axis=(-2, -1), keepdims=True)
    return mean / np.where(peak > 0, peak, 1.0)


def slip_sequences(n: int, seed: int, frames: int = 5, shapes: Sequence[str] = ("disc", "square", "bar", "triangle"),
                   noise_n: float = 0.002, speed_mm: float = 0.8,
                   angle_step: float = math.radians(8)) -> tuple[np.ndarray, np.ndarray]:
    """n (frames, 12, 11) BioTac-like tactile image sequences (24 electrodes, gaps filled) and slip labels.

    Classes (Zapata-Impata 2019): the object slides north/south/east/west, rotates clockwise or
    anticlockwise about its centre, or just touches (pressure changes, no motion).
    """
    rng = np.random.default_rng(seed)
    layout = biotac_like_layout()
    contact = ObjectContact(layout.rows, layout.cols, layout.pitch_mm)
    moves = {"north": (0.0, 1.0), "south": (0.0, -1.0), "east": (1.0, 0.0), "west": (-1.0, 0.0)}
    seqs, labels = [], []
    for _ in range(n):
        label = int(rng.integers(len(SLIP_CLASSES)))
        name = SLIP_CLASSES[label]
        shape = shapes[int(rng.integers(len(shapes)))]
        size = rng.uniform(8.0, 13.0)
        angle = rng.uniform(0, 2 * math.pi)
        center = rng.uniform(-2.0, 2.0, 2)
        delta = rng.uniform(0.4, 1.0)
        speed = speed_mm * rng.uniform(0.7, 1.3)
        images = []
        for t in range(frames):
            c, a, d = center.copy(), angle, delta
            if name in moves:
                c = center + np.array(moves[name]) * speed * t
            elif name == "clockwise":
                a = angle - angle_step * t
            elif name == "anticlockwise":
                a = angle + angle_step * t
            else:
                d = delta * (1 + 0.1 * t)
            forces = contact.pressures_to_forces(contact.coverage(shape, size, a, c), d)
            values = layout.from_image(forces) + rng.normal(0, noise_n, layout.n_elements)
            images.append(layout.to_image(np.clip(values, 0, None)))
        seqs.append(np.stack(images))
        labels.append(label)
    return np.stack(seqs), np.array(labels)


# ----------------------------------------------------------------------------------- hardness
def shore00_to_modulus_kpa(hardness: np.ndarray | float, poisson: float = 0.5) -> np.ndarray:
    """Young's modulus (kPa) that gives a Shore 00 reading, from Hertz contact of the durometer tip.

    The type 00 tip (a 1.19 mm-radius sphere) sinks ``2.54 (100 - H) / 100`` mm under the spring force
    ``F = 0.2039 + 0.0092 H`` N; Hertz: ``F = 4/3 E/(1 - nu^2) sqrt(R) d^1.5``. An approximation:
    durometer scales are empirical and Hertz is stretched at deep indentation (low H).
    """
    h = np.asarray(hardness, float)
    force = SHORE00_SPRING_N[0] + SHORE00_SPRING_N[1] * h
    depth = SHORE00_TRAVEL_MM * (100 - h) / 100
    modulus = 3 * force * (1 - poisson ** 2) / (4 * math.sqrt(SHORE00_TIP_RADIUS_MM) * depth ** 1.5)
    return modulus * 1e3


def modulus_kpa_to_shore00(modulus_kpa: np.ndarray | float, poisson: float = 0.5) -> np.ndarray:
    """Inverse of :func:`shore00_to_modulus_kpa` (bisection on the monotone relation), H in [0, 99.9]."""
    target = np.asarray(modulus_kpa, float)
    lo, hi = np.zeros_like(target), np.full_like(target, 99.9)
    for _ in range(60):
        mid = (lo + hi) / 2
        too_soft = shore00_to_modulus_kpa(mid, poisson) < target
        lo, hi = np.where(too_soft, mid, lo), np.where(too_soft, hi, mid)
    return (lo + hi) / 2


def hardness_sequences(n: int, seed: int, shapes: Sequence[str] = CONTACT_SHAPES,
                       shore_range: tuple[float, float] = (8.0, 87.0), frames: int = 6, grid: int = 16,
                       noise_n: float = 0.002) -> tuple[np.ndarray, np.ndarray]:
    """n pressing sequences (n, frames, grid, grid) of soft objects of known Shore 00 hardness.

    Every object is pressed with the same displacement ramp (the gripper's closing motion); the
    size, footprint shape and position vary, so the hardness must be read from how the pressure
    grows and spreads, not from the shape (Yuan et al. 2017).
    """
    rng = np.random.default_rng(seed)
    contact = ObjectContact(grid, grid, 1.0, k_skin=0.05, substrate_kpa=200.0)
    seqs, hardness = [], []
    for _ in range(n):
        shore = rng.uniform(*shore_range)
        modulus = float(shore00_to_modulus_kpa(shore))
        shape = shapes[int(rng.integers(len(shapes)))]
        cov = contact.coverage(shape, rng.uniform(5.0, 10.0), rng.uniform(0, 2 * math.pi), rng.uniform(-2, 2, 2))
        unit = contact.pressures_to_forces(cov, 1.0, modulus)   # linear: forces scale with the ramp depth
        seq = [unit * 0.25 * (t + 1) for t in range(frames)]
        seqs.append(np.clip(np.stack(seq) + rng.normal(0, noise_n, (frames, grid, grid)), 0, None))
        hardness.append(shore)
    return np.stack(seqs), np.array(hardness)
