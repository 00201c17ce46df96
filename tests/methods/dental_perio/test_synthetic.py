"""Simulated panoramic films and ABL cohorts: layout, orientation, reproducibility, the stated generative rule."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.methods.dental_perio.abl import FDI_ORDER
from biomedai.methods.dental_perio.synthetic import (COHORT_STAGE_SHARES, crown_fraction, simulate_abl_cohort,
                                                     synthetic_panoramic)


def test_film_layout_and_orientation() -> None:
    film = synthetic_panoramic(0)
    h, w = film.image.shape
    assert (h, w) == (256, 512) and film.image.dtype == np.uint8 and film.teeth.dtype == np.int32
    labels = set(np.unique(film.teeth)) - {0}
    assert labels <= set(FDI_ORDER) and labels == set(film.true_d)
    assert sorted(labels | set(film.missing)) == sorted(FDI_ORDER)
    assert not (film.bone_mask & (film.teeth > 0)).any()
    for fdi in labels:
        rows, cols = np.nonzero(film.teeth == fdi)
        upper = fdi // 10 in (1, 2)
        assert (rows.mean() < h / 2) == upper
        # the crown (wide end) is next to the occlusal line: down for upper teeth, up for lower teeth
        top, bottom = rows.min(), rows.max()
        quarter = (bottom - top) // 4
        width_top = np.count_nonzero(rows <= top + quarter)
        width_bottom = np.count_nonzero(rows >= bottom - quarter)
        assert (width_bottom > width_top) == upper, fdi
        assert 0.3 < film.true_d[fdi] < 1.0
    # patient right on the image left: 18 left of 11, 11 left of 21, 48 left of 31
    x = {f: np.nonzero(film.teeth == f)[1].mean() for f in labels}
    for a, b in ((18, 11), (11, 21), (48, 41), (41, 31)):
        if a in x and b in x:
            assert x[a] < x[b]
    # teeth brighter than bone, bone brighter than soft tissue
    img = film.image.astype(float)
    assert img[film.teeth > 0].mean() > img[film.bone_mask].mean() > img[(film.teeth == 0) & ~film.bone_mask].mean()


def test_film_reproducible_and_missing_teeth() -> None:
    a, b = synthetic_panoramic(5), synthetic_panoramic(5)
    assert np.array_equal(a.image, b.image) and a.true_d == b.true_d
    assert not np.array_equal(a.image, synthetic_panoramic(6).image)
    assert any(synthetic_panoramic(s).missing for s in range(5))
    assert synthetic_panoramic(1, missing_rate=0.0).missing == []
    with pytest.raises(InvalidInputError, match="size"):
        synthetic_panoramic(0, size=(32, 32))


def test_cohort_follows_its_rule() -> None:
    X, y = simulate_abl_cohort(298, seed=0)
    assert X.shape == (298, 32) and np.isfinite(X).all() and ((X >= 0) & (X <= 1)).all()
    assert np.bincount(y).tolist() == [52, 189, 43, 14]   # the Suzhou shares, exact counts
    X2, y2 = simulate_abl_cohort(298, seed=0)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    # excess over the crown fraction of the worst tooth grows with the stage
    h = np.array([crown_fraction(f) for f in FDI_ORDER])
    excess = (X - h).max(axis=1)
    means = [excess[y == s].mean() for s in range(4)]
    assert means == sorted(means) and means[3] - means[0] > 0.2
    _, yb = simulate_abl_cohort(100, seed=1, shares=(0.25, 0.25, 0.25, 0.25))
    assert np.bincount(yb).tolist() == [25, 25, 25, 25]
    assert abs(sum(COHORT_STAGE_SHARES) - 1) < 1e-12


@pytest.mark.parametrize("name", ["abl", "synthetic", "staging", "charts"])
def test_docstring_examples(name: str) -> None:
    import doctest
    import importlib

    module = importlib.import_module(f"biomedai.methods.dental_perio.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
