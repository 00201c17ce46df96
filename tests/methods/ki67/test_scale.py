"""The nucleus scale measured per image: granulometry with known answers, resizing invariance of the labelling
index on the bundled IHC sample, the fall-backs and warnings."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.methods.ki67.config import Ki67Config
from biomedai.methods.ki67.ihc import quantify_ihc
from biomedai.methods.ki67.scale import granulometry_diameter, resolve_nucleus_scale


def _disks(diameter: float, spacing: int, size: int = 240, touching: bool = False) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    mask = np.zeros((size, size), bool)
    step = int(diameter * 0.9) if touching else spacing
    for cy in range(step // 2, size, step):
        for cx in range(step // 2, size, step):
            mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= (diameter / 2) ** 2
    return mask


@pytest.mark.parametrize("diameter", [8.0, 14.0, 24.0, 40.0])
def test_granulometry_measures_disk_diameters(diameter: float) -> None:
    assert granulometry_diameter(_disks(diameter, int(2 * diameter))) == pytest.approx(diameter, rel=0.12)


def test_granulometry_is_not_fooled_by_touching_disks() -> None:
    # rows of overlapping 20-px disks form long clusters; their components are huge, the disks are not
    assert granulometry_diameter(_disks(20.0, 0, touching=True)) == pytest.approx(20.0, rel=0.2)


def test_empty_mask_and_fallbacks() -> None:
    assert granulometry_diameter(np.zeros((20, 20), bool)) is None
    assert resolve_nucleus_scale(None, 0.5, None).diameter_px == pytest.approx(14.0)  # 7 um / 0.5 um
    assert resolve_nucleus_scale(None, 0.5, None).warning
    fallback = resolve_nucleus_scale(150.0, None, None)
    assert fallback.diameter_px == 20.0 and "not nucleus-like" in fallback.warning
    assert resolve_nucleus_scale(16.0, None, None).warning is None
    assert "pixel size" in resolve_nucleus_scale(16.0, 0.125, None).warning  # 56 px expected from the mpp
    assert "check the setting" in resolve_nucleus_scale(50.0, None, 12.0).warning


def _ihc_sample() -> np.ndarray:
    from biomedai.data.samples import sample_path
    from biomedai.io import read_image
    from biomedai.methods.ki67.ihc import as_rgb

    return as_rgb(read_image(sample_path("ihc")).array)


def test_resized_sample_gives_the_same_labelling_index() -> None:
    """scikit-image's ihc.png at x0.5, x1 and x2: the measured diameter follows the resize and the
    labelling index stays within 4 points (a fixed nucleus_diameter_px cannot do both)."""
    from skimage.transform import rescale

    rgb = _ihc_sample()
    results = {}
    for factor in (0.5, 1.0, 2.0):
        x = rgb if factor == 1.0 else (rescale(rgb, factor, channel_axis=-1, anti_aliasing=factor < 1) * 255
                                       ).round().astype(np.uint8)
        results[factor] = quantify_ihc(x, Ki67Config())
    d1 = results[1.0].scale.diameter_px
    assert 8 <= d1 <= 25 and results[1.0].scale.source.startswith("measured")
    assert 0.35 <= results[0.5].scale.diameter_px / d1 <= 0.8
    assert 1.5 <= results[2.0].scale.diameter_px / d1 <= 2.5
    li = {f: r.labelling_index for f, r in results.items()}
    assert abs(li[0.5] - li[1.0]) <= 4.0 and abs(li[2.0] - li[1.0]) <= 4.0, li
    # the sample's DAB marks cytoplasm (FHL2): the quantifier says so and counts haematoxylin nuclei
    assert "not confined to nuclei" in results[1.0].scale.warning


def test_demo_and_predict_give_the_same_index(tmp_path) -> None:
    from biomedai.data.samples import sample_path
    from biomedai.methods import get_method

    method = get_method("ki67")()
    demo = method.demo(tmp_path / "demo")
    pred = method.predict([sample_path("ihc")], tmp_path / "pred")
    assert demo.metrics["labelling_index_pct"] == pytest.approx(pred.metrics["labelling_index_pct"])
