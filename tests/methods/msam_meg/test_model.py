"""MSAM layers (spec 2.3): shapes, masks, the 1-head layer against Eq. 2, ablations; metric formulas (Eqs. 7-10)."""
from __future__ import annotations

import math

import pytest
import torch

from biomedai.errors import ConfigError, InvalidInputError
from biomedai.methods.msam_meg.config import MsamConfig
from biomedai.methods.msam_meg.evaluation import Counts, macro_f1, paper_metrics, subject_vote, summarise_folds
from biomedai.methods.msam_meg.model import MSAM, MultiHeadSelfAttention, SelfAttention


def _eye_mhsa(d: int) -> MultiHeadSelfAttention:
    layer = MultiHeadSelfAttention(d, 1)
    with torch.no_grad():
        layer.attention.in_proj_weight.copy_(torch.cat([torch.eye(d)] * 3))
        layer.attention.out_proj.weight.copy_(torch.eye(d))
    return layer


def test_one_head_mhsa_with_identity_weights_equals_eq2_self_attention():
    torch.manual_seed(0)
    x = torch.randn(3, 5, 8)
    sa_out, sa_w = SelfAttention()(x)
    mh_out, mh_w = _eye_mhsa(8)(x)
    torch.testing.assert_close(mh_out, sa_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mh_w[:, 0], sa_w, atol=1e-6, rtol=1e-6)
    # and Eq. 2 by hand for one sample
    manual = torch.softmax(x[0] @ x[0].T / math.sqrt(8), dim=-1) @ x[0]
    torch.testing.assert_close(sa_out[0], manual)


def test_mhsa_shapes_and_dk():
    layer = MultiHeadSelfAttention(32, 4)
    out, w = layer(torch.randn(2, 7, 32))
    assert out.shape == (2, 7, 32) and w.shape == (2, 4, 7, 7)
    assert layer.attention.in_proj_weight.shape == (96, 32)  # W^Q, W^K, W^V stacked: h * d_k = d
    assert layer.attention.in_proj_bias is None
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 7))


@pytest.mark.parametrize("layer", [SelfAttention(), MultiHeadSelfAttention(8, 2)])
def test_masked_tokens_get_no_attention_and_do_not_change_others(layer):
    torch.manual_seed(1)
    x = torch.randn(2, 6, 8)
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[:, 4:] = True
    out, w = layer(x, mask)
    assert torch.all(w[..., 4:] == 0)
    out_short, _ = layer(x[:, :4])
    torch.testing.assert_close(out[:, :4], out_short, atol=1e-5, rtol=1e-5)


def test_msam_mlp_matches_paper_and_outputs_logits():
    cfg = MsamConfig(heads=4)
    model = MSAM(10, 200, cfg).eval()
    linears = [m for m in model.mlp if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [1024, 512, 128, 32]
    acts = [type(m).__name__ for m in model.mlp if not isinstance(m, (torch.nn.Linear, torch.nn.Dropout))]
    assert acts == ["ELU", "Tanh", "Tanh", "ReLU"]
    assert isinstance(model.mlp[0], torch.nn.Dropout)
    logits = model(torch.randn(3, 10, 200))
    assert logits.shape == (3,)
    assert model.last_attention["sa"].shape == (3, 10, 10)
    assert model.last_attention["mhsa"].shape == (3, 4, 10, 10)
    assert model.token_importance().shape == (3, 10)


def test_masked_channels_do_not_influence_output():
    torch.manual_seed(2)
    model = MSAM(6, 40, MsamConfig(heads=2)).eval()
    x = torch.randn(1, 6, 40)
    mask = torch.tensor([[False] * 4 + [True] * 2])
    y = x.clone()
    y[:, 4:] = 100 * torch.randn(1, 2, 40)
    torch.testing.assert_close(model(x, mask), model(y, mask))
    assert not torch.allclose(model(x), model(y))


@pytest.mark.parametrize("variant,has", [("full", {"sa", "mhsa"}), ("no_sa", {"mhsa"}), ("no_mhsa", {"sa"})])
def test_ablations_remove_one_layer(variant, has):
    model = MSAM(4, 20, MsamConfig(variant=variant)).eval()
    model(torch.randn(2, 4, 20))
    assert set(model.last_attention) == has


def test_time_tokens_and_bad_shapes():
    model = MSAM(4, 100, MsamConfig(token_axis="time", time_patch=25)).eval()
    assert model.tokens(torch.randn(2, 4, 100)).shape == (2, 4, 100)
    model(torch.randn(2, 4, 100))
    assert model.last_attention["sa"].shape == (2, 4, 4)
    with pytest.raises(InvalidInputError):
        model(torch.randn(2, 5, 100))
    with pytest.raises(InvalidInputError):
        MSAM(4, 90, MsamConfig(token_axis="time", time_patch=25))
    with pytest.raises(ConfigError):
        MsamConfig(heads=3)
    with pytest.raises(ConfigError):
        MsamConfig(variant="nope")


def test_paper_metrics_on_hand_made_confusion_matrix():
    c = Counts(tp=8, tn=5, fp=2, fn=1)
    m = paper_metrics(c)
    assert m["precision"] == pytest.approx(8 / 10)
    assert m["accuracy"] == pytest.approx(13 / 16)
    assert m["recall"] == pytest.approx(8 / 9)
    assert m["f1"] == pytest.approx(16 / 19)
    assert 2 / m["f1"] == pytest.approx(1 / m["precision"] + 1 / m["recall"])  # Eq. 10
    assert macro_f1(c) == pytest.approx(0.5 * (16 / 19 + 10 / 13))
    assert Counts.from_labels([1, 1, 0, 0, 1], [1, 0, 0, 1, 1]) == Counts(tp=2, tn=1, fp=1, fn=1)


def test_fold_summary_distinguishes_micro_and_fold_mean():
    folds = [Counts(tp=9, tn=0, fp=1, fn=0), Counts(tp=0, tn=5, fp=0, fn=5)]
    s = summarise_folds(folds)
    assert s["f1_micro"] == pytest.approx(18 / 24)
    assert s["f1_mean"] == pytest.approx((18 / 19 + 0) / 2)
    assert s["accuracy_sd"] > 0
    assert subject_vote(["a", "a", "b"], [0.2, 0.4, 0.9]) == pytest.approx({"a": 0.3, "b": 0.9})
    with pytest.raises(InvalidInputError):
        paper_metrics(Counts(0, 0, 0, 0))
