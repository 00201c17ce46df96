"""Cryo-ET subtomogram and tomogram simulator built on real density maps or PDB models.

Pipeline per particle (after Pei et al. 2016, the simulator COS-Net used; values are ours because
the paper gives none, see ``SimulationSettings``):

1. **Structure** -> density at the voxel size: an MRC map (e.g. PolNet's 10 A templates) is
   background-subtracted, scaled to max 1 and centred on its centre of mass in the box; a PDB model
   is turned into density by placing each atom's electron count (atomic number Z) on the grid and
   blurring with a Gaussian of sigma = 0.225 * resolution (Chimera ``molmap``'s rule).
2. **Pose**: a uniform random rotation (normalised Gaussian quaternions), trilinear resampling of
   the whole batch at once (``torch.grid_sample``). Rotation matrices act on ``(z, y, x)`` index
   coordinates about the box centre: ``out(p) = in(R^T (p - c) + c)``.
3. **Tilt series + weighted back-projection**, done in Fourier space (projection-slice theorem):
   tilt axis = y, beam along z at 0 deg, tilts ``tilt_min..tilt_max`` every ``tilt_step``. Each
   projection, back-projected through a slab of ``L`` voxels along the beam, fills a slice of
   thickness ``1/L`` (triangular profile ``S_i(k) = max(0, 1 - L |k . n_i|)``) of the 3D spectrum;
   the WBP weighting is Radermacher's exact weighting ``1 / max(1, sum_i S_i(k))``, so the
   reconstruction's transfer function is ``C(k) = sum_i S_i / max(1, sum_i S_i)``: 1 where the
   tilts sample the spectrum, 0 in the missing wedge (``|k_z| > |k_x| tan(tilt_max)``).
4. **Optics**: every tilt image is multiplied by the CTF (defocus, voltage, Cs, amplitude contrast;
   the same defocus for all tilts of a particle, drawn per particle from ``defocus_um``) and the
   detector MTF ``sinc(f / (2 f_Nyquist))``.
5. **Noise**: white Gaussian noise, independent per tilt image, added *after* CTF/MTF. After WBP its
   spectrum in the volume is ``sqrt(sum_i S_i^2) / max(1, sum_i S_i)`` (the ramp-shaped noise of WBP).
   **SNR** (``snr_definition``, see :mod:`biomedai.data.cryoet_snr`): by default signal over noise
   variance of the tilt images inside the particle's band (``"projection_band"``); the paper's
   full-band projection SNR (``"projection"``) and the old whole-box reconstruction SNR (``"volume"``)
   are options. The noise is scaled per particle so the *nominal* SNR is exactly the requested one;
   dose weighting and ice thickness then lower the signal, and ``effective_snr`` records the result.
6. **Ground truth**: the mask is the noise-free rotated density (before CTF/missing wedge)
   ``>= mask_threshold * its maximum`` (default 0.2); positions are the box centres (or tomogram
   coordinates when packing). Outputs are z-scored per subtomogram (zero mean, unit variance).

Everything is seeded (``numpy.random.default_rng(seed)``) and batched.

Example:
    >>> import numpy as np
    >>> blob = np.zeros((32, 32, 32), np.float32); blob[12:20, 10:22, 14:18] = 1
    >>> ds = simulate_subtomograms({"blob": blob}, n_per_class=4, snr=0.5, seed=0)
    >>> ds.volumes.shape, ds.masks.dtype, ds.labels.tolist()
    ((4, 32, 32, 32), dtype('bool'), [0, 0, 0, 0])
"""
from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.config import BaseConfig
from biomedai.errors import ConfigError, InvalidInputError

from .cryoet_geometry import rotate_volumes, uniform_random_rotations
from .cryoet_context import add_membranes_and_fiducials, add_neighbours, template_radii
from .cryoet_snr import (SNR_DEFINITIONS, band_fraction_2d, dose_weights, frequency_grids, ice_attenuation,
                         projection_signal_variance, tilt_slabs)

logger = logging.getLogger(__name__)

#: electrons per atom (atomic number) used as the scattering weight of PDB atoms
ATOMIC_NUMBER = {"H": 1, "C": 6, "N": 7, "O": 8, "P": 15, "S": 16, "MG": 12, "ZN": 30, "FE": 26, "CA": 20,
                 "MN": 25, "NA": 11, "CL": 17, "K": 19, "SE": 34, "CU": 29, "CO": 27, "NI": 28, "F": 9, "I": 53}


