"""Texture matrices and discretisation on tiny arrays, against values worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.radiomics.features import glcm, gldm, glrlm, glszm, ngtdm
from biomedai.radiomics.features._neighbours import angles
from biomedai.radiomics.preprocessing import bin_edges, discretize

# a 1-slice 3x3 image (levels 1..3), every voxel in the ROI
TINY = np.array([[[1, 1, 2],
                  [2, 3, 3],
                  [1, 2, 3]]])
ROI = TINY > 0


def test_angles_counts_and_order():
    assert len(angles((5, 5, 5), [1], False)) == 13
    assert len(angles((5, 5, 5), [1], True)) == 26
    assert len(angles((5, 5, 5), [1, 2], True)) == 124
    assert angles((5, 5, 5), [1], False)[0].tolist() == [1, 1, 1]
    # a one-slice ROI cannot move out of plane; force2D keeps only in-plane offsets
    assert len(angles((1, 5, 5), [1], False)) == 4
    assert np.all(angles((5, 5, 5), [1], True, force2d_dim=0)[:, 0] == 0)


def test_glcm_horizontal_and_vertical_by_hand():
    P = glcm.matrix(TINY, ROI, np.array([[0, 0, 1], [0, 1, 0]]), 3)
    # horizontal pairs (left -> right): (1,1) (1,2) (2,3) (3,3) (1,2) (2,3)
    assert P[:, :, 0].tolist() == [[1, 2, 0], [0, 0, 2], [0, 0, 1]]
    # vertical pairs (top -> bottom): (1,2) (1,3) (2,3) (2,1) (3,2) (3,3)
    assert P[:, :, 1].tolist() == [[0, 1, 1], [1, 0, 1], [0, 1, 1]]


def test_glcm_respects_the_mask():
    roi = ROI.copy()
    roi[0, 0, 1] = False
    P = glcm.matrix(TINY, roi, np.array([[0, 0, 1]]), 3)
    # pairs touching voxel (0, 1) are gone: (1,1) and (1,2) of the first row
    assert P[:, :, 0].tolist() == [[0, 1, 0], [0, 0, 2], [0, 0, 1]]


def test_glrlm_by_hand():
    P = glrlm.matrix(TINY, ROI, np.array([[0, 0, 1], [0, 1, 0]]), 3, 3)
    # rows: [1 1][2] | [2][3 3] | [1][2][3]
    assert P[:, :, 0].tolist() == [[1, 1, 0], [3, 0, 0], [1, 1, 0]]
    # columns: [1][2][1] | [1][3][2] | [2][3 3]
    assert P[:, :, 1].tolist() == [[3, 0, 0], [3, 0, 0], [1, 1, 0]]


def test_glrlm_run_broken_by_mask():
    lv = np.array([[[1, 1, 1, 1]]])
    roi = np.array([[[True, True, False, True]]])
    P = glrlm.matrix(lv, roi, np.array([[0, 0, 1]]), 1, 4)
    assert P[0, :, 0].tolist() == [1, 1, 0, 0]


def test_glszm_by_hand():
    P = glszm.matrix(TINY, 3)
    # level 1: (0,0)-(0,1) zone of 2, (2,0) alone (its neighbours are 2s) -> sizes {2, 1}
    # level 2: (1,0) touches (2,1) diagonally -> zone of 2; (0,2) alone -> sizes {2, 1}
    # level 3: (1,1),(1,2),(2,2) connected -> size 3
    assert P.tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]


def test_glszm_force2d_keeps_slices_apart():
    lv = np.ones((2, 2, 2), dtype=np.int64)
    assert glszm.matrix(lv, 1).tolist() == [[0] * 7 + [1]]
    assert glszm.matrix(lv, 1, force2d_dim=0).tolist() == [[0, 0, 0, 2]]


def test_gldm_by_hand():
    off = angles(TINY.shape, [1], True)
    P = gldm.matrix(TINY, ROI, off, 3, alpha=0)
    # dependent (equal) 8-neighbours: (0,0)->1 (0,1)->1 (2,0)->0 | 2s: (0,2)->0 (1,0)->1 (2,1)->1 |
    # 3s: (1,1)->2 (1,2)->2 (2,2)->2
    assert P[:, :4].tolist() == [[1, 2, 0, 0], [1, 2, 0, 0], [0, 0, 3, 0]]
    assert P.sum() == 9


def test_ngtdm_by_hand():
    lv = np.array([[[1, 2, 3]]])
    off = angles(lv.shape, [1], True)
    M = ngtdm.matrix(lv, lv > 0, off, 3)
    # |1-2| = 1, |2-(1+3)/2| = 0, |3-2| = 1
    assert M.tolist() == [[1, 1, 1], [1, 0, 2], [1, 1, 3]]


def test_bin_width_edges_and_levels():
    values = np.array([-7.0, 0.0, 24.9, 25.0, 60.0])
    assert bin_edges(values, {"binWidth": 25}).tolist() == [-25, 0, 25, 50, 75, 100]
    levels = discretize(values.reshape(1, 1, -1), np.ones((1, 1, 5), bool), {"binWidth": 25})
    assert levels.ravel().tolist() == [1, 2, 2, 3, 4]


def test_bin_count_puts_maximum_in_top_bin():
    values = np.linspace(0, 1, 11)
    levels = discretize(values.reshape(1, 1, -1), np.ones((1, 1, 11), bool), {"binCount": 5})
    assert levels.min() == 1 and levels.max() == 5


def test_flat_region_is_one_bin():
    assert discretize(np.full((1, 2, 2), 7.0), np.ones((1, 2, 2), bool), {"binWidth": 25}).max() == 1


def test_glcm_features_of_a_checkerboard():
    lv = (np.indices((1, 6, 6)).sum(axis=0) % 2) + 1
    roi = np.ones_like(lv, bool)
    f = glcm.features(lv, roi, {"force2D": True}, np.ones(3), np.array([1, 2]))
    # horizontal/vertical neighbours always differ, diagonal ones never: contrast 1 on 2 of 4 angles
    assert f["Contrast"] == pytest.approx(0.5)
    assert f["JointAverage"] == pytest.approx(1.5)


def test_firstorder_percentiles_equal_numpy_bit_for_bit():
    from biomedai.radiomics.features.firstorder import percentiles

    rng = np.random.default_rng(0)
    qs = (10, 25, 50, 75, 90)
    for n in (1, 2, 3, 7, 10, 101, 1000):
        for x in (rng.normal(size=n), rng.integers(-5, 5, n).astype(float), np.full(n, 3.0)):
            assert percentiles(x.copy(), qs) == np.percentile(x, qs).tolist()


def _uint8_case():
    rng = np.random.default_rng(2)
    vals = rng.integers(0, 251, (6, 8, 8)).astype(np.uint8)
    vals[0, 0, 0], vals[0, 0, 1] = 0, 250  # ROI range 0..250: 250 + 2 x 5 > 255
    return vals, np.ones(vals.shape, bool)


def test_uint8_bin_edges_overflow_like_pyradiomics_with_a_warning(caplog):
    vals, roi = _uint8_case()
    with caplog.at_level("WARNING", logger="biomedai.radiomics.preprocessing"):
        levels = discretize(vals, roi, {"binWidth": 5})
    # 0 + 2 x 5 wraps: the edges collapse to [-0.5, 0.5], so every value above 0 is level 2
    np.testing.assert_array_equal(levels[roi], np.where(vals[roi] == 0, 1, 2))
    assert "overflow uint8" in caplog.text and "binEdgesFloat64" in caplog.text


def test_uint8_bin_edges_in_float64_on_request(caplog):
    vals, roi = _uint8_case()
    with caplog.at_level("WARNING", logger="biomedai.radiomics.preprocessing"):
        levels = discretize(vals, roi, {"binWidth": 5, "binEdgesFloat64": True})
    np.testing.assert_array_equal(levels[roi], vals[roi].astype(int) // 5 + 1)
    assert "overflow" not in caplog.text
    # where nothing overflows, the option changes nothing
    small = np.minimum(vals, 200)
    np.testing.assert_array_equal(discretize(small, roi, {"binWidth": 5, "binEdgesFloat64": True}),
                                  discretize(small, roi, {"binWidth": 5}))


def test_ngtdm_box_sums_equal_offset_loop():
    """The separable box-sum path gives the offset loop's matrix (26 neighbours, radius 2, in-plane)."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        shape = tuple(int(v) for v in rng.integers(1, 8, 3))
        roi = rng.random(shape) < 0.7
        lv = np.where(roi, rng.integers(1, 6, shape), 0).astype(np.int16)
        for dist, f2d in (([1], None), ([1, 2], None), ([1], 0), ([1], 2)):
            offs = angles(shape, dist, True, f2d)
            if len(offs) == 0:
                continue
            slow = np.zeros((5, 3))
            total = np.zeros(shape, np.int64)
            count = np.zeros(shape, np.int64)
            for off in offs:  # the definition, one offset at a time
                for idx in np.ndindex(*shape):
                    nb = tuple(int(i + o) for i, o in zip(idx, off))
                    if all(0 <= v < s for v, s in zip(nb, shape)) and roi[nb]:
                        total[idx] += lv[nb]
                        count[idx] += 1
            for idx in zip(*np.nonzero(roi)):
                i = int(lv[idx])
                slow[i - 1, 0] += 1
                slow[i - 1, 1] += abs(i - total[idx] / count[idx]) if count[idx] else 0.0
            slow[:, 2] = np.arange(1, 6)
            np.testing.assert_allclose(ngtdm.matrix(lv, roi, offs, 5), slow, rtol=1e-12, atol=1e-12)


