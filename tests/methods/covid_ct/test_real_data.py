"""Real chest CT (../shared/data/chest_ct): lung Dice on the label maps, lung volume of the 3-D CT,
HU-bin fractions on the COVID-19 slices, the pipeline end to end."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.io import read_image
from biomedai.methods.covid_ct.case import analyse_ct
from biomedai.methods.covid_ct.lobes import import_lobes
from tests.conftest import shared_subdir

#: the slices the data README lists as showing ground glass and/or consolidation
COVID_GGO = ["A002304_19010112-135", "A046441_19001111-045", "A046441_19010101-23", "A056642_19001229-053",
             "A056642_19010107-111", "A098752_19010127-128", "A072894_19010103-40"]


@pytest.fixture(scope="module")
def chest_ct(request):
    shared = request.getfixturevalue("shared_data")
    return shared_subdir(shared, "chest_ct")


def dice(a, b):
    return 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def test_lung_dice_on_cip_whole_lung(chest_ct):
    result = analyse_ct(chest_ct / "cip_chest" / "ct-64.nrrd")
    reference = read_image(chest_ct / "cip_chest" / "wholeLung-64.nrrd").array > 0
    assert dice(result.lungs.lung, reference) > 0.96
    thirds = read_image(chest_ct / "cip_chest" / "lm-64.nrrd").array.astype(int) & 255   # 9-11 left, 12-14 right
    assert dice(result.lungs.labels == 1, np.isin(thirds, [12, 13, 14])) > 0.9          # our 1 = right lung
    assert dice(result.lungs.labels == 2, np.isin(thirds, [9, 10, 11])) > 0.9


def test_lung_dice_on_cip_high_resolution_slices_and_lobe_import(chest_ct):
    folder = chest_ct / "cip_chest"
    result = analyse_ct(folder / "crop_ct_2slices.nrrd", lobe_mask=folder / "crop_ct_2slices_lobes.nrrd")
    reference = (read_image(folder / "crop_ct_2slices_partialLungLabelMap.nrrd").array.astype(int) & 255) > 0
    assert dice(result.lungs.lung, reference) > 0.98
    assert result.lobe_source.startswith("imported") and "cip" in result.lobe_source
    lobes, _ = import_lobes(folder / "crop_ct_2slices_lobes.nrrd", result.ct.hu.shape)
    for value in range(1, 6):
        assert dice(result.lobes == value, lobes == value) > 0.9


def test_lung_area_on_lidc_slice_agrees_with_lungmask(chest_ct):
    # lungmask R231 upstream test: 2 identical slices -> right 64752, left 36536 voxels
    result = analyse_ct(chest_ct / "lungmask_lidc_slice" / "0.dcm")
    right, left = (int((result.lungs.labels == k).sum()) for k in (1, 2))
    assert right == pytest.approx(64752 / 2, rel=0.08)
    assert left == pytest.approx(36536 / 2, rel=0.08)


def test_hu_bin_fractions_on_covid_slices(chest_ct):
    folder = chest_ct / "covid19_ny_sbu_axial_slices"
    fractions = {}
    for path in sorted(folder.glob("*.dcm")):
        bins = analyse_ct(path).summary()["whole_lung_bins"]
        lung = sum(b["lung_ml_in_bin"] for b in bins.values())
        fractions[path.stem] = bins["ground glass (-750, -300]"]["lung_ml_in_bin"] / lung
    assert len(fractions) == 12
    assert all(fractions[name] > 0.25 for name in COVID_GGO)
    assert fractions["A046441_19010101-23"] > 0.6   # the severe one


@pytest.mark.slow
def test_3d_ct_end_to_end(chest_ct, tmp_path):
    from biomedai.methods.covid_ct.pipeline import CovidCTMethod

    CovidCTMethod().predict([chest_ct / "itkelastix_chest_ct" / "chest_ct_phase00.nii.gz"], tmp_path)
    record = json.loads((tmp_path / "result.json").read_text())
    case = record["metrics"]["cases"]["chest_ct_phase00"]
    assert 3000 < case["regions"]["whole lung"]["region_ml"] < 8000       # adult lungs: about 3-8 L
    assert 0.3 < case["regions"]["right lung"]["region_ml"] / case["regions"]["left lung"]["region_ml"] < 3
    assert case["lung_notes"]["airway"].startswith("grown")
    assert len([k for k in case["regions"] if k.endswith("lobe")]) == 5
