"""Dense dilated blocks and hybrid attention blocks: shapes, connectivity, attention behaviour."""
from __future__ import annotations

import pytest
import torch

from biomedai.nn.dense_dilated import DenseDilatedBlock
from biomedai.nn.hybrid_attention import ChannelAttention, HybridAttentionBlock, SpatialAttention


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Two threads on two busy shared cores thrash (measured up to 25x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_dense_block_grows_channels_and_keeps_size():
    block = DenseDilatedBlock(2, in_channels=5, n_layers=6, growth_rate=16, dilation=8).eval()
    x = torch.randn(2, 5, 33, 17)
    y = block(x)
    assert y.shape == (2, 5 + 96, 33, 17)
    assert torch.equal(y[:, :5], x)  # the input is passed through (dense connectivity)
    assert [layer.conv.dilation for layer in block.layers] == [(8, 8)] * 6
    assert [layer.conv.in_channels for layer in block.layers] == [5 + 16 * k for k in range(6)]


def test_dense_block_per_layer_dilations_and_3d():
    block = DenseDilatedBlock(3, 2, n_layers=2, growth_rate=3, dilation=(1, 2))
    assert block(torch.zeros(1, 2, 6, 6, 6)).shape == (1, 8, 6, 6, 6)
    with pytest.raises(ValueError):
        DenseDilatedBlock(2, 2, n_layers=3, dilation=(1, 2))


def test_channel_attention_scales_whole_channels():
    att = ChannelAttention(2, channels=8, reduction=2)
    x = torch.rand(1, 8, 5, 5) + 0.1
    with torch.no_grad():
        ratio = att(x) / x
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), atol=1e-6)  # one weight per channel
    assert float(ratio.min()) > 0 and float(ratio.max()) < 1


def test_spatial_attention_scales_whole_pixels():
    att = SpatialAttention(2, channels=4)
    x = torch.rand(1, 4, 6, 6) + 0.1
    with torch.no_grad():
        ratio = att(x) / x
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-6)  # one weight per pixel


def test_hybrid_attention_block_shapes_and_gradients():
    block = HybridAttentionBlock(2, 6, 10, kernel_sizes=(3, 5), reduction=4)
    x = torch.randn(2, 6, 9, 9, requires_grad=True)
    y = block(x)
    assert y.shape == (2, 10, 9, 9)
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with pytest.raises(ValueError):
        HybridAttentionBlock(2, 4, 4, kernel_sizes=(2, 3))


def test_instance_norm_blocks_normalise_each_image_on_its_own():
    """With norm="instance" a layer's output for one image does not depend on the other images in the
    batch (batch norm in training mode mixes them), and there are no running statistics to drift."""
    from biomedai.nn.dense_dilated import norm_layer

    block = HybridAttentionBlock(2, 3, 8, norm="instance").train()
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in block.modules())
    a, b = torch.randn(1, 3, 12, 12), 5 + 3 * torch.randn(1, 3, 12, 12)
    together = block(torch.cat([a, b]))
    assert torch.allclose(together[:1], block(a), atol=1e-5)
    dense = DenseDilatedBlock(2, 3, n_layers=2, growth_rate=4, norm="instance").train()
    assert torch.allclose(dense(torch.cat([a, b]))[:1], dense(a), atol=1e-5)
    with pytest.raises(ValueError, match="norm"):
        norm_layer(2, 4, "layer")