@dataclasses.dataclass
class SimulationSettings(BaseConfig):
    """Microscope, tilt scheme and noise settings (the paper gives none; these are common values)."""

    box: int = 32
    voxel_size_a: float = 10.0
    tilt_min: float = -60.0
    tilt_max: float = 60.0
    tilt_step: float = 3.0
    voltage_kv: float = 300.0
    cs_mm: float = 2.7
    amplitude_contrast: float = 0.07
    #: underfocus drawn uniformly in this range (micrometre) per particle
    defocus_um: tuple[float, float] = (3.0, 5.0)
    #: detector MTF: "sinc" (ideal pixel, sinc(f / 2 f_Nyquist)) or "none"
    mtf: str = "sinc"
    #: ground-truth mask threshold as a fraction of the clean rotated density's maximum
    mask_threshold: float = 0.2
    #: random shift of the particle centre, uniform in [-max_shift, max_shift] voxels per axis
    max_shift: float = 0.0
    #: skip the CTF (phase-flipped, perfect-optics data) when False
    apply_ctf: bool = True
    #: "projection_band" (ours), "projection" (the paper's, full band) or "volume" (biomedai <= 0.1)
    snr_definition: str = "projection_band"
    #: the particle's band for "projection_band", cycles/voxel; a low edge of 0 means 1/box
    snr_band: tuple[float, float] = (0.0, 0.25)
    #: electron exposure per tilt (e/A^2) for dose weighting, dose-symmetric from 0 degrees; 0: off
    dose_per_tilt: float = 0.0
    #: ice thickness drawn uniformly per particle (nm); (0, 0): no ice attenuation
    ice_thickness_nm: tuple[float, float] = (0.0, 0.0)
    #: up to this many neighbouring structures cut by the box (0: isolated particles)
    crowding: int = 0
    #: chance that a lipid bilayer passes through the box
    membrane_probability: float = 0.0
    #: chance that a 10 nm gold fiducial sits next to the particle
    fiducial_probability: float = 0.0

    def validate(self) -> None:
        """Raise ``InvalidInputError`` naming the first setting out of range."""
        super().validate()
        checks = [
            ("box", self.box >= 8, "must be >= 8"),
            ("voxel_size_a", self.voxel_size_a > 0, "must be > 0"),
            ("tilt_step", self.tilt_step > 0, "must be > 0"),
            ("tilt_max", -90 < self.tilt_min <= self.tilt_max < 90, "tilt range must lie in (-90, 90)"),
            ("voltage_kv", self.voltage_kv > 0, "must be > 0"),
            ("cs_mm", self.cs_mm >= 0, "must be >= 0"),
            ("amplitude_contrast", 0 <= self.amplitude_contrast < 1, "must be in [0, 1)"),
            ("defocus_um", 0 < self.defocus_um[0] <= self.defocus_um[1], "must be 0 < low <= high"),
            ("mtf", self.mtf in ("sinc", "none"), "must be 'sinc' or 'none'"),
            ("mask_threshold", 0 < self.mask_threshold < 1, "must be in (0, 1)"),
            ("max_shift", self.max_shift >= 0, "must be >= 0"),
            ("snr_definition", self.snr_definition in SNR_DEFINITIONS, f"must be one of {SNR_DEFINITIONS}"),
            ("snr_band", 0 <= self.snr_band[0] < self.snr_band[1], "must be 0 <= low < high (cycles/voxel)"),
            ("dose_per_tilt", self.dose_per_tilt >= 0, "must be >= 0"),
            ("ice_thickness_nm", 0 <= self.ice_thickness_nm[0] <= self.ice_thickness_nm[1], "must be 0 <= low <= high"),
            ("crowding", self.crowding >= 0, "must be >= 0"),
            ("membrane_probability", 0 <= self.membrane_probability <= 1, "must be in [0, 1]"),
            ("fiducial_probability", 0 <= self.fiducial_probability <= 1, "must be in [0, 1]"),
        ]
        self.check_rules(checks)

    @property
    def band(self) -> tuple[float, float] | None:
        """The band the SNR is measured in (cycles/voxel), or None for the full band."""
        if self.snr_definition != "projection_band":
            return None
        return (self.snr_band[0] or 1.0 / self.box, self.snr_band[1])

    @property
    def tilt_angles(self) -> np.ndarray:
        """The tilt series' angles in degrees, from ``tilt_min`` to ``tilt_max`` by ``tilt_step``."""
        n = int(math.floor((self.tilt_max - self.tilt_min) / self.tilt_step + 1e-6)) + 1
        return self.tilt_min + self.tilt_step * np.arange(n)


