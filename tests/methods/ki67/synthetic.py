"""Synthetic Ki-67 IHC tiles with a known answer: haematoxylin disks, some also stained with DAB."""
from __future__ import annotations

import numpy as np


def synthetic_ihc(n_pos: int, n_neg: int, shape: tuple[int, int] = (256, 256), radius: int = 9,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rgb uint8, instance labels, is_positive[id])`` with disks on a grid of random jitter.

    Negative nuclei: haematoxylin OD ~0.08; positive: haematoxylin ~0.05 plus DAB ~0.15 (rgb2hed units
    scaled like real DeepLIIF tiles). A little noise is added to every channel.
    """
    from skimage.color import hed2rgb

    rng = np.random.default_rng(seed)
    n = n_pos + n_neg
    step = 3 * radius
    grid = [(y, x) for y in range(step // 2 + 2, shape[0] - step // 2, step)
            for x in range(step // 2 + 2, shape[1] - step // 2, step)]
    if n > len(grid):
        raise ValueError(f"{n} nuclei do not fit a {shape} tile")
    order = rng.permutation(len(grid))[:n]
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    hed = np.zeros((*shape, 3))
    hed[..., 0] = 0.01
    labels = np.zeros(shape, np.int32)
    positive = np.zeros(n + 1, bool)
    kinds = rng.permutation(np.r_[np.ones(n_pos, bool), np.zeros(n_neg, bool)])
    for k, (g, is_pos) in enumerate(zip(order, kinds), start=1):
        cy, cx = grid[g]
        cy, cx = cy + rng.integers(-2, 3), cx + rng.integers(-2, 3)
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
        labels[disk] = k
        positive[k] = is_pos
        hed[disk, 0] = 0.05 if is_pos else 0.08
        if is_pos:
            hed[disk, 2] = 0.15
    hed += rng.normal(0, 0.003, hed.shape)
    rgb = (np.clip(hed2rgb(np.clip(hed, 0, None)), 0, 1) * 255).round().astype(np.uint8)
    return rgb, labels, positive
