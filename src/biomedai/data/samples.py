"""Sample images that ship inside installed dependencies: nothing is ever downloaded.

scikit-image's wheel carries a few images in ``skimage/data`` (others, such as ``cells3d``, are
fetched on demand and are therefore not listed here) and pydicom's wheel carries its DICOM test
files in ``pydicom/data/test_files``. Files are located through ``importlib`` without importing
the packages, and read through :func:`biomedai.io.read_image`.

Example:
    >>> [s.name for s in list_samples()][:3]
    ['ihc', 'retina', 'microaneurysms']
    >>> load_sample("ct_small").array.shape
    (128, 128)
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.io.image import Image

logger = logging.getLogger(__name__)

__all__ = ["SampleInfo", "list_samples", "get_sample_info", "sample_path", "load_sample"]

_SKIMAGE = ("scikit-image", "skimage", "data")
_PYDICOM = ("pydicom", "pydicom", "data/test_files")


@dataclass(frozen=True)
class SampleInfo:
    """A bundled sample: where it lives, what it shows and under which terms.

    ``shape`` is the array shape :func:`load_sample` returns (channels last).
    """

    name: str
    modality: str
    description: str
    package: str
    relpath: str
    licence: str
    shape: tuple[int, ...]
    spacing: tuple[float, ...] | None = None
    spacing_unit: str = "pixel"
    grayscale: bool = False

    @property
    def available(self) -> bool:
        """Whether the package is installed and the file is present."""
        try:
            sample_path(self.name)
        except InvalidInputError:
            return False
        return True


_PYDICOM_TERMS = ("pydicom test data (package MIT); its README: 'no restriction on using these files'; "
                  "anonymised")

_SAMPLES: tuple[SampleInfo, ...] = (
    SampleInfo("ihc", "histopathology (IHC: DAB + haematoxylin)",
               "Colonic glands, FHL2 protein revealed with DAB, haematoxylin counterstain (CMMI).",
               "scikit-image", "ihc.png", "no known copyright restrictions", (512, 512, 3)),
    SampleInfo("retina", "fundus photography",
               "Normal left eye fundus photograph (M. Haggstrom, Wikimedia Commons).",
               "scikit-image", "retina.jpg", "CC0 1.0", (1411, 1411, 3)),
    SampleInfo("microaneurysms", "fundus photography (green channel)",
               "Retina crop with microaneurysms, from image 07_dr of the HRF database (Budai et al. 2013).",
               "scikit-image", "microaneurysms.png", "CC0 (A. Maier)", (102, 102)),
    SampleInfo("cell", "quantitative phase microscopy",
               "A cell floating in saline, phase retrieved from a digital hologram (Mueller et al.).",
               "scikit-image", "cell.png", "CC0", (660, 550), (0.107, 0.107), "um"),
    SampleInfo("shepp_logan", "CT (synthetic phantom)",
               "Shepp-Logan head phantom (Shepp & Logan 1974), stored as a grey PNG.",
               "scikit-image", "phantom.png", "synthetic; scikit-image BSD-3-Clause", (400, 400), grayscale=True),
    SampleInfo("coins", "photograph (non-medical)",
               "Greek coins from Pompeii on a grey background: a classic object-segmentation test.",
               "scikit-image", "coins.png", "no known copyright restrictions (Brooklyn Museum)", (303, 384)),
    SampleInfo("camera", "photograph (non-medical)",
               "Grey-level 'camera' photograph, for denoising and segmentation examples.",
               "scikit-image", "camera.png", "CC0 (L. Varshney)", (512, 512)),
    SampleInfo("ct_small", "CT", "Axial CT slice, NEMA WG04 'CT1_UNC' downsized to 128x128.",
               "pydicom", "CT_small.dcm", _PYDICOM_TERMS, (128, 128), (0.661468, 0.661468), "mm"),
    SampleInfo("ct_head_jpeg2k", "CT", "Axial head CT slice, 512x512, JPEG 2000 compressed (pydicom issue 693).",
               "pydicom", "693_J2KI.dcm", _PYDICOM_TERMS, (512, 512), (0.478516, 0.478516), "mm"),
    SampleInfo("ct_series", "CT", "A 5-slice CT series directory, downsized to 16x16 (pcir.org sets).",
               "pydicom", "dicomdirtests/98892001/CT5N", _PYDICOM_TERMS + "; pcir.org freely available sets",
               (5, 16, 16), None, "mm"),
    SampleInfo("mr_small", "MR", "MR slice, NEMA WG04 'MR1_UNC' downsized to 64x64.",
               "pydicom", "MR_small.dcm", _PYDICOM_TERMS, (64, 64), (0.3125, 0.3125), "mm"),
    SampleInfo("mr_small_rle", "MR", "mr_small stored with RLE Lossless compression (same pixels).",
               "pydicom", "MR_small_RLE.dcm", _PYDICOM_TERMS, (64, 64), (0.3125, 0.3125), "mm"),
    SampleInfo("mr_small_jpeg2k", "MR", "mr_small stored with JPEG 2000 lossless compression (same pixels).",
               "pydicom", "MR_small_jp2klossless.dcm", _PYDICOM_TERMS, (64, 64), (0.3125, 0.3125), "mm"),
    SampleInfo("mr_abdomen", "MR", "Axial abdominal MR slice with a liver lesion (Siemens example, cropped).",
               "pydicom", "examples_overlay.dcm", _PYDICOM_TERMS, (300, 484), None, "mm"),
    SampleInfo("us_rgb", "ultrasound (colour)", "RGB ultrasound frame (NEMA 'US1_UNCR', cropped).",
               "pydicom", "examples_rgb_color.dcm", _PYDICOM_TERMS, (240, 320, 3)),
)

_BY_NAME = {s.name: s for s in _SAMPLES}
_PACKAGES = {"scikit-image": _SKIMAGE, "pydicom": _PYDICOM}


def list_samples(include_missing: bool = False) -> list[SampleInfo]:
    """The bundled samples whose files are present (all registered ones with ``include_missing``)."""
    return [s for s in _SAMPLES if include_missing or s.available]


def get_sample_info(name: str) -> SampleInfo:
    """The :class:`SampleInfo` registered under ``name``."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InvalidInputError(f"unknown sample {name!r}; known samples: {', '.join(_BY_NAME)}") from None