# ----------------------------------------------------------------------------- optics
def electron_wavelength_a(voltage_kv: float) -> float:
    """Relativistic electron wavelength in angstrom (300 kV -> 0.01969 A)."""
    v = voltage_kv * 1e3
    return 12.2643 / math.sqrt(v * (1.0 + 0.978466e-6 * v))


def ctf(freq_per_a: np.ndarray, defocus_a: float | np.ndarray, voltage_kv: float = 300.0, cs_mm: float = 2.7,
        amplitude_contrast: float = 0.07) -> np.ndarray:
    """Contrast transfer function at spatial frequencies (1/A); underfocus is positive.

    ``CTF = -(sqrt(1 - A^2) sin(chi) + A cos(chi))``, ``chi = pi lambda dz k^2 - pi/2 Cs lambda^3 k^4``.
    """
    lam = electron_wavelength_a(voltage_kv)
    k2 = np.asarray(freq_per_a, dtype=np.float64) ** 2
    chi = np.pi * lam * np.asarray(defocus_a, dtype=np.float64) * k2 - 0.5 * np.pi * cs_mm * 1e7 * lam ** 3 * k2 ** 2
    a = amplitude_contrast
    return -(math.sqrt(1 - a * a) * np.sin(chi) + a * np.cos(chi))


def ctf_zeros(n: int, defocus_a: float, voltage_kv: float = 300.0, cs_mm: float = 2.7,
              amplitude_contrast: float = 0.07) -> np.ndarray:
    """The first ``n`` spatial frequencies (1/A) where :func:`ctf` is zero (``chi = m pi - asin(A)``)."""
    lam = electron_wavelength_a(voltage_kv)
    phase = math.asin(amplitude_contrast)
    m = np.arange(1, n + 1, dtype=np.float64)
    c = m * np.pi - phase
    b = np.pi * lam * defocus_a
    a = 0.5 * np.pi * cs_mm * 1e7 * lam ** 3
    k2 = c / b if a == 0 else (b - np.sqrt(np.maximum(b * b - 4 * a * c, 0))) / (2 * a)
    return np.sqrt(k2)


def detector_mtf(freq_nyquist_fraction: np.ndarray, kind: str = "sinc") -> np.ndarray:
    """Detector MTF at frequencies given as a fraction of Nyquist (``sinc``: ideal square pixel)."""
    f = np.asarray(freq_nyquist_fraction, dtype=np.float64)
    return np.sinc(f / 2.0) if kind == "sinc" else np.ones_like(f)


