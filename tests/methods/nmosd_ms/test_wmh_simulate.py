"""SIMULATED training FLAIRs for the WMH network (wmh_simulate.py): the pasted lesions carry the training
contrast, stay out of CSF and background, and join the label; weighted patch sampling draws subjects as asked."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.methods.nmosd_ms.phantom import flair_phantom
from biomedai.methods.nmosd_ms.wmh_net import PatchSampler, prepare_subject
from biomedai.methods.nmosd_ms.wmh_simulate import (LesionContrast, lesion_contrast, paste_lesions, place_mask,
                                                    reference_intensity)


def _base():
    rng = np.random.default_rng(0)
    brain = np.zeros((40, 40, 40), bool)
    brain[4:36, 4:36, 4:36] = True
    flair = np.where(brain, 100.0 + rng.normal(0, 2, brain.shape), 0.0).astype(np.float32)
    flair[14:26, 14:26, 8:32] = 30.0  # a 'ventricle' (CSF is dark on FLAIR)
    lesion = np.zeros_like(brain)
    lesion[8:11, 8:11, 8:11] = True
    flair[lesion] = 160.0  # 1.6 x the reference
    return flair, brain, lesion


def test_contrast_is_measured_on_the_training_lesions():
    flair, brain, lesion = _base()
    c = lesion_contrast([(flair, brain, lesion)])
    assert reference_intensity(flair, brain, lesion) == pytest.approx(100, abs=1)
    assert c.quantiles[50] == pytest.approx(1.6, abs=0.03) and c.quantiles.shape == (101,)
    with pytest.raises(ValueError, match="no lesion voxel"):
        lesion_contrast([(flair, brain, np.zeros_like(lesion))])


def test_paste_brightens_by_the_contrast_avoids_csf_and_joins_the_label():
    flair, brain, lesion = _base()
    contrast = LesionContrast(np.linspace(1.4, 1.8, 101).astype(np.float32))
    new = np.zeros_like(brain)
    new[26:32, 26:32, 26:32] = True      # in white matter
    new[12:17, 12:17, 14:18] = True      # over the ventricle's corner: not pasted into the CSF
    new[0:3, 0:3, 0:3] = True            # outside the brain
    out, label = paste_lesions(flair, brain, lesion, new, contrast, np.random.default_rng(1))
    core = (slice(27, 31),) * 3
    assert 135 < out[core].mean() < 185 and out[core].min() >= flair[core].min()  # about 1.6 x 100, never darker
    # CSF is never labelled; the ~1-voxel edge blend may brighten CSF touching a pasted lesion, nothing further
    assert np.array_equal(out[19:23, 19:23, 8:32], flair[19:23, 19:23, 8:32])
    assert not label[0:3, 0:3, 0:3].any() and not label[14:26, 14:26, 8:32].any() and label[12:14, 12:17, 14:18].all()
    assert label[lesion].all() and label[26:32, 26:32, 26:32].all()
    far = (slice(30, 34), slice(8, 12), slice(30, 34))
    assert np.array_equal(out[far], flair[far])  # nothing changes away from the pasted lesions
    shifted = place_mask(new, np.random.default_rng(0))
    assert shifted.sum() == new.sum()


def test_weighted_sampling_draws_subjects_in_proportion():
    a = prepare_subject(*flair_phantom(seed=1), factor=2)
    b = prepare_subject(*flair_phantom(seed=2), factor=2)
    b = b._replace(flair=b.flair + 100.0)  # tells the subjects apart
    ds = PatchSampler([a, b], patch=8, n=400, seed=0, lesion_fraction=0.0, subject_weights=[0.8, 0.2])
    from_b = sum(float(ds[i][0].max()) > 50 for i in range(400))
    assert 50 < from_b < 115  # ~80 of 400 (0.2); unweighted would give 200
    with pytest.raises(ValueError, match="subject_weights"):
        PatchSampler([a, b], patch=8, n=4, subject_weights=[1.0])
