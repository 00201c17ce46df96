"""Phantoms: the returned answers must match what the arrays hold and what analytic shapes give."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from skimage import measure, morphology
from skimage.color import rgb2hed

from biomedai.data.phantoms import disk_mask, lesion_volume_phantom, nuclei_phantom, sphere_mask, vessel_phantom
from biomedai.errors import InvalidInputError
from biomedai.io.image import Image


@pytest.mark.parametrize("radius", [3, 7, 15])
def test_disk_and_sphere_match_scikit_image_footprints(radius: int) -> None:
    n = 2 * radius + 1
    assert np.array_equal(disk_mask((n, n), radius=radius), morphology.disk(radius).astype(bool))
    assert np.array_equal(sphere_mask((n, n, n), radius=radius), morphology.ball(radius).astype(bool))


@pytest.mark.parametrize("radius", [10.0, 25.5, 60.0])
def test_disk_area_is_analytic_within_pixelisation(radius: float) -> None:
    spacing = (0.5, 1.0)  # mm: the disk spans twice as many rows as columns
    shape = (int(4 * radius / spacing[0]) + 3, int(4 * radius) + 3)
    mask = disk_mask(shape, center=(shape[0] / 2 + 0.3, shape[1] / 2 - 0.2), radius=radius, spacing=spacing)
    area = mask.sum() * spacing[0] * spacing[1]
    exact = math.pi * radius**2
    # pixelisation error is bounded by the perimeter times half a pixel diagonal
    assert abs(area - exact) <= 2 * math.pi * radius * 0.5 * math.hypot(*spacing)
    assert abs(area - exact) / exact < 0.03


def test_sphere_volume_is_analytic_with_anisotropic_spacing() -> None:
    spacing = (2.0, 0.8, 0.8)
    radius = 20.0
    shape = tuple(int(2.4 * radius / s) for s in spacing)
    volume = sphere_mask(shape, radius=radius, spacing=spacing).sum() * np.prod(spacing)
    assert volume == pytest.approx(4 / 3 * math.pi * radius**3, rel=0.02)


def test_masks_reject_bad_arguments() -> None:
    with pytest.raises(InvalidInputError):
        disk_mask((10, 10, 10))
    with pytest.raises(InvalidInputError):
        sphere_mask((10, 10), radius=2)
    with pytest.raises(InvalidInputError):
        disk_mask((10, 10), radius=-1)


# ---------------------------------------------------------------------------------------------- nuclei

def test_nuclei_phantom_known_answers() -> None:
    n = 25
    image, labels = nuclei_phantom((256, 256), n_nuclei=n, radius_range=(5, 9), seed=3)
    assert isinstance(image, Image) and isinstance(labels, Image)
    assert image.array.shape == (256, 256, 3) and image.array.dtype == np.uint8 and image.channel_axis == -1
    assert image.spacing == (0.5, 0.5) and image.spacing_unit == "um"
    lab = labels.array
    assert lab.shape == (256, 256) and labels.channel_axis is None
    assert set(np.unique(lab)) == set(range(n + 1))
    for k in range(1, n + 1):  # each nucleus is one connected ellipse of plausible area
        obj = lab == k
        assert measure.label(obj).max() == 1
        area = obj.sum()
        assert math.pi * 5 * 5 * 0.6 * 0.8 <= area <= math.pi * 9 * 9 * 1.1
    # min_gap=1: no two different nuclei are 8-adjacent
    dilated = ndimage.grey_dilation(lab, size=(3, 3))
    eroded = -ndimage.grey_dilation(-np.where(lab > 0, lab, n + 1), size=(3, 3))
    fg = lab > 0
    assert np.all(dilated[fg] == lab[fg]) and np.all(eroded[fg] == lab[fg])


def test_nuclei_are_haematoxylin_rich() -> None:
    image, labels = nuclei_phantom((128, 128), n_nuclei=10, seed=0)
    haem = rgb2hed(image.array)[..., 0]
    inside = labels.array > 0
    assert haem[inside].mean() > haem[~inside].mean() + 0.05


def test_nuclei_phantom_seeds() -> None:
    a = nuclei_phantom((96, 96), n_nuclei=6, seed=7)
    b = nuclei_phantom((96, 96), n_nuclei=6, seed=7)
    c = nuclei_phantom((96, 96), n_nuclei=6, seed=8)
    assert np.array_equal(a.image.array, b.image.array) and np.array_equal(a.labels.array, b.labels.array)
    assert not np.array_equal(a.labels.array, c.labels.array)


def test_nuclei_phantom_touching_allowed_and_too_many_rejected() -> None:
    _, labels = nuclei_phantom((64, 64), n_nuclei=12, radius_range=(4, 5), min_gap=0, seed=1)
    assert labels.array.max() == 12
    with pytest.raises(InvalidInputError, match="could place only"):
        nuclei_phantom((64, 64), n_nuclei=200, radius_range=(6, 8), seed=0)


# ---------------------------------------------------------------------------------------------- vessels

def test_vessel_phantom_known_answers() -> None:
    ph = vessel_phantom((256, 256), n_vessels=5, width_range=(3, 6), seed=2)
    mask = ph.mask.array
    assert mask.dtype == bool and mask.shape == (256, 256)
    assert ph.area_fraction == pytest.approx(mask.mean(), abs=0)
    assert ph.image.array.dtype == np.float32 and 0 <= ph.image.array.min() and ph.image.array.max() <= 1
    assert ph.image.array[mask].mean() < ph.image.array[~mask].mean() - 0.1  # vessels are dark
    # a skeleton's pixel count lies between length/sqrt(2) (all diagonal) and length (all straight)
    skeleton = morphology.skeletonize(mask).sum()
    assert 0.7 * ph.length < skeleton < 1.05 * ph.length


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_vessel_area_is_length_times_width(seed: int) -> None:
    ph = vessel_phantom((200, 200), n_vessels=1, width_range=(4, 4), seed=seed)
    area = ph.mask.array.sum()
    assert area == pytest.approx(ph.length * 4, rel=0.15)


def test_vessel_phantom_3d_and_spacing() -> None:
    ph = vessel_phantom((40, 48, 48), n_vessels=2, width_range=(3, 4), seed=0, spacing=(2.0, 1.0, 1.0))
    assert ph.mask.array.shape == (40, 48, 48) and ph.mask.spacing == (2.0, 1.0, 1.0)
    assert ph.mask.array.any() and ph.length > 40
    # a tube of diameter w: volume (voxels) ~ pi (w/2)^2 x length (voxels); length here is in mm,
    # so only check that the two agree in order of magnitude
    assert 0 < ph.area_fraction < 0.2


def test_vessel_phantom_seeds() -> None:
    a, b, c = (vessel_phantom((64, 64), n_vessels=2, seed=s) for s in (4, 4, 5))
    assert np.array_equal(a.image.array, b.image.array) and a.length == b.length
    assert not np.array_equal(a.mask.array, c.mask.array)


# ---------------------------------------------------------------------------------------------- lesions

def test_lesion_phantom_known_volumes() -> None:
    spacing = (2.0, 0.8, 0.8)
    ph = lesion_volume_phantom((48, 96, 96), spacing=spacing, n_lesions=4, radius_range=(5, 9), seed=1)
    vol, lab = ph.volume, ph.labels.array
    assert vol.array.dtype == np.float32 and vol.spacing == spacing and vol.spacing_unit == "mm"
    assert set(np.unique(lab)) == set(range(5))
    voxel = np.prod(spacing)
    counts = np.bincount(lab.ravel())[1:]
    assert ph.volumes_mm3 == pytest.approx(tuple(counts * voxel))
    for measured, analytic in zip(ph.volumes_mm3, ph.analytic_volumes_mm3):
        assert measured == pytest.approx(analytic, rel=0.08)
    # CT-like values: air outside, lesions brighter than soft tissue
    assert vol.array[0, 0, 0] < -900
    levels = ph.volume.metadata["lesion_hu"]
    for k in range(1, 5):
        core = ndimage.binary_erosion(lab == k)
        assert abs(vol.array[core].mean() - levels[k - 1]) < 10


def test_lesion_phantom_seeds_and_errors() -> None:
    a = lesion_volume_phantom((32, 48, 48), n_lesions=2, seed=0)
    b = lesion_volume_phantom((32, 48, 48), n_lesions=2, seed=0)
    c = lesion_volume_phantom((32, 48, 48), n_lesions=2, seed=1)
    assert np.array_equal(a.volume.array, b.volume.array) and a.volumes_mm3 == b.volumes_mm3
    assert not np.array_equal(a.labels.array, c.labels.array)
    with pytest.raises(InvalidInputError, match="could place only"):
        lesion_volume_phantom((16, 32, 32), n_lesions=30, radius_range=(6, 8), seed=0)
    with pytest.raises(InvalidInputError):
        lesion_volume_phantom((32, 32), n_lesions=1)