# ----------------------------------------------------------------------------- imaging
def wbp_transfer(shape: Sequence[int], tilt_angles_deg: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Signal and noise transfer of tilt-series + weighted back-projection on the rfftn grid.

    Returns ``(C, N)``: ``C(k) = sum_i S_i / max(1, sum_i S_i)`` (1 in sampled regions, 0 in the
    missing wedge) and ``N(k) = sqrt(sum_i S_i^2) / max(1, sum_i S_i)`` (per unit white noise per tilt).
    The slab thickness along the beam is ``shape[0]`` voxels (the z extent).
    """
    physics = TiltPhysics.build(shape, SimulationSettings(), tilt_angles_deg)
    return physics.cover, physics.noise


@dataclasses.dataclass
class TiltPhysics:
    """Everything about the tilt scheme that does not depend on the particle, on the rfftn grid."""

    shape: tuple[int, int, int]
    angles: np.ndarray
    slabs: np.ndarray            # [T, z, 1, x_r]
    norm: np.ndarray             # max(1, sum_i S_i)  [z, 1, x_r]
    cover: np.ndarray            # [z, y, x_r]
    noise: np.ndarray            # [z, y, x_r]
    dose: np.ndarray | None      # [T, z, y, x_r] amplitude weights, None when no dose weighting

    @classmethod
    def build(cls, shape: Sequence[int], settings: SimulationSettings,
              angles: Sequence[float] | None = None) -> TiltPhysics:
        """Precompute the simulation operators for volumes of ``shape`` under ``settings``."""
        shape = tuple(int(v) for v in shape)
        angles = np.asarray(settings.tilt_angles if angles is None else angles, dtype=np.float64)
        slabs = tilt_slabs(shape, angles)
        norm = np.maximum(1.0, slabs.sum(0))
        shape_r = (shape[0], shape[1], shape[2] // 2 + 1)
        cover = np.broadcast_to(slabs.sum(0) / norm, shape_r).astype(np.float32)
        noise = np.broadcast_to(np.sqrt((slabs.astype(np.float64) ** 2).sum(0)) / norm, shape_r).astype(np.float32)
        dose = (dose_weights(shape, angles, settings.dose_per_tilt, settings.voxel_size_a)
                if settings.dose_per_tilt > 0 else None)
        return cls(shape, angles, slabs, norm.astype(np.float32), cover, noise, dose)

    def signal_cover(self, ice: np.ndarray | None) -> np.ndarray:
        """Signal transfer with dose and ice attenuation: [z, y, x_r], or [B, z, y, x_r] with ``ice`` [B, T]."""
        if self.dose is None and ice is None:
            return self.cover
        per_tilt = self.slabs * (self.dose if self.dose is not None else 1.0)            # [T, z, y|1, x_r]
        if ice is None:
            return (per_tilt.sum(0) / self.norm).astype(np.float32)
        per_tilt = np.broadcast_to(per_tilt, (len(self.angles), *self.cover.shape))
        return (np.einsum("bt,tzyx->bzyx", ice.astype(np.float32), per_tilt, optimize=True) / self.norm
                ).astype(np.float32)

    def tilt_signal_variance(self, spectra: np.ndarray, band: tuple[float, float] | None,
                             ice: np.ndarray | None = None, damaged: bool = False) -> np.ndarray:
        """Mean over tilts of each tilt image's signal variance in ``band`` [B] (optionally dose/ice-attenuated)."""
        weights = self.slabs if not (damaged and self.dose is not None) else self.slabs * self.dose ** 2
        var = projection_signal_variance(spectra, weights, self.shape, band)
        if damaged and ice is not None:
            var = var * ice ** 2
        return var.mean(1)


def _optics(shape: Sequence[int], defocus_a: np.ndarray, settings: SimulationSettings) -> np.ndarray:
    """CTF x MTF for each defocus [B] on the rfftn grid -> [B, *rshape] float32."""
    kz, ky, kx = frequency_grids(shape)
    k = np.sqrt(kz ** 2 + ky ** 2 + kx ** 2)  # cycles/voxel
    mtf = detector_mtf(k / 0.5, settings.mtf)
    if not settings.apply_ctf:
        return np.broadcast_to(mtf, (len(defocus_a), *mtf.shape)).astype(np.float32)
    freq = k / settings.voxel_size_a
    values = ctf(freq[None], np.asarray(defocus_a, dtype=np.float64)[:, None, None, None], settings.voltage_kv,
                 settings.cs_mm, settings.amplitude_contrast)
    return (values * mtf[None]).astype(np.float32)


@dataclasses.dataclass
class Imaged:
    """A batch through the microscope: the noisy and the noise-free reconstructions and the SNR reached."""

    noisy: np.ndarray
    clean: np.ndarray
    noise_scale: np.ndarray      # std of the 3-D white noise before the WBP noise filter [B]
    effective_snr: np.ndarray    # SNR (same definition) after dose and ice attenuation [B]


def image_volumes(volumes: np.ndarray, snr: float, settings: SimulationSettings, rng: np.random.Generator,
                  defocus_a: np.ndarray | None = None, physics: TiltPhysics | None = None,
                  signal_volumes: np.ndarray | None = None, ice_thickness_nm: np.ndarray | None = None) -> Imaged:
    """Tilt series -> CTF/MTF -> dose/ice -> noise at ``snr`` -> WBP for a batch [B, *shape].

    The noise level is set from ``signal_volumes`` (the particles alone, default ``volumes``) so that
    neighbours, membranes and beads in the box add clutter, not signal; with ``settings.snr_definition``.
    """
    import scipy.fft as sfft

    vols = np.asarray(volumes, dtype=np.float32)
    shape = vols.shape[1:]
    physics = physics or TiltPhysics.build(shape, settings)
    if defocus_a is None:
        lo, hi = settings.defocus_um
        defocus_a = rng.uniform(lo, hi, len(vols)) * 1e4
    ice = None
    if ice_thickness_nm is not None and np.any(np.asarray(ice_thickness_nm) > 0):
        ice = ice_attenuation(ice_thickness_nm, physics.angles)
    axes = (1, 2, 3)
    optics = _optics(shape, defocus_a, settings)
    spec = sfft.rfftn(vols, axes=axes, workers=-1) * optics
    clean = sfft.irfftn(spec * physics.signal_cover(ice), s=shape, axes=axes, workers=-1).astype(np.float32)
    ones = np.ones(len(vols), np.float32)
    if not np.isfinite(snr):
        return Imaged(clean, clean, 0 * ones, np.full(len(vols), np.inf))
    if snr <= 0:
        raise ConfigError(f"key 'snr' must be > 0 or inf, got {snr}")
    sig_spec = spec if signal_volumes is None else sfft.rfftn(np.asarray(signal_volumes, np.float32), axes=axes,
                                                              workers=-1) * optics
    white = rng.standard_normal(vols.shape, dtype=np.float32)
    noise = sfft.irfftn(sfft.rfftn(white, axes=axes, workers=-1) * physics.noise[None], s=shape, axes=axes,
                        workers=-1).astype(np.float32)
    if settings.snr_definition == "volume":
        undamaged = sfft.irfftn(sig_spec * physics.cover, s=shape, axes=axes, workers=-1)
        sig_var = undamaged.reshape(len(vols), -1).var(axis=1)
        noise_var = np.maximum(noise.reshape(len(vols), -1).var(axis=1), 1e-20)
        scale = np.sqrt(sig_var / (snr * noise_var))
        damaged = sfft.irfftn(sig_spec * physics.signal_cover(ice), s=shape, axes=axes, workers=-1)
        effective = snr * damaged.reshape(len(vols), -1).var(axis=1) / np.maximum(sig_var, 1e-20)
    else:
        band = settings.band
        sig_var = physics.tilt_signal_variance(sig_spec, band)
        sigma2 = sig_var / (snr * band_fraction_2d(shape[1], shape[2], band))    # per tilt image
        scale = np.sqrt(sigma2 / shape[0])                                         # sigma^2 = scale^2 L
        damaged = physics.tilt_signal_variance(sig_spec, band, ice, damaged=True)
        effective = snr * damaged / np.maximum(sig_var, 1e-20)
    scale = scale.astype(np.float32)
    return Imaged(clean + scale[:, None, None, None] * noise, clean, scale, effective)


def tilt_series_reconstruct(volumes: np.ndarray, snr: float, settings: SimulationSettings,
                            rng: np.random.Generator, defocus_a: np.ndarray | None = None,
                            transfer: TiltPhysics | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Tilt series -> CTF/MTF -> noise at ``snr`` -> WBP for a batch [B, *shape]; returns (noisy, clean)."""
    imaged = image_volumes(volumes, snr, settings, rng, defocus_a, physics=transfer)
    return imaged.noisy, imaged.clean


# ----------------------------------------------------------------------------- structures
def prepare_template(density: np.ndarray, box: int = 32, source: str | Path | None = None) -> np.ndarray:
    """Background-subtract, scale to max 1, centre on the centre of mass and crop/pad to ``box``^3."""
    from scipy import ndimage

    a = np.asarray(density, dtype=np.float64)
    if a.ndim != 3 or min(a.shape) < 2:
        raise InvalidInputError(f"a density map must be a 3D volume, got shape {a.shape}", source)
    if not np.all(np.isfinite(a)):
        raise InvalidInputError("density map contains NaN or infinity", source)
    border = np.concatenate([a[0].ravel(), a[-1].ravel(), a[:, 0].ravel(), a[:, -1].ravel(),
                             a[:, :, 0].ravel(), a[:, :, -1].ravel()])
    a = np.clip(a - np.median(border), 0, None)
    peak = a.max()
    if peak <= 0:
        raise InvalidInputError("density map has no positive density above its background", source)
    a /= peak
    com = np.array(ndimage.center_of_mass(a))
    size = max(max(a.shape), box)
    out = np.zeros((size,) * 3)
    start = [(size - s) // 2 for s in a.shape]
    out[start[0]:start[0] + a.shape[0], start[1]:start[1] + a.shape[1], start[2]:start[2] + a.shape[2]] = a
    centre = (size - 1) / 2.0
    out = ndimage.shift(out, centre - (com + np.array(start)), order=1, mode="constant")
    lo = (size - box) // 2
    return np.clip(out[lo:lo + box, lo:lo + box, lo:lo + box], 0, None).astype(np.float32)


def read_pdb_atoms(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Atom coordinates [n, 3] (x, y, z, angstrom) and atomic numbers [n] from ATOM/HETATM records."""
    from biomedai.io._files import existing_file

    path = existing_file(path)
    xyz, z = [], []
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("ENDMDL"):
                break
            if not line.startswith(("ATOM  ", "HETATM")):
                continue
            try:
                xyz.append((float(line[30:38]), float(line[38:46]), float(line[46:54])))
            except ValueError:
                raise InvalidInputError(f"bad coordinates in record {line[:27].strip()!r}", path) from None
            element = line[76:78].strip().upper() or line[12:14].strip().upper().lstrip("0123456789")[:1]
            z.append(ATOMIC_NUMBER.get(element, 6))
    if not xyz:
        raise InvalidInputError("no ATOM/HETATM records; not a PDB model", path)
    return np.asarray(xyz, dtype=np.float64), np.asarray(z, dtype=np.float64)


def density_from_atoms(xyz: np.ndarray, weights: np.ndarray, voxel_size_a: float = 10.0,
                       resolution_a: float | None = None, box: int | None = None) -> np.ndarray:
    """Atoms -> density [z, y, x]: weights on the nearest voxel, then a Gaussian of sigma 0.225 * resolution.

    The grid is centred on the atoms' weighted centre; ``box`` defaults to the model's extent plus margin.
    """
    from scipy import ndimage

    resolution_a = 2.0 * voxel_size_a if resolution_a is None else resolution_a
    centre = (xyz * weights[:, None]).sum(0) / weights.sum()
    rel = (xyz - centre) / voxel_size_a
    if box is None:
        box = int(2 * np.ceil(np.abs(rel).max()) + 2 * np.ceil(3 * 0.225 * resolution_a / voxel_size_a) + 2)
    edges = np.arange(box + 1) - box / 2.0
    # numpy axes (z, y, x) <- atom columns (z, y, x)
    grid, _ = np.histogramdd(rel[:, ::-1], bins=(edges, edges, edges), weights=weights)
    return ndimage.gaussian_filter(grid, 0.225 * resolution_a / voxel_size_a).astype(np.float32)


def load_structure(path: str | Path, box: int = 32, voxel_size_a: float = 10.0) -> np.ndarray:
    """A structure as a prepared ``box``^3 density at ``voxel_size_a``: MRC map (resampled if needed) or PDB."""
    from scipy import ndimage

    path = Path(path)
    if path.suffix.lower() in (".pdb", ".ent"):
        xyz, z = read_pdb_atoms(path)
        return prepare_template(density_from_atoms(xyz, z, voxel_size_a), box, path)
    from biomedai.io.mrc import read_mrc

    image = read_mrc(path)
    data = image.array
    if data.ndim != 3:
        raise InvalidInputError(f"a structure map must be 3D, got shape {data.shape}", path)
    if image.spacing_unit == "angstrom" and image.spacing is not None:
        zoom = np.asarray(image.spacing, dtype=float) / voxel_size_a
        if np.any(np.abs(zoom - 1) > 1e-3):
            data = ndimage.zoom(data.astype(np.float32), zoom, order=1)
    return prepare_template(data, box, path)


def load_structures(paths: Sequence[str | Path], box: int = 32, voxel_size_a: float = 10.0) -> dict[str, np.ndarray]:
    """``{file stem: prepared density}`` for several MRC/PDB files."""
    return {Path(p).stem: load_structure(p, box, voxel_size_a) for p in paths}


# ----------------------------------------------------------------------------- datasets
@dataclasses.dataclass
class SubtomogramSet:
    """Simulated subtomograms with their truth. Arrays are [n, box, box, box]."""

    volumes: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    rotations: np.ndarray
    defocus_a: np.ndarray
    snr: float
    settings: dict[str, Any]
    #: per-particle SNR after dose and ice attenuation (same definition as ``snr``); None in old files
    effective_snr: np.ndarray | None = None

    def save(self, path: str | Path) -> Path:
        """Write a compressed ``.npz`` (atomically)."""
        from biomedai.utils import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, volumes=self.volumes, masks=self.masks, labels=self.labels,
                                    class_names=np.array(self.class_names), rotations=self.rotations,
                                    defocus_a=self.defocus_a, snr=np.array(self.snr),
                                    settings=np.array(repr(self.settings)),
                                    effective_snr=np.full(len(self.labels), self.snr) if self.effective_snr is None
                                    else self.effective_snr)
        return path

    @classmethod
    def load(cls, path: str | Path) -> SubtomogramSet:
        """Read a set written by :meth:`save` (an ``.npz`` file)."""
        import ast

        from biomedai.io._files import existing_file

        path = existing_file(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(volumes=z["volumes"], masks=z["masks"].astype(bool), labels=z["labels"],
                           class_names=[str(c) for c in z["class_names"]], rotations=z["rotations"],
                           defocus_a=z["defocus_a"], snr=float(z["snr"]),
                           settings=ast.literal_eval(str(z["settings"])),
                           effective_snr=z["effective_snr"] if "effective_snr" in z.files else None)
        except (KeyError, ValueError, OSError) as exc:
            raise InvalidInputError(f"not a simulated subtomogram set ({exc})", path) from None

    @classmethod
    def concatenate(cls, sets: Sequence[SubtomogramSet]) -> SubtomogramSet:
        """One set from several with the same classes and settings (e.g. one per SNR).

        ``snr`` is NaN when they differ, and each particle keeps its own ``effective_snr``.
        """
        first = sets[0]
        if any(s.class_names != first.class_names for s in sets):
            raise InvalidInputError("sets to concatenate must hold the same classes in the same order")
        snrs = {s.snr for s in sets}
        effective = [np.full(len(s.labels), s.snr) if s.effective_snr is None else s.effective_snr for s in sets]
        return dataclasses.replace(first, volumes=np.concatenate([s.volumes for s in sets]),
                                   masks=np.concatenate([s.masks for s in sets]),
                                   labels=np.concatenate([s.labels for s in sets]),
                                   rotations=np.concatenate([s.rotations for s in sets]),
                                   defocus_a=np.concatenate([s.defocus_a for s in sets]),
                                   effective_snr=np.concatenate(effective),
                                   snr=first.snr if len(snrs) == 1 else float("nan"))

    def take(self, index: np.ndarray) -> SubtomogramSet:
        """The particles at ``index`` (in that order), e.g. a permutation that mixes the SNRs of a concatenated set."""
        index = np.asarray(index)
        return dataclasses.replace(self, volumes=self.volumes[index], masks=self.masks[index],
                                   labels=self.labels[index], rotations=self.rotations[index],
                                   defocus_a=self.defocus_a[index],
                                   effective_snr=None if self.effective_snr is None else self.effective_snr[index])

    def subset(self, class_names: Sequence[str]) -> SubtomogramSet:
        """Only the given classes, relabelled 0..len-1 in that order."""
        missing = [c for c in class_names if c not in self.class_names]
        if missing:
            raise InvalidInputError(f"class {missing[0]!r} not in this set ({', '.join(self.class_names)})")
        old = [self.class_names.index(c) for c in class_names]
        keep = np.isin(self.labels, old)
        remap = {o: i for i, o in enumerate(old)}
        return dataclasses.replace(self, volumes=self.volumes[keep], masks=self.masks[keep],
                                   labels=np.array([remap[v] for v in self.labels[keep]], dtype=np.int64),
                                   class_names=list(class_names), rotations=self.rotations[keep],
                                   defocus_a=self.defocus_a[keep],
                                   effective_snr=None if self.effective_snr is None else self.effective_snr[keep])


def zscore(volumes: np.ndarray) -> np.ndarray:
    """Per-volume zero mean, unit variance (constant volumes become 0)."""
    v = np.asarray(volumes, dtype=np.float32)
    flat = v.reshape(len(v), -1)
    mean, std = flat.mean(1), flat.std(1)
    return ((v - mean[:, None, None, None]) / np.where(std > 0, std, 1)[:, None, None, None]).astype(np.float32)


def simulate_subtomograms(templates: Mapping[str, np.ndarray], n_per_class: int, snr: float = float("inf"),
                          settings: SimulationSettings | None = None, seed: int = 0,
                          chunk: int = 256) -> SubtomogramSet:
    """``n_per_class`` subtomograms of every template (prepared ``box``^3 densities), at ``snr``."""
    settings = settings or SimulationSettings()
    box = settings.box
    names = list(templates)
    stack = np.stack([np.asarray(templates[n], dtype=np.float32) for n in names]) if names else None
    if stack is None or stack.shape[1:] != (box, box, box):
        raise InvalidInputError(f"templates must be {box}^3 volumes (use prepare_template), got "
                                f"{None if stack is None else stack.shape[1:]}")
    if n_per_class < 1:
        raise ConfigError(f"key 'n_per_class' must be >= 1, got {n_per_class}")
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(names)), n_per_class)
    total = len(labels)
    rotations = uniform_random_rotations(total, rng)
    lo, hi = settings.defocus_um
    defocus = rng.uniform(lo, hi, total) * 1e4
    shifts = rng.uniform(-settings.max_shift, settings.max_shift, (total, 3)) if settings.max_shift else None
    ice_lo, ice_hi = settings.ice_thickness_nm
    ice = rng.uniform(ice_lo, ice_hi, total) if ice_hi > 0 else None
    context = settings.crowding > 0 or settings.membrane_probability > 0 or settings.fiducial_probability > 0
    radii = template_radii(stack, settings.mask_threshold) if context else None
    physics = TiltPhysics.build((box,) * 3, settings)
    vols = np.empty((total, box, box, box), np.float32)
    masks = np.empty((total, box, box, box), bool)
    effective = np.empty(total, np.float64)
    for start in range(0, total, chunk):
        sl = slice(start, min(start + chunk, total))
        rotated = rotate_volumes(stack[labels[sl]], rotations[sl], None if shifts is None else shifts[sl])
        peak = rotated.reshape(len(rotated), -1).max(1)
        masks[sl] = rotated >= settings.mask_threshold * peak[:, None, None, None]
        scene = rotated
        if context:
            scene = rotated.copy()
            if settings.crowding:
                add_neighbours(scene, labels[sl], stack, radii, settings.crowding, rng)
            add_membranes_and_fiducials(scene, labels[sl], radii, settings.membrane_probability,
                                        settings.fiducial_probability, settings.voxel_size_a, rng)
        imaged = image_volumes(scene, snr, settings, rng, defocus[sl], physics, signal_volumes=rotated,
                               ice_thickness_nm=None if ice is None else ice[sl])
        vols[sl] = zscore(imaged.noisy)
        effective[sl] = imaged.effective_snr
    return SubtomogramSet(vols, masks, labels.astype(np.int64), names, rotations, defocus, float(snr),
                          settings.to_dict(), effective)


