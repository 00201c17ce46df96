"""Coarse-to-fine WMH morphology on a phantom with known lesions, lesion statistics, FLAIR input checks."""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.methods.nmosd_ms.phantom import flair_phantom
from biomedai.methods.nmosd_ms.volumes import check_flair_tags, read_mask, read_volume
from biomedai.methods.nmosd_ms.wmh import lesion_statistics, lesion_wise_scores, segment_wmh_morphology


def test_morphology_finds_the_phantom_lesions():
    flair, brain, lesions = flair_phantom(seed=3)
    pred = segment_wmh_morphology(flair, brain)
    scores = lesion_wise_scores(lesions, pred)
    assert scores["n_true_lesions"] == 6
    assert scores["lesion_recall"] == 1.0 and scores["lesion_precision"] == 1.0
    assert scores["dice"] > 0.8


def test_morphology_quiet_without_lesions_and_statistics():
    flair, brain, _ = flair_phantom(n_lesions=0, seed=4)
    assert not segment_wmh_morphology(flair, brain).any()
    lesion = np.zeros(brain.shape, bool)
    lesion[10:12, 10:12, 10:12] = True
    lesion[30:31, 30:31, 30:33] = True
    stats = lesion_statistics(lesion, brain, voxel_ml=0.001)
    assert stats["lesion_count"] == 2 and stats["wmh_ml"] == pytest.approx(0.011)
    assert stats["wmh_percent_icv"] == pytest.approx(100 * 11 / brain.sum())
    assert lesion_statistics(np.zeros_like(lesion), brain, 0.001)["empty_lesion_mask"]


def test_lesion_wise_scores_known_answer():
    t = np.zeros((10, 10, 10), bool); t[1:3, 1:3, 1:3] = True; t[6:8, 6:8, 6:8] = True
    p = np.zeros_like(t); p[1:3, 1:3, 1:2] = True; p[4, 0, 0] = True
    s = lesion_wise_scores(t, p)
    assert s["lesion_recall"] == 0.5 and s["lesion_precision"] == 0.5 and s["lesion_f1"] == 0.5
    assert s["dice"] == pytest.approx(2 * 4 / (16 + 5)) and s["abs_volume_diff_voxels"] == 11


def _save(array, path, affine=None):
    nib.save(nib.Nifti1Image(np.asarray(array), np.eye(4) if affine is None else affine), str(path))
    return path


def test_reads_and_reorients_to_ras(tmp_path):
    data = np.random.default_rng(0).random((6, 7, 8)).astype(np.float32)
    las = np.diag([-1.0, 1.0, 1.0, 1.0])
    vol = read_volume(_save(data, tmp_path / "las.nii.gz", las))
    assert nib.aff2axcodes(vol.affine) == ("R", "A", "S")
    assert np.array_equal(vol.array, data[::-1])


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(InvalidInputError, match="2-D"):
        read_volume(_save(np.ones((5, 6), np.float32), tmp_path / "flat.nii.gz"))
    with pytest.raises(InvalidInputError, match="4-D"):
        read_volume(_save(np.ones((5, 6, 7, 3), np.float32), tmp_path / "series.nii.gz"))
    (tmp_path / "junk.nii.gz").write_bytes(b"not a nifti")
    with pytest.raises(InvalidInputError, match="junk"):
        read_volume(tmp_path / "junk.nii.gz")
    flair = read_volume(_save(np.ones((5, 6, 7), np.float32), tmp_path / "f.nii.gz"))
    with pytest.raises(InvalidInputError, match="geometry"):
        read_mask(_save(np.ones((5, 6, 8), np.uint8), tmp_path / "m.nii.gz"), flair)
    with pytest.raises(InvalidInputError, match="FLAIR"):
        check_flair_tags([{"SeriesDescription": "T1 MPRAGE", "ProtocolName": "t1_mprage_sag"}], tmp_path)
    check_flair_tags([{"SeriesDescription": "3D T2 FLAIR SAG"}], tmp_path)


def test_cv_protocol_keeps_subjects_apart_and_validates_each_once():
    from biomedai.methods.nmosd_ms.protocol import binary_scores, repeated_folds, summarise

    subjects = [f"s{i // 2}" for i in range(60)]          # two scans per subject
    labels = [int(i // 2 < 14) for i in range(60)]
    seen: dict[int, list[int]] = {}
    for split in repeated_folds(subjects, labels, folds=5, repeats=3):
        assert not {subjects[i] for i in split.train} & {subjects[i] for i in split.val}
        assert 0 < np.mean([labels[i] for i in split.val]) < 1       # stratified: both classes in every fold
        seen.setdefault(split.repeat, []).extend(split.val.tolist())
    assert all(sorted(v) == list(range(60)) for v in seen.values()) and len(seen) == 3
    s = binary_scores([1, 1, 0, 0], [1, 0, 0, 0])
    assert (s["accuracy"], s["sensitivity"], s["specificity"]) == (0.75, 0.5, 1.0)
    assert summarise([{"a": 1.0}, {"a": 3.0}])["a"] == (2.0, pytest.approx(2 ** 0.5))


def test_location_summary_rules():
    from biomedai.methods.nmosd_ms.location import location_summary

    shape = (40, 40, 40)
    affine = np.array([[2.0, 0, 0, -40], [0, 2, 0, -40], [0, 0, 2, -40], [0, 0, 0, 1]])  # voxel 20 = 0 mm
    csf = np.zeros(shape); csf[18:22, 18:24, 20:26] = 1.0           # ventricle near the centre
    gm = np.zeros(shape); gm[2:5, :, :] = 1.0                          # a cortical sheet at x = -36..-32 mm
    lesion = np.zeros(shape, bool)
    lesion[17, 20, 22] = True                                          # next to the ventricle
    lesion[5:7, 30, 30] = True                                         # touching grey matter
    lesion[30, 30, 30] = True                                          # deep white matter
    lesion[20, 10, 5] = True                                           # z = -30 mm: infratentorial
    assert location_summary(lesion, affine, csf, gm) == {"infratentorial": 1, "periventricular": 1,
                                                         "juxtacortical": 1, "deep": 1}