def test_label_zones_equals_scikit_image_label():
    from skimage.measure import label

    from biomedai.radiomics.features._neighbours import label_zones

    rng = np.random.default_rng(1)
    for shape, conn in (((6, 9, 8), 3), ((6, 9, 8), 1), ((12, 11), 2)):
        lv = rng.integers(0, 4, shape).astype(np.int16)
        np.testing.assert_array_equal(label_zones(lv, conn), label(lv, background=0, connectivity=conn))


def _inside(idx, shape):
    return all(0 <= v < s for v, s in zip(idx, shape))


def _glcm_by_definition(lv, roi, offs, n):
    P = np.zeros((n, n, len(offs)))
    for k, off in enumerate(offs):
        for idx in zip(*np.nonzero(roi)):
            nb = tuple(int(i + o) for i, o in zip(idx, off))
            if _inside(nb, lv.shape) and roi[nb]:
                P[lv[idx] - 1, lv[nb] - 1, k] += 1
    return P


def _glrlm_by_definition(lv, roi, offs, n, n_runs):
    P = np.zeros((n, n_runs, len(offs)))
    for k, off in enumerate(offs):
        def same(a, b):
            return _inside(b, lv.shape) and roi[b] and lv[b] == lv[a]

        multi = False
        for idx in zip(*np.nonzero(roi)):
            idx = tuple(int(v) for v in idx)
            for t in range(1, max(lv.shape)):  # any other ROI voxel on this voxel's line
                far = tuple(i + t * o for i, o in zip(idx, off))
                multi |= _inside(far, lv.shape) and bool(roi[far])
            if same(idx, tuple(i - o for i, o in zip(idx, off))):
                continue  # not the first voxel of its run
            length, cur = 1, idx
            while same(cur, nxt := tuple(i + o for i, o in zip(cur, off))):
                length, cur = length + 1, nxt
            P[lv[idx] - 1, length - 1, k] += 1
        if not multi:
            P[:, :, k] = 0  # no line with two ROI voxels: the angle is dropped
    return P