# ----------------------------------------------------------------------------- tomograms
@dataclasses.dataclass
class SimulatedTomogram:
    """A packed tomogram, its per-voxel class labels (0 = background, i+1 = class i) and the particles."""

    tomogram: np.ndarray
    labels: np.ndarray
    positions_zyx: np.ndarray
    particle_classes: list[str]
    rotations: np.ndarray
    class_names: list[str]


def pack_tomogram(templates: Mapping[str, np.ndarray], n_particles: int, shape: Sequence[int] = (64, 192, 192),
                  snr: float = float("inf"), settings: SimulationSettings | None = None, seed: int = 0,
                  max_tries: int = 20000) -> SimulatedTomogram:
    """Place ``n_particles`` randomly rotated templates without overlap in a tomogram, then image it.

    Particles are kept apart by their bounding spheres (mask radius); the whole volume goes through
    the same tilt series, CTF/MTF (one defocus, the middle of ``defocus_um``), noise and WBP.
    """
    settings = settings or SimulationSettings()
    box = settings.box
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < box:
        raise ConfigError(f"key 'shape' must be three sizes >= box ({box}), got {shape}")
    rng = np.random.default_rng(seed)
    names = list(templates)
    radii = {}
    for name in names:
        idx = np.argwhere(templates[name] >= settings.mask_threshold)
        radii[name] = float(np.sqrt(((idx - (box - 1) / 2) ** 2).sum(1)).max()) + 1 if len(idx) else 1.0
    chosen = rng.integers(0, len(names), n_particles)
    rotations = uniform_random_rotations(n_particles, rng)
    tomo = np.zeros(shape, np.float32)
    labels = np.zeros(shape, np.uint8)
    placed: list[tuple[np.ndarray, float]] = []
    positions, classes, rots = [], [], []
    half = box // 2
    rotated_all = rotate_volumes(np.stack([templates[names[c]] for c in chosen]), rotations)
    tries = 0
    for i, cls in enumerate(chosen):
        r = radii[names[cls]]
        while tries < max_tries:
            tries += 1
            pos = np.array([rng.integers(half, s - half) for s in shape], dtype=float)
            if all(np.linalg.norm(pos - p) > r + q for p, q in placed):
                break
        else:
            logger.warning("placed %d of %d particles (no free space left)", i, n_particles)
            break
        placed.append((pos, r))
        z, y, x = (int(v) - half for v in pos)
        vol = rotated_all[i]
        tomo[z:z + box, y:y + box, x:x + box] += vol
        m = vol >= settings.mask_threshold * vol.max()
        labels[z:z + box, y:y + box, x:x + box][m] = cls + 1
        positions.append(pos)
        classes.append(names[cls])
        rots.append(rotations[i])
    defocus = np.array([np.mean(settings.defocus_um) * 1e4])
    noisy, _ = tilt_series_reconstruct(tomo[None], snr, settings, rng, defocus)
    return SimulatedTomogram(zscore(noisy)[0], labels, np.array(positions).reshape(-1, 3), classes,
                             np.array(rots).reshape(-1, 3, 3), names)


def rotation_to_zyz_euler(rotations: np.ndarray) -> np.ndarray:
    """Our (z, y, x)-index rotation matrices as ZYZ Euler angles (degrees) of the same rotation in (x, y, z)."""
    from scipy.spatial.transform import Rotation

    flip = np.eye(3)[::-1]
    r_xyz = flip @ np.asarray(rotations).reshape(-1, 3, 3) @ flip
    return Rotation.from_matrix(r_xyz).as_euler("ZYZ", degrees=True)
