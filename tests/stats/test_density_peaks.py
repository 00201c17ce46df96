"""Density-peak clustering: brute-force agreement, known structures, bad input."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.stats import density_peaks as dp_module
from biomedai.stats.density_peaks import density_peaks


def brute_force(x, dc, n_sd=2.0, kernel="gaussian"):
    """Plain loops, straight from Rodriguez & Laio (2014), with the same tie rule (index order)."""
    n = len(x)
    d = [[float(np.sqrt(((x[i] - x[j]) ** 2).sum())) for j in range(n)] for i in range(n)]
    rho = []
    for i in range(n):
        s = 0.0
        for j in range(n):
            if j != i:
                s += np.exp(-(d[i][j] / dc) ** 2) if kernel == "gaussian" else float(d[i][j] < dc)
        rho.append(s)
    order = sorted(range(n), key=lambda i: (-rho[i], i))
    rank = {i: r for r, i in enumerate(order)}
    delta, nn = [0.0] * n, [-1] * n
    for i in range(n):
        denser = [j for j in range(n) if rank[j] < rank[i]]
        if not denser:
            delta[i] = max(d[i])
        else:
            j = min(denser, key=lambda j: (d[i][j], rank[j]))
            delta[i], nn[i] = d[i][j], j
    r, t = np.array(rho), np.array(delta)
    g = (r - r.min()) / (r.max() - r.min()) * (t - t.min()) / (t.max() - t.min())
    peaks = [i for i in order if g[i] > g.mean() + n_sd * g.std() or i == order[0]]
    labels = [-1] * n
    for k, p in enumerate(peaks):
        labels[p] = k
    for i in order:
        if labels[i] < 0:
            labels[i] = labels[nn[i]]
    return np.array(rho), np.array(delta), np.array(nn), np.array(labels)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kernel", ["gaussian", "cutoff"])
def test_agrees_with_brute_force(seed, kernel):
    rng = np.random.default_rng(seed)
    x = np.vstack([rng.normal(0, 1, (15, 3)), rng.normal(6, 1, (10, 3)), rng.uniform(-5, 10, (5, 3))])
    result = density_peaks(x, dc_percentile=5.0, kernel=kernel)
    rho, delta, nn, labels = brute_force(x, result.dc, kernel=kernel)
    np.testing.assert_allclose(result.rho, rho, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(result.delta, delta, rtol=1e-10)
    if kernel == "gaussian":  # the cut-off kernel has ties in delta, where the nearest index may differ
        np.testing.assert_array_equal(result.nearest_denser, nn)
        np.testing.assert_array_equal(result.labels, labels)


def test_dominant_gaussian_with_scattered_outliers_is_recovered():
    rng = np.random.default_rng(7)
    cov = np.array([[30.0, -6, -9], [-6, 9, 4], [-9, 4, 12]])
    core = rng.multivariate_normal([33, 38, 5], cov, 250)
    outliers = np.c_[rng.uniform(-20, 60, 30), rng.uniform(15, 65, 30), rng.uniform(-20, 40, 30)]
    x = np.vstack([core, outliers])
    first = density_peaks(x)
    result = density_peaks(x, min_density=0.02 * first.rho.max())
    assert result.labels[int(result.order[0])] == 0
    in_core = result.labels[:250] == 0
    in_outliers = result.labels[250:] == 0
    assert in_core.mean() > 0.9
    assert in_outliers.mean() < 0.3
    np.testing.assert_allclose(x[:250][in_core].mean(axis=0), core.mean(axis=0), atol=1.0)


def test_two_clusters_and_halo():
    rng = np.random.default_rng(3)
    x = np.vstack([rng.normal(0, 1, (80, 2)), rng.normal(2.5, 1, (60, 2))])
    result = density_peaks(x, halo=True, dc_percentile=5.0)
    assert result.n_clusters == 2
    assert (result.labels[:80] == np.bincount(result.labels[:80]).argmax()).mean() > 0.9
    assert (result.labels[80:] == np.bincount(result.labels[80:]).argmax()).mean() > 0.9
    assert result.halo.any() and not result.halo.all()
    assert result.densest_cluster.sum() < (result.labels == 0).sum()


def test_fixed_number_of_peaks():
    rng = np.random.default_rng(2)
    x = np.vstack([rng.normal(c, 0.5, (30, 2)) for c in (0, 4, 8)])
    result = density_peaks(x, n_peaks=3)
    assert result.n_clusters == 3
    assert len({tuple(np.bincount(result.labels[i * 30:(i + 1) * 30], minlength=3).argmax() for _ in [0])
                for i in range(3)}) == 3


@pytest.mark.parametrize("bad, match", [(np.zeros((2, 3)), "at least 3"), (np.full((5, 2), np.nan), "finite"),
                                        (np.zeros((4, 2, 2)), "array of points"), (np.zeros((5, 2)), "identical")])
def test_bad_input(bad, match):
    with pytest.raises(InvalidInputError, match=match):
        density_peaks(bad)


def test_docstring_examples():
    result = doctest.testmod(dp_module, extraglobs={"np": np}, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_standardise_makes_feature_scales_irrelevant():
    rng = np.random.default_rng(4)
    x = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(6, 1, (60, 2))])
    stretched = x * [1.0, 1000.0]
    plain = density_peaks(x)
    scaled = density_peaks(stretched, standardise=True)
    assert plain.n_clusters == scaled.n_clusters == 2
    np.testing.assert_array_equal(plain.labels[:60] == plain.labels[0], scaled.labels[:60] == scaled.labels[0])


def test_noise_points_never_join_a_cluster():
    rng = np.random.default_rng(6)
    x = np.vstack([rng.normal(0, 1, (100, 2)), [[40.0, 40.0], [-40.0, 35.0]]])
    result = density_peaks(x, min_density=0.05)
    assert (result.labels[-2:] == -1).all() and (result.labels[:100] >= 0).mean() > 0.9
