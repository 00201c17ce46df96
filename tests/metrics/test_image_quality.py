"""PSNR/SSIM: closed-form answers and scikit-image as the reference in the same tests."""
from __future__ import annotations

import math

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.metrics import psnr, ssim

skmetrics = pytest.importorskip("skimage.metrics")
skdata = pytest.importorskip("skimage.data")


def test_psnr_closed_form_and_skimage():
    a = np.zeros((8, 8))
    b = a.copy()
    b[0, :4] = 4.0  # MSE = 4 * 16 / 64 = 1
    assert psnr(a, b, data_range=255) == pytest.approx(20 * math.log10(255))
    assert psnr(a, a, data_range=1.0) == math.inf
    img = skdata.camera()
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 10, img.shape), 0, 255).astype(np.uint8)
    assert psnr(img, noisy, data_range=255) == pytest.approx(skmetrics.peak_signal_noise_ratio(img, noisy, data_range=255))


def test_ssim_matches_skimage_2d_colour_and_3d():
    rng = np.random.default_rng(1)
    img = skdata.camera()[::4, ::4].astype(float) / 255
    noisy = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1)
    assert ssim(img, img, data_range=1.0) == pytest.approx(1.0)
    ref = skmetrics.structural_similarity(img, noisy, data_range=1.0)
    assert ssim(img, noisy, data_range=1.0) == pytest.approx(ref) and 0.3 < ref < 0.95
    ref_g = skmetrics.structural_similarity(img, noisy, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim(img, noisy, data_range=1.0, gaussian_weights=True) == pytest.approx(ref_g)
    rgb = skdata.astronaut()[::8, ::8]
    rgb2 = np.clip(rgb + rng.normal(0, 8, rgb.shape), 0, 255)
    assert ssim(rgb, rgb2, data_range=255, channel_axis=-1) == pytest.approx(
        skmetrics.structural_similarity(rgb.astype(float), rgb2, data_range=255, channel_axis=-1)
    )
    vol = rng.random((12, 16, 16))
    vol2 = vol + rng.normal(0, 0.1, vol.shape)
    assert ssim(vol, vol2, data_range=1.0) == pytest.approx(skmetrics.structural_similarity(vol, vol2, data_range=1.0))


def test_image_quality_bad_inputs():
    a = np.zeros((16, 16))
    with pytest.raises(TypeError):
        psnr(a, a)  # type: ignore[call-arg]  # data_range is required
    with pytest.raises(InvalidInputError, match="data_range"):
        psnr(a, a, data_range=0)
    with pytest.raises(InvalidInputError, match="shape"):
        ssim(a, a[:8], data_range=1.0)
    with pytest.raises(InvalidInputError, match="NaN"):
        psnr(a, np.full((16, 16), np.nan), data_range=1.0)
    with pytest.raises(InvalidInputError, match="window"):
        ssim(a[:5, :5], a[:5, :5], data_range=1.0)
