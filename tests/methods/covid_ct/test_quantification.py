"""Lung mask, HU bins, volumes with anisotropic spacing, lobes: synthetic data with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.methods.covid_ct.config import CovidCTConfig
from biomedai.methods.covid_ct.lesions import hu_bin_index, lesion_mask
from biomedai.methods.covid_ct.lobes import LOBE_NAMES, geometric_lobes, import_lobes
from biomedai.methods.covid_ct.lungs import LEFT_LUNG, RIGHT_LUNG, segment_lungs
from biomedai.methods.covid_ct.quantify import quantify
from biomedai.errors import ConfigError, InvalidInputError

from .synthetic_ct import synthetic_chest

SPACING = (2.5, 1.5, 1.5)


def dice(a, b):
    return 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


@pytest.fixture(scope="module")
def chest():
    hu, truth = synthetic_chest()
    return hu, truth, segment_lungs(hu, SPACING)


def test_lungs_found_split_and_airway_removed(chest):
    hu, truth, seg = chest
    assert dice(seg.labels == RIGHT_LUNG, truth == RIGHT_LUNG) > 0.98
    assert dice(seg.labels == LEFT_LUNG, truth == LEFT_LUNG) > 0.98
    trachea_above_lungs = seg.airway & ~np.any(truth > 0, axis=(1, 2))[:, None, None]
    assert trachea_above_lungs.sum() > 100 and not np.any(seg.labels[trachea_above_lungs])
    assert seg.notes["left_right"] == "by side of the body midline"


def test_left_right_follow_the_orientation(chest):
    hu, truth, _ = chest
    flipped = segment_lungs(hu[:, :, ::-1], SPACING, left_sign=-1)
    assert dice(flipped.labels[:, :, ::-1] == RIGHT_LUNG, truth == RIGHT_LUNG) > 0.98


def test_vessels_inside_the_lung_are_in_the_mask_but_not_lesions(chest):
    hu, truth, seg = chest
    vessel = (hu > -200) & (truth > 0)
    assert vessel.sum() > 20 and seg.lung[vessel].mean() > 0.95
    assert not np.any(lesion_mask(hu, seg.lung, SPACING) & vessel)


def test_touching_lungs_are_separated_by_erosion():
    hu, truth = synthetic_chest()
    bridge = (slice(10, 30), slice(40, 56), slice(55, 75))
    hu[bridge] = np.where(hu[bridge] > -500, -850.0, hu[bridge])
    seg = segment_lungs(hu, SPACING)
    assert "erosion" in seg.notes["left_right"]
    assert dice(seg.labels == LEFT_LUNG, truth == LEFT_LUNG) > 0.9


def test_no_lungs_is_a_clear_error():
    hu = np.full((20, 64, 64), -1000.0, np.float32)
    hu[:, 8:56, 8:56] = 40.0
    with pytest.raises(InvalidInputError, match="no lungs found"):
        segment_lungs(hu, SPACING)


def test_hu_bin_edges_are_right_closed():
    edges = CovidCTConfig().hu_edges
    values = np.array([-2000, -750.0, np.nextafter(-750.0, 0), -300.0, -299.5, 50.0, 50.01, 3000])
    assert hu_bin_index(values, edges).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert CovidCTConfig().hu_bins()[1] == (-750.0, -300.0)


def test_bin_config_is_validated():
    with pytest.raises(ConfigError, match="hu_edges"):
        CovidCTConfig.from_dict({"hu_edges": [-300, -750, 50]})
    with pytest.raises(ConfigError, match="hu_bin_names"):
        CovidCTConfig.from_dict({"hu_edges": [-750, 50]})


def test_volumes_in_cm3_with_anisotropic_spacing_and_bins():
    spacing = (3.0, 0.5, 0.8)                      # 1.2 mm³ per voxel
    hu = np.full((4, 10, 10), -900.0, np.float32)
    lungs = np.zeros(hu.shape, np.uint8)
    lungs[:, :, :5], lungs[:, :, 5:] = RIGHT_LUNG, LEFT_LUNG
    lesion = np.zeros(hu.shape, bool)
    hu[0, 0, :3] = [-750.0, -300.0, 50.0]          # on the edges: bins 0, 1, 2
    lesion[0, 0, :3] = True
    hu[1, :5, 6:] = -100.0                          # 20 voxels of consolidation in the left lung
    lesion[1, :5, 6:] = True
    rows = quantify(hu, spacing, lungs, None, lesion)
    total = {r["region"]: r for r in rows if r["hu_bin"] == "all"}
    voxel_ml = 1.2 / 1000
    assert total["whole lung"]["region_ml"] == pytest.approx(400 * voxel_ml)
    assert total["left lung"]["lesion_ml"] == pytest.approx(20 * voxel_ml)
    assert total["right lung"]["lesion_ml"] == pytest.approx(3 * voxel_ml)
    assert total["right lung"]["lesion_pct"] == pytest.approx(100 * 3 / 200, rel=1e-3)
    by_bin = {r["hu_bin"]: r["bin_lesion_ml"] for r in rows if r["region"] == "right lung" and r["hu_bin"] != "all"}
    assert list(by_bin.values()) == pytest.approx([voxel_ml, voxel_ml, voxel_ml, 0.0])


def test_lesion_mask_keeps_blobs_drops_thin_vessels_and_respects_edges():
    spacing = (1.0, 1.0, 1.0)
    hu = np.full((40, 40, 40), -850.0, np.float32)
    lung = np.ones(hu.shape, bool)
    zz, yy, xx = np.mgrid[:40, :40, :40]
    blob = (zz - 20) ** 2 + (yy - 20) ** 2 + (xx - 12) ** 2 <= 36
    hu[blob] = -500.0
    vessel = ((yy - 30) ** 2 + (xx - 30) ** 2 <= 1)
    hu[vessel] = 40.0
    mask = lesion_mask(hu, lung, spacing)
    assert mask[blob].all() and not mask[vessel].any()
    hu[blob] = -750.0                              # the lesion range is (-750, 50]: -750 is not a lesion
    assert not lesion_mask(hu, lung, spacing).any()
    hu[blob] = 50.0
    assert lesion_mask(hu, lung, spacing)[blob].all()


def test_geometric_lobes_partition_each_lung(chest):
    _, _, seg = chest
    lobes = geometric_lobes(seg.labels, SPACING)
    assert set(np.unique(lobes)) == {0, *LOBE_NAMES}
    assert np.array_equal(lobes > 0, seg.lung)
    right = (seg.labels == RIGHT_LUNG).sum()
    assert (lobes == 3).sum() / right == pytest.approx(0.45, abs=0.02)
    assert (lobes == 2).sum() / right == pytest.approx(0.15, abs=0.02)
    # lower lobes lie lower and more posterior than upper lobes
    z_lower, z_upper = np.argwhere(lobes == 5)[:, 0].mean(), np.argwhere(lobes == 4)[:, 0].mean()
    assert z_lower < z_upper


def test_import_lobes_schemes(tmp_path):
    from biomedai.io import Image, write_image

    labels = np.zeros((2, 4, 5), np.uint16)
    labels[0, 0, :5] = [4, 5, 6, 7, 8]
    labels[1, 0, 0] = 512 | 6                      # CIP: airway type in the right lower lobe region
    path = write_image(Image(labels, spacing=(1, 1, 1), spacing_unit="mm"), tmp_path / "lobes.nrrd")
    out, scheme = import_lobes(path, labels.shape)
    assert scheme == "cip" and out[0, 0].tolist() == [1, 2, 3, 4, 5] and out[1, 0, 0] == 3
    ts = np.zeros((2, 4, 5), np.uint8)
    ts[0, 0, :5] = [12, 13, 14, 10, 11]
    path = write_image(Image(ts, spacing=(1, 1, 1), spacing_unit="mm"), tmp_path / "ts.nii.gz")
    out, scheme = import_lobes(path, ts.shape)
    assert scheme == "totalsegmentator" and out[0, 0].tolist() == [1, 2, 3, 4, 5]
    with pytest.raises(InvalidInputError, match="shape"):
        import_lobes(path, (3, 4, 5))