def _package_dir(distribution: str, module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInputError(f"package {distribution!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _package_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def sample_path(name: str) -> Path:
    """Path of a sample's file (or DICOM series directory) inside its installed package.

    Raises :class:`InvalidInputError` naming the sample if it is unknown, its package is not
    installed, or the file is not in the installed package (never downloads).
    """
    info = get_sample_info(name)
    distribution, module, folder = _PACKAGES[info.package]
    try:
        base = _package_dir(distribution, module)
    except InvalidInputError as exc:
        raise InvalidInputError(f"sample {name!r} needs {exc.problem}") from None
    path = base / folder / info.relpath
    if not path.exists():
        raise InvalidInputError(f"sample {name!r} is missing from the installed {distribution} "
                                f"{_package_version(distribution)}", path)
    return path


def load_sample(name: str) -> Image:
    """Read a bundled sample through :func:`biomedai.io.read_image`.

    ``metadata`` gains ``sample`` (the name), ``source`` (package, version, file) and
    ``licence``; ``modality`` (the registry's words, e.g. ``"CT"``) is set when the reader did
    not set it (DICOM's own ``Modality`` tag is kept as read). Samples known to be grey
    but stored as RGB are returned with one channel, and a known pixel size is applied when the
    file does not carry one.

    Example:
        >>> img = load_sample("ihc")
        >>> img.shape, img.metadata["source"].startswith("scikit-image")
        ((512, 512, 3), True)
    """
    from biomedai.io import read_image

    info = get_sample_info(name)
    path = sample_path(name)
    image = read_image(path)
    if info.grayscale and image.channel_axis is not None:
        image = image.with_array(np.ascontiguousarray(image.array[..., 0]), channel_axis=None)
    if info.spacing is not None and image.spacing_unit == "pixel":
        image = image.with_array(image.array, spacing=info.spacing, spacing_unit=info.spacing_unit)
    image.metadata.update({
        "sample": info.name,
        "source": f"{info.package} {_package_version(info.package)}: {info.relpath}",
        "licence": info.licence,
        "description": info.description,
    })
    image.metadata.setdefault("modality", info.modality)
    logger.debug("loaded sample %s from %s", name, path)
    return image
