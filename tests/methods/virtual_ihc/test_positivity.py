"""The positivity-aware generator: haematoxylin view, DAB drawing read back by the Ki-67 quantifier, the
threshold rule, pooled agreement, a head that learns a visible cue, and predict with such a model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from biomedai.methods.ki67.ihc import stain_channels  # noqa: E402
from biomedai.methods.virtual_ihc.config import VirtualIHCConfig  # noqa: E402
from biomedai.methods.virtual_ihc.cyclegan import Pix2Pix, to_tensor  # noqa: E402
from biomedai.methods.virtual_ihc.evaluation import nucleus_agreement  # noqa: E402
from biomedai.metrics import binary_agreement_from_counts  # noqa: E402
from biomedai.methods.virtual_ihc.model_io import VirtualIHCModel, load_virtual_ihc, save_virtual_ihc  # noqa: E402
from biomedai.methods.virtual_ihc.pipeline import VirtualIHCMethod  # noqa: E402
from biomedai.methods.virtual_ihc.positivity import (  # noqa: E402
    REFERENCE_H_OD,
    PositivityGenerator,
    draw_dab,
    haematoxylin_view,
    positive_and_nucleus_masks,
    prior_threshold,
)
from biomedai.methods.virtual_ihc.training import train_pix2pix  # noqa: E402
from biomedai.train.model_folder import ModelInfo  # noqa: E402
from biomedai.viz import save_png  # noqa: E402


def _discs(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Haematoxylin-blue nuclei on white; the large ones are "positive" (brown in the IHC, red in the mask)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    src = np.full((n, size, size, 3), 245, np.uint8)
    ihc, seg = src.copy(), np.zeros_like(src)
    for k in range(n):
        for _ in range(3):
            big = rng.random() < 0.4
            r = 6 if big else 3
            cy, cx = rng.integers(r + 1, size - r - 1, size=2)
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            src[k][disc] = (90, 90, 170)
            ihc[k][disc] = (120, 70, 30) if big else (90, 90, 170)
            seg[k][disc] = (255, 0, 0) if big else (0, 0, 255)
    return src, ihc, seg, np.stack([positive_and_nucleus_masks(s)[0] for s in seg])


def test_haematoxylin_view_drops_eosin_and_dab_and_scales_the_haematoxylin() -> None:
    he = np.full((64, 64, 3), (230, 150, 200), np.uint8)  # eosin-pink background
    he[10:30, 10:30] = (80, 40, 140)                       # purple nuclei
    he[40:50, 40:50] = (140, 90, 40)                        # something brown
    view = haematoxylin_view(he)
    from skimage.color import rgb2hed

    hed = rgb2hed(view)
    assert np.abs(hed[..., 1]).max() < 0.02 and np.abs(hed[..., 2]).max() < 0.02
    assert np.percentile(np.clip(hed[..., 0], 0, None), 99) == pytest.approx(REFERENCE_H_OD, rel=0.1)
    assert hed[20, 20, 0] > hed[60, 60, 0] + 0.05  # nuclei stay darker than the background


def test_drawn_dab_is_read_back_by_the_quantifier_stain_channels() -> None:
    out = torch.zeros(1, 4, 16, 16)
    out[:, :3] = 0.6                      # a light grey base
    out[:, 3, :8] = 8.0                   # the top half: surely positive
    out[:, 3, 8:] = -8.0                  # the bottom half: surely negative
    rgb = ((draw_dab(out, 0.5, 0.09)[0].permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)
    _, dab = stain_channels(rgb)
    _, dab_base = stain_channels(np.full_like(rgb, rgb[12, 8]))
    assert dab[:8].mean() - dab_base.mean() == pytest.approx(0.09, abs=0.02)
    assert dab[:8].mean() > 0.04 > dab[8:].mean()  # above / below the Ki-67 quantifier's threshold


def test_prior_threshold_and_binary_agreement_from_counts_known_answers() -> None:
    p = np.r_[np.full(90, 0.1), np.full(10, 0.9)]
    t = prior_threshold(p, 0.1)
    assert 0.1 <= t < 0.9 and (p > t).mean() == pytest.approx(0.1)
    perfect = binary_agreement_from_counts(np.array([[10, 3, 3, 3], [5, 1, 1, 1]]))
    assert perfect == {"kappa": 1.0, "f1_positive": 1.0, "accuracy": 1.0}
    assert binary_agreement_from_counts(np.array([[20, 4, 0, 0]]))["kappa"] == 0.0
    chance = binary_agreement_from_counts(np.array([[100, 50, 50, 25]]))   # calls independent of the truth
    assert chance["kappa"] == pytest.approx(0.0)


def test_masks_from_a_deepliif_style_segmentation() -> None:
    seg = np.zeros((32, 32, 3), np.uint8)
    seg[2:10, 2:10, 0] = 255      # positive
    seg[20:28, 4:12, 2] = 255     # negative
    seg[1, 1:12, 1] = 255         # a green boundary line is neither
    seg[30, 30, 0] = 255          # a stray pixel is dropped
    positive, nucleus = positive_and_nucleus_masks(seg)
    assert positive.dtype == np.float32 and nucleus.dtype == bool
    assert positive.sum() == 64 and positive[2:10, 2:10].all() and nucleus.sum() == 128


def test_generator_shapes_and_ranges() -> None:
    g = PositivityGenerator(in_channels=3, width=4, res_blocks=1)
    with torch.no_grad():
        out = g(torch.randn(2, 3, 32, 32) * 5)
    assert out.shape == (2, 4, 32, 32) and out[:, :3].abs().max() <= 1.0
    with pytest.raises(ValueError, match="input channels"):
        g(torch.zeros(1, 5, 32, 32))


def test_head_learns_a_visible_cue_and_draws_dab_on_positive_nuclei() -> None:
    src, ihc, seg, pos = _discs(24, 32, 1)
    cfg = VirtualIHCConfig(mode="pix2pix", condition="none", positivity_head=True, tile_size=32, gen_width=8,
                           gen_res_blocks=1, disc_width=4, gan_loss="lsgan", lambda_gan=0.0, lambda_l1=10.0, lr=2e-3, epochs=12,
                           decay_epochs=4, batch_size=4, steps_per_epoch=10, seed=0)
    torch.manual_seed(0)
    model = Pix2Pix(cfg)
    result = train_pix2pix(model, src[:20], ihc[:20], None, src[20:], ihc[20:], None, pos[:20], pos[20:])
    assert result.best_score < result.history[0]["val_score"]
    model.eval()
    with torch.no_grad():
        out = model.translate(to_tensor(src[20:]))
    prob = torch.sigmoid(out[:, 3]).numpy()
    nucleus = np.stack([positive_and_nucleus_masks(s)[1] for s in seg[20:]])
    assert prob[pos[20:] > 0].mean() > prob[nucleus & (pos[20:] == 0)].mean() + 0.2
    t = prior_threshold(prob[nucleus], float(pos[:20][np.stack([positive_and_nucleus_masks(s)[1]
                                                                 for s in seg[:20]])].mean()))
    drawn = ((draw_dab(out, t, cfg.dab_od).permute(0, 2, 3, 1).numpy() + 1) * 127.5).round().astype(np.uint8)
    counts = [nucleus_agreement(d, s) for d, s in zip(drawn, seg[20:])]
    arr = np.array([[c["n_nuclei"], c["true_positive_nuclei"], c["called_positive_nuclei"],
                     c["both_positive_nuclei"]] for c in counts])
    assert binary_agreement_from_counts(arr)["kappa"] > 0.5, arr


def test_model_folder_keeps_the_head_settings_and_predict_uses_them(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = VirtualIHCConfig(mode="pix2pix", condition="none", positivity_head=True, input_view="hematoxylin",
                           tile_size=64, gen_width=4, gen_res_blocks=1, positivity_threshold=0.3, dab_od=0.1,
                           nucleus_diameter_px=8.0)
    model = VirtualIHCModel(cfg, with_classifier=False)
    with torch.no_grad():  # a head that calls everything positive: the output must be brown everywhere
        model.generator.body.model[-2].bias[3] = 50.0
    folder = save_virtual_ihc(tmp_path / "m", model, ModelInfo("virtual_ihc", name="t", training_data={"name": "x"}))
    loaded, _ = load_virtual_ihc(folder)
    assert loaded.config.positivity_head and loaded.config.input_view == "hematoxylin"
    assert loaded.config.positivity_threshold == 0.3 and loaded.config.mode == "pix2pix"
    src, _, _, _ = _discs(1, 64, 3)
    he = src[0].copy()
    he[src[0][..., 2] == 245] = (235, 180, 215)  # eosin background: still an H&E-looking input
    path = save_png(he, tmp_path / "he.png")
    VirtualIHCMethod(VirtualIHCConfig(tile_overlap=8, device="cpu")).predict([path], tmp_path / "out", weights=folder)
    from PIL import Image

    synth = np.asarray(Image.open(tmp_path / "out" / "he_synthetic_ki67.png"))
    _, dab = stain_channels(synth)
    assert np.median(dab) > 0.06