def _gldm_by_definition(lv, roi, offs, n, alpha):
    P = np.zeros((n, len(offs) + 1))
    for idx in zip(*np.nonzero(roi)):
        dep = 0
        for off in offs:
            nb = tuple(int(i + o) for i, o in zip(idx, off))
            dep += _inside(nb, lv.shape) and roi[nb] and abs(int(lv[nb]) - int(lv[idx])) <= alpha
        P[lv[idx] - 1, dep] += 1
    return P


def _ngtdm_by_definition(lv, roi, offs, n):
    M = np.zeros((n, 3))
    M[:, 2] = np.arange(1, n + 1)
    for idx in zip(*np.nonzero(roi)):
        nbs = [tuple(int(i + o) for i, o in zip(idx, off)) for off in offs]
        vals = [int(lv[nb]) for nb in nbs if _inside(nb, lv.shape) and roi[nb]]
        M[lv[idx] - 1, 0] += 1
        M[lv[idx] - 1, 1] += abs(int(lv[idx]) - sum(vals) / len(vals)) if vals else 0.0
    return M


def test_flat_layout_matrices_equal_their_definitions():
    """GLCM, GLRLM, GLDM and NGTDM (built in a flat zero-padded layout) equal voxel-by-voxel definitions.

    Random boxes (some one voxel thick), masks with holes and levels that are not 0 outside the
    ROI, distances 1 and [1, 2], force2D on each axis, asymmetric offsets and GLDM's alpha 0 and 1.
    """
    rng = np.random.default_rng(7)
    for trial in range(24):
        shape = tuple(int(v) for v in rng.integers(1, 7, 3))
        roi = rng.random(shape) < rng.uniform(0.3, 0.9)
        lv = rng.integers(1, 5, shape).astype(np.int16 if trial % 2 else np.int64)
        n = 4
        for dist, f2d in (([1], None), ([1, 2], None), ([1], trial % 3)):
            offs = angles(shape, dist, False, f2d)
            if len(offs):
                np.testing.assert_array_equal(glcm.matrix(lv, roi, offs, n), _glcm_by_definition(lv, roi, offs, n))
                if dist == [1]:
                    n_runs = max(shape)
                    np.testing.assert_array_equal(glrlm.matrix(lv, roi, offs, n, n_runs),
                                                  _glrlm_by_definition(lv, roi, offs, n, n_runs))
            both = angles(shape, dist, True, f2d)
            if len(both):
                for alpha in (0, 1):
                    np.testing.assert_array_equal(gldm.matrix(lv, roi, both, n, alpha),
                                                  _gldm_by_definition(lv, roi, both, n, alpha))
                one_way = both[: len(both) // 2 + 1]  # a set without all mirrors, and not a full box
                np.testing.assert_array_equal(gldm.matrix(lv, roi, one_way, n, 0),
                                              _gldm_by_definition(lv, roi, one_way, n, 0))
                for offs_ng in (both, one_way):  # a full box (box sums) and not (one offset at a time)
                    np.testing.assert_allclose(ngtdm.matrix(lv, roi, offs_ng, n),
                                               _ngtdm_by_definition(lv, roi, offs_ng, n), rtol=1e-12, atol=1e-12)
