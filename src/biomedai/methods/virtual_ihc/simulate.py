"""SIMULATED paired H&E / Ki-67 IHC tiles with a known positive fraction per region (a known answer).

One nucleus layout gives both stains: the H&E tile (haematoxylin nuclei on eosin tissue) and the IHC tile
(brown DAB nuclei for Ki-67-positive cells, blue haematoxylin for negative ones, on pale background).
"Tumour" tiles have larger, darker nuclei and a higher positive fraction than "normal" tiles; a nucleus's
positivity is drawn at random and is **not visible on H&E**, so a generator can only get the ratio right
from the tile's class (morphology or the condition channel). This is the only place where the paper's
claim (the MIL condition brings the synthetic ratio closer to the real one) has a known answer.

Rendering: optical densities per stain, turned into RGB by scikit-image's ``hed2rgb`` (Ruifrok-Johnston
H-E-DAB vectors), plus a little pixel noise.

Example:
    >>> rng = np.random.default_rng(0)
    >>> pair = simulate_pair(rng, tumour=True)
    >>> pair.he.shape, pair.ihc.dtype.name, 0 <= pair.true_ratio <= 1
    ((64, 64, 3), 'uint8', True)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class SimulationSettings:
    """The simulated tissue; defaults give ~12-20 nuclei per 64 px tile."""

    size: int = 64
    tumour_positive_fraction: float = 0.6
    normal_positive_fraction: float = 0.1
    tumour_radius: float = 4.5
    normal_radius: float = 3.5
    tumour_hematoxylin: float = 1.1       # nucleus H optical density (relative to hed2rgb's scale)
    normal_hematoxylin: float = 0.8
    n_nuclei: tuple[int, int] = (12, 20)
    noise: float = 0.02


@dataclass
class SimulatedPair:
    he: np.ndarray          # uint8 [size, size, 3]
    ihc: np.ndarray         # uint8 [size, size, 3]
    tumour: bool
    labels: np.ndarray      # int32 nucleus instances (0 background)
    positive: np.ndarray    # bool per nucleus id - 1

    @property
    def n_cells(self) -> int:
        return int(self.positive.size)

    @property
    def n_positive(self) -> int:
        return int(self.positive.sum())

    @property
    def true_ratio(self) -> float:
        return self.n_positive / self.n_cells if self.n_cells else 0.0


def _layout(rng: np.random.Generator, s: SimulationSettings, radius: float) -> list[tuple[float, float, float]]:
    n = int(rng.integers(s.n_nuclei[0], s.n_nuclei[1] + 1))
    centres: list[tuple[float, float, float]] = []
    for _ in range(400):
        if len(centres) == n:
            break
        r = radius * float(rng.uniform(0.85, 1.15))
        y, x = rng.uniform(r + 1, s.size - r - 1, 2)
        if all((y - cy) ** 2 + (x - cx) ** 2 > (r + cr + 2.0) ** 2 for cy, cx, cr in centres):
            centres.append((float(y), float(x), r))
    return centres


def _to_rgb(h: np.ndarray, e: np.ndarray, d: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    from skimage.color import hed2rgb

    # hed2rgb's unit: an OD of ~0.1 is a strong stain; our settings are in tenths of that
    rgb = hed2rgb(np.stack([h, e, d], -1) * 0.1)
    rgb = rgb + rng.normal(0, noise, rgb.shape)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def simulate_pair(rng: np.random.Generator, tumour: bool, settings: SimulationSettings | None = None) -> SimulatedPair:
    """One paired H&E / IHC tile of a tumour or normal region."""
    s = settings or SimulationSettings()
    radius = s.tumour_radius if tumour else s.normal_radius
    h_nucleus = s.tumour_hematoxylin if tumour else s.normal_hematoxylin
    p_pos = s.tumour_positive_fraction if tumour else s.normal_positive_fraction
    centres = _layout(rng, s, radius)
    yy, xx = np.mgrid[0:s.size, 0:s.size].astype(float)
    labels = np.zeros((s.size, s.size), np.int32)
    texture = np.zeros((s.size, s.size))
    positive = rng.random(len(centres)) < p_pos
    for k, (cy, cx, r) in enumerate(centres, start=1):
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
        labels[inside] = k
        texture[inside] = float(rng.uniform(0.85, 1.15))
    nuc = labels > 0
    pos_px = nuc & positive[np.maximum(labels - 1, 0)]
    grain = rng.normal(1.0, 0.08, labels.shape)
    # H&E: nuclei H, everything E (tissue fills the tile)
    h_he = np.where(nuc, h_nucleus * texture * grain, 0.05)
    e_he = np.where(nuc, 0.25, 0.45) * rng.normal(1.0, 0.05, labels.shape)
    # IHC: negative nuclei haematoxylin counterstain, positive nuclei DAB (plus a little H), pale background
    h_ihc = np.where(nuc & ~pos_px, 0.55 * texture * grain, np.where(pos_px, 0.15, 0.03))
    d_ihc = np.where(pos_px, 0.9 * texture * grain, 0.0)
    he = _to_rgb(h_he, e_he, np.zeros_like(h_he), rng, s.noise)
    ihc = _to_rgb(h_ihc, np.zeros_like(h_ihc), d_ihc, rng, s.noise)
    return SimulatedPair(he, ihc, bool(tumour), labels, positive)


def simulate_set(n: int, seed: int, tumour_share: float = 0.5, settings: SimulationSettings | None = None
                 ) -> list[SimulatedPair]:
    """``n`` pairs; the first ``round(n * tumour_share)`` are tumour tiles."""
    rng = np.random.default_rng(seed)
    n_tumour = int(round(n * tumour_share))
    return [simulate_pair(rng, i < n_tumour, settings) for i in range(n)]


@dataclass
class SimulatedSlide:
    """A SIMULATED H&E image (and its paired IHC) tiled into MIL bags with known labels.

    ``bag_labels``: ``{(x, y): 1 tumour / 0 normal}`` of the bag corners; ``tile_tumour``: the ``[rows, cols]``
    grid of instance labels (a tumour bag holds at least one tumour tile, a normal bag none)."""

    he: np.ndarray
    ihc: np.ndarray
    bag_labels: dict[tuple[int, int], int]
    tile_tumour: np.ndarray


def simulate_mil_slide(rng: np.random.Generator, bags_per_side: int = 2, tiles_per_bag_side: int = 2,
                       tumour_bag_share: float = 0.5, max_tumour_tiles: int = 2, glass_px: int = 64,
                       settings: SimulationSettings | None = None) -> SimulatedSlide:
    """A SIMULATED image of ``bags_per_side``^2 bags, each ``tiles_per_bag_side``^2 tiles of ``settings.size`` px;
    a tumour bag (probability ``tumour_bag_share``) holds 1..``max_tumour_tiles`` tumour tiles among normal ones.
    A ``glass_px`` strip of bare glass on the right and at the bottom gives the Otsu tissue mask its background.

    Example:
        >>> slide = simulate_mil_slide(np.random.default_rng(0))
        >>> slide.he.shape, slide.tile_tumour.shape, len(slide.bag_labels)
        ((320, 320, 3), (4, 4), 4)
    """
    s = settings or SimulationSettings()
    t, k = s.size, tiles_per_bag_side
    n = bags_per_side * k
    tumour = np.zeros((n, n), bool)
    labels: dict[tuple[int, int], int] = {}
    for by in range(bags_per_side):
        for bx in range(bags_per_side):
            is_tumour = bool(rng.random() < tumour_bag_share)
            labels[(bx * k * t, by * k * t)] = int(is_tumour)
            if is_tumour:
                cells = rng.choice(k * k, size=int(rng.integers(1, min(max_tumour_tiles, k * k) + 1)), replace=False)
                for c in cells:
                    tumour[by * k + c // k, bx * k + c % k] = True
    pairs = [[simulate_pair(rng, bool(tumour[r, c]), s) for c in range(n)] for r in range(n)]
    images = []
    for kind in ("he", "ihc"):
        tissue = np.concatenate([np.concatenate([getattr(p, kind) for p in row], axis=1) for row in pairs], axis=0)
        glass = (250 + rng.normal(0, 2, (n * t + glass_px, n * t + glass_px, 3))).clip(0, 255).astype(np.uint8)
        glass[:n * t, :n * t] = tissue
        images.append(glass)
    return SimulatedSlide(images[0], images[1], labels, tumour)


def write_simulated_mil_folder(folder: Path, n: int, seed: int, stain: str = "he",
                               settings: SimulationSettings | None = None) -> list[SimulatedSlide]:
    """``n`` SIMULATED slides as ``folder/images/sNNN.png`` (the ``stain`` image: ``he`` or ``ihc``) with
    ``folder/labels.csv`` (``image,x,y,label`` of the bag corners): a MIL training folder with a known answer."""
    from biomedai.utils import write_csv_atomic
    from biomedai.viz import save_png

    rng = np.random.default_rng(seed)
    slides, rows = [], []
    for i in range(n):
        slide = simulate_mil_slide(rng, settings=settings)
        save_png(getattr(slide, stain), Path(folder) / "images" / f"s{i:03d}.png")
        rows += [{"image": f"s{i:03d}.png", "x": x, "y": y, "label": "tumour" if lab else "normal"}
                 for (x, y), lab in slide.bag_labels.items()]
        slides.append(slide)
    write_csv_atomic(Path(folder) / "labels.csv", rows)
    return slides
