from __future__ import annotations

import numpy as np
import pytest

from biomedai.io.image import Image


def test_geometry_defaults_and_summary():
    img = Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), spacing=(2.0, 0.5, 0.25))
    assert img.ndim_spatial == 3 and img.spatial_shape == (2, 3, 4)
    assert img.physical_size == (4.0, 1.5, 1.0)
    assert img.origin == (0.0, 0.0, 0.0) and np.array_equal(img.direction, np.eye(3))
    s = img.summary()
    assert s["min"] == 0 and s["max"] == 23 and s["dtype"] == "int16"


def test_rgb_channel_axis():
    img = Image(np.zeros((5, 6, 3), np.uint8), channel_axis=-1, spacing=(0.5, 0.5), spacing_unit="um")
    assert img.ndim_spatial == 2 and img.n_channels == 3


@pytest.mark.parametrize("kwargs", [dict(spacing=(1.0,)), dict(spacing=(0.0, 1.0)), dict(spacing=(np.nan, 1.0)),
                                    dict(direction=np.eye(3)), dict(origin=(1, 2, 3))])
def test_bad_geometry_rejected(kwargs):
    with pytest.raises(ValueError):
        Image(np.zeros((4, 4)), **kwargs)


def test_sitk_round_trip_reverses_axes():
    sitk = pytest.importorskip("SimpleITK")
    direction = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=float)
    img = Image(np.random.default_rng(0).random((3, 4, 5)).astype(np.float32), spacing=(3.0, 2.0, 1.0),
                origin=(30.0, 20.0, 10.0), direction=direction)
    s = img.to_sitk()
    assert s.GetSize() == (5, 4, 3) and s.GetSpacing() == (1.0, 2.0, 3.0) and s.GetOrigin() == (10.0, 20.0, 30.0)
    # physical point of voxel index (x=1, y=2, z=0) must agree with our own geometry
    ours = np.asarray(img.origin) + img.direction @ (np.array([0, 2, 1]) * np.asarray(img.spacing))
    theirs = np.array(s.TransformIndexToPhysicalPoint((1, 2, 0)))[::-1]
    assert np.allclose(ours, theirs)
    back = Image.from_sitk(s)
    assert np.array_equal(back.array, img.array) and back.spacing == img.spacing
    assert np.allclose(back.direction, direction) and back.origin == img.origin
    assert sitk.GetArrayFromImage(s).shape == (3, 4, 5)
