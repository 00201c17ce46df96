"""MTCSN network: cross-fusion shapes and Eq. 1, the one shared weight of M and M^T, the ablation variants, loss."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from biomedai.methods.capsule_mtcsn.config import MtcsnConfig  # noqa: E402
from biomedai.methods.capsule_mtcsn.model import CrossFusion, Mtcsn, mtcsn_loss  # noqa: E402


def test_cross_fusion_shapes_and_eq1_against_literal_tile_and_conv() -> None:
    torch.manual_seed(0)
    fusion = CrossFusion(cls_channels=12, seg_channels=5)
    x_cls, x_seg = torch.randn(2, 12), torch.randn(2, 5, 7, 9)
    new_cls, new_seg = fusion(x_cls, x_seg)
    assert new_cls.shape == (2, 12) and new_seg.shape == (2, 5, 7, 9)
    w = fusion.weight.detach()
    # X_cls + GAP(M(X_seg)) with M a 1x1 conv of weight W [C1, C2]
    expect_cls = x_cls + F.conv2d(x_seg, w[:, :, None, None]).mean((2, 3))
    # X_seg + M^T(Pad(X_cls)): Pad tiles [C1,1,1] to [C1,H,W]; M^T is the conv with the transposed weight
    tiled = x_cls[:, :, None, None].expand(2, 12, 7, 9)
    expect_seg = x_seg + F.conv2d(tiled, w.t()[:, :, None, None])
    assert torch.allclose(new_cls, expect_cls, atol=1e-5)
    assert torch.allclose(new_seg, expect_seg, atol=1e-5)


def test_cross_fusion_gmp_differs_from_gap() -> None:
    torch.manual_seed(0)
    gap, gmp = CrossFusion(4, 3, "gap"), CrossFusion(4, 3, "gmp")
    gmp.weight.data.copy_(gap.weight.data)
    x_cls, x_seg = torch.randn(1, 4), torch.randn(1, 3, 5, 5)
    m = F.conv2d(x_seg, gap.weight.detach()[:, :, None, None])
    assert torch.allclose(gmp(x_cls, x_seg)[0], x_cls + m.amax((2, 3)), atol=1e-5)
    assert not torch.allclose(gap(x_cls, x_seg)[0], gmp(x_cls, x_seg)[0])


def test_m_and_mt_share_one_weight() -> None:
    """One parameter tensor; both directions send gradient into it; zero weight makes the module the identity."""
    fusion = CrossFusion(6, 4)
    assert [name for name, _ in fusion.named_parameters()] == ["weight"]
    x_cls, x_seg = torch.randn(3, 6), torch.randn(3, 4, 5, 5)
    new_cls, _ = fusion(x_cls, x_seg)
    (grad_from_cls,) = torch.autograd.grad(new_cls.sum(), fusion.weight)
    _, new_seg = fusion(x_cls, x_seg)
    (grad_from_seg,) = torch.autograd.grad(new_seg.sum(), fusion.weight)
    assert grad_from_cls.abs().sum() > 0 and grad_from_seg.abs().sum() > 0
    with torch.no_grad():
        fusion.weight.zero_()
    same_cls, same_seg = fusion(x_cls, x_seg)
    assert torch.equal(same_cls, x_cls) and torch.equal(same_seg, x_seg)


@pytest.mark.parametrize(("variant", "has_cd", "has_seg", "n_fusions"),
                         [("cd_only", True, False, 0), ("tss_only", False, True, 0),
                          ("hard_sharing", True, True, 0), ("mtcsn", True, True, 2)])
def test_variants_outputs_and_loss(variant: str, has_cd: bool, has_seg: bool, n_fusions: int) -> None:
    cfg = MtcsnConfig(variant=variant, input_size=64, light_widths=(4, 8, 8, 8), cls_channels=10, seg_channels=6)
    model = Mtcsn(cfg)
    out = model(torch.randn(2, 3, 64, 64))
    assert (out["cd_logits"] is not None) == has_cd and (out["seg_logits"] is not None) == has_seg
    if has_cd:
        assert out["cd_logits"].shape == (2, 3)
    if has_seg:
        assert out["seg_logits"].shape == (2, 8, 64, 64)
    assert len(out["fusion_pairs"]) == n_fusions
    assert sum(isinstance(m, CrossFusion) for m in model.modules()) == n_fusions
    cd, mask = torch.tensor([0, 2]), torch.randint(0, 8, (2, 64, 64))
    mask[0, :4] = 255                                   # ignored pixels
    terms = mtcsn_loss(out, cd, mask, cfg)
    assert torch.isfinite(terms["loss"]) and terms["loss"].requires_grad
    assert ("loss_seg" in terms) == has_seg and ("loss_cls" in terms) == has_cd
    if variant == "mtcsn":
        assert terms["loss_consistency"] > 0
        expected = cfg.lambda_cls * (terms["loss_cls"] + cfg.alpha * terms["loss_consistency"]) \
            + cfg.lambda_seg * terms["loss_seg"]
        assert torch.allclose(terms["loss"].detach(), expected)


def test_paper_backbone_option_builds() -> None:
    cfg = MtcsnConfig(backbone="resnet50", input_size=64)
    model = Mtcsn(cfg).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert out["cd_logits"].shape == (1, 3) and out["seg_logits"].shape == (1, 8, 64, 64)
    assert len(out["fusion_pairs"]) == 2
