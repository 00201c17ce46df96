"""Simulator facts with known answers: Shore 00 conversion, slip motion, invariant shape features, ranges."""
from __future__ import annotations

import math

import numpy as np
import pytest

from biomedai.methods.tactile_mis.config import SLIP_CLASSES, TactileConfig
from biomedai.methods.tactile_mis.maps import contact_shape_features, tsis_features
from biomedai.methods.tactile_mis.simulate import (ObjectContact, homogeneous_map, modulus_kpa_to_shore00,
                                                   shore00_to_modulus_kpa, slip_sequences)


def test_shore00_conversion_is_monotone_and_inverts():
    shore = np.array([8.0, 30.0, 60.0, 87.0])
    modulus = shore00_to_modulus_kpa(shore)
    assert np.all(np.diff(modulus) > 0)
    assert 10 < modulus[0] < 100 and 1000 < modulus[-1] < 5000       # gels ~ tens of kPa, soft rubber ~ MPa
    assert np.allclose(modulus_kpa_to_shore00(modulus), shore, atol=1e-6)


def test_slip_east_moves_the_pressure_centroid_east():
    seqs, labels = slip_sequences(60, seed=3)
    cols = np.arange(seqs.shape[-1])
    for seq, label in zip(seqs, labels):
        if SLIP_CLASSES[label] in ("east", "west"):
            centroid = [(f.sum(0) * cols).sum() / f.sum() for f in (seq[0], seq[-1])]
            moved = centroid[1] - centroid[0]
            assert moved > 0.3 if SLIP_CLASSES[label] == "east" else moved < -0.3


def test_shape_features_ignore_position_and_rotation():
    contact = ObjectContact(24, 24, 1.0)
    base = contact.pressures_to_forces(contact.coverage("square", 8.0, 0.0, (0.0, 0.0)), 1.0)
    moved = contact.pressures_to_forces(contact.coverage("square", 8.0, math.pi / 2, (2.0, -3.0)), 1.0)
    other = contact.pressures_to_forces(contact.coverage("bar", 8.0, 0.0, (0.0, 0.0)), 1.0)
    f_base, f_moved, f_other = contact_shape_features(np.stack([base, moved, other]) / 1.0)
    assert np.linalg.norm(f_base - f_moved) < 0.25 * np.linalg.norm(f_base - f_other)


def test_default_probe_reads_the_reviews_nodule_free_range():
    free = homogeneous_map(TactileConfig())
    assert 0 < free.min() and free.max() < 0.4                        # Xie 2013: mostly 0-0.4 N
    o1, o2, o3 = tsis_features(free - free, 0.01)
    assert o2 == pytest.approx(0.0) and o3 == 0
