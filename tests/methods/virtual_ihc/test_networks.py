"""Table 2 networks, the condition channel, the GAN/cycle/identity losses, the image pool and the decay."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from biomedai.methods.virtual_ihc.conditioning import condition_planes, condition_values, with_condition
from biomedai.methods.virtual_ihc.config import VirtualIHCConfig
from biomedai.methods.virtual_ihc.cyclegan import CycleGAN, Pix2Pix, to_tensor, to_uint8
from biomedai.methods.virtual_ihc.losses import (
    ImagePool,
    cycle_loss,
    discriminator_loss,
    generator_adversarial_loss,
    identity_loss,
    linear_decay_factor,
)
from biomedai.methods.virtual_ihc.networks import (
    ReferenceResnetGenerator,
    TableTwoDiscriminator,
    TableTwoGenerator,
    count_parameters,
    mil_classifier,
)
from biomedai.methods.virtual_ihc.training import train_cyclegan

TINY = dict(gen_width=4, disc_width=4, gen_res_blocks=1, pool_size=2, tile_size=16)


def test_table_two_shapes_at_224() -> None:
    g = TableTwoGenerator(in_channels=4, width=8)  # the layout of Table 2 at 1/8 width: same spatial trace
    convs = [m for m in g.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert [c.kernel_size[0] for c in convs] == [7, 3, 3, 3, 3, 3, 3, 7]
    assert TableTwoGenerator(in_channels=4).model[0].out_channels == 64
    x = torch.zeros(1, 4, 224, 224)
    assert g(x).shape == (1, 3, 224, 224)
    d = TableTwoDiscriminator(width=8)
    trace = [m for m in d.model if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in trace] == [8, 16, 32, 64, 1]
    assert [c.kernel_size[0] for c in trace] == [7, 3, 3, 3, 4]
    assert d(torch.zeros(2, 3, 224, 224)).shape == (2, 1)
    patch = TableTwoDiscriminator(width=4, global_pool=False)(torch.zeros(1, 3, 224, 224))
    assert patch.shape == (1, 1, 27, 27)  # spec 2.5: 224 -> 224 -> 112 -> 56 -> 28 -> 27


def test_generator_rejects_wrong_channel_count() -> None:
    with pytest.raises(ValueError, match="4 input channels"):
        TableTwoGenerator(in_channels=4, width=4)(torch.zeros(1, 3, 16, 16))


def test_generator_output_in_tanh_range_and_residual_count() -> None:
    g = TableTwoGenerator(in_channels=3, width=4, res_blocks=3)
    out = g(torch.randn(2, 3, 32, 32) * 10)
    assert out.abs().max() <= 1.0
    assert sum(type(m).__name__ == "ResidualUnit" for m in g.modules()) == 3


def test_reference_generator_same_size_has_same_conv_parameter_count_without_bias() -> None:
    ours = TableTwoGenerator(3, 3, width=8, res_blocks=2)
    ref = ReferenceResnetGenerator(3, 3, ngf=8, n_blocks=2)
    assert ref(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    assert 0 < count_parameters(ours) - count_parameters(ref) < 0.05 * count_parameters(ref)  # conv biases only


def test_mil_classifier_width_is_configurable() -> None:
    small, large = mil_classifier(width=4, layers=(1, 1, 1, 1)), mil_classifier(width=8, layers=(1, 1, 1, 1))
    assert small(torch.zeros(2, 3, 32, 32)).shape == (2, 2)
    assert count_parameters(large) > 3 * count_parameters(small)
    resnet34 = mil_classifier(width=64)
    assert 21e6 < count_parameters(resnet34) < 22e6  # torchvision's resnet34 with a 2-class head: 21.3 M


@pytest.mark.parametrize("mode,channels", [("none", 3), ("plane", 4), ("onehot", 5)])
def test_condition_plumbing(mode: str, channels: int) -> None:
    x = torch.zeros(2, 3, 8, 8)
    out = with_condition(x, torch.tensor([0.25, 1.0]), mode)
    assert out.shape == (2, channels, 8, 8)
    if mode == "plane":
        assert torch.all(out[0, 3] == 0.25) and torch.all(out[1, 3] == 1.0)
    if mode == "onehot":
        assert torch.all(out[0, 3] == 0.75) and torch.all(out[0, 4] == 0.25)


def test_condition_values_hard_and_probability() -> None:
    p = torch.tensor([0.2, 0.5, 0.9])
    assert condition_values(p, "hard").tolist() == [0.0, 1.0, 1.0]
    assert condition_values(p, "probability").tolist() == pytest.approx([0.2, 0.5, 0.9])
    with pytest.raises(ValueError, match="3 condition values"):
        with_condition(torch.zeros(2, 3, 4, 4), p, "plane")
    with pytest.raises(ValueError, match="needs a condition"):
        with_condition(torch.zeros(2, 3, 4, 4), None, "onehot")
    assert condition_planes(p, "none", 4, 4) is None


def test_the_condition_changes_the_generator_output() -> None:
    torch.manual_seed(0)
    model = CycleGAN(VirtualIHCConfig(**TINY, condition="plane"))
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    a = model.translate(x, torch.tensor([0.0]))
    b = model.translate(x, torch.tensor([1.0]))
    assert (a - b).abs().max() > 1e-4
    plain = CycleGAN(VirtualIHCConfig(**TINY, condition="none"))
    assert plain.G.in_channels == 3 and model.G.in_channels == 4 and model.D_K.in_channels == 3
    assert CycleGAN(VirtualIHCConfig(**TINY, condition="onehot", condition_in_discriminator=True)).D_K.in_channels == 5


def test_cycle_and_identity_losses_on_tiny_tensors() -> None:
    a = torch.zeros(1, 3, 2, 2)
    b = torch.full((1, 3, 2, 2), 0.5)
    b[0, 0, 0, 0] = -1.5
    assert float(cycle_loss(b, a)) == pytest.approx((11 * 0.5 + 1.5) / 12)
    assert float(identity_loss(a, a)) == 0.0


def test_gan_losses() -> None:
    big, small = torch.full((2, 1), 20.0), torch.full((2, 1), -20.0)
    for kind in ("lsgan", "bce", "paper"):
        assert float(generator_adversarial_loss(torch.ones(2, 1) if kind == "lsgan" else big, kind)) < 1e-6
        assert float(discriminator_loss(torch.ones(2, 1) if kind == "lsgan" else big,
                                        torch.zeros(2, 1) if kind == "lsgan" else small, kind)) < 1e-6
    assert float(generator_adversarial_loss(torch.zeros(1, 1), "lsgan")) == pytest.approx(1.0)
    assert float(generator_adversarial_loss(torch.zeros(1, 1), "paper")) == pytest.approx(0.25)  # (0.5 - 1)^2
    with pytest.raises(ValueError):
        discriminator_loss(big, small, "wgan")


def test_cycle_loss_is_zero_for_identity_generators() -> None:
    """With G and F replaced by the identity the cycle and identity terms vanish (the wiring is right)."""
    model = CycleGAN(VirtualIHCConfig(**TINY, condition="plane"))
    model.G = model.F = _DropCondition()
    x, y = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    losses, fakes = model.generator_losses(x, y, torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]))
    for k in ("cycle_H", "cycle_K", "idt_G", "idt_F"):
        assert float(losses[k]) == 0.0
    assert torch.equal(fakes["fake_k"], x)


class _DropCondition(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1] == 4  # image + condition plane reached the generator
        return x[:, :3]


def test_image_pool() -> None:
    pool = ImagePool(0)
    x = torch.rand(3, 3, 2, 2)
    assert pool.query(x) is x
    pool = ImagePool(2, seed=0)
    first = pool.query(torch.zeros(2, 3, 2, 2))
    assert torch.equal(first, torch.zeros(2, 3, 2, 2)) and len(pool.images) == 2
    outs = torch.cat([pool.query(torch.ones(1, 3, 2, 2)) for _ in range(40)])
    old = int((outs.flatten(1).max(1).values == 0).sum())
    assert 1 <= old <= 2  # at most the two stored zeros come back, each once
    assert len(pool.images) == 2


def test_linear_decay_and_optimiser_lr() -> None:
    assert linear_decay_factor(0, 100, 50) == 1.0
    assert linear_decay_factor(49, 100, 50) == 1.0
    assert linear_decay_factor(99, 100, 50) == pytest.approx(1 / 51)
    # the schedule the engine runs (training.fit_translation): constant, then linear decay
    model = CycleGAN(VirtualIHCConfig(**TINY, epochs=4, decay_epochs=2, lr=1e-3, steps_per_epoch=1, batch_size=1,
                                     condition="none"))
    tiles = np.full((3, 16, 16, 3), 128, np.uint8)
    result = train_cyclegan(model, tiles, tiles, None, None, tiles[:1], tiles[:1])
    assert [h["lr"] for h in result.history] == pytest.approx([1e-3 * linear_decay_factor(e, 4, 2) for e in range(4)])


@pytest.mark.parametrize("condition", ["none", "plane", "onehot"])
def test_train_step_reduces_cycle_loss(condition: str) -> None:
    torch.manual_seed(0)
    cfg = VirtualIHCConfig(**TINY, condition=condition, lr=2e-3, gan_loss="lsgan")
    model = CycleGAN(cfg)
    he, ihc = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    c = torch.tensor([0.0, 1.0])
    first = model.train_step(he, ihc, c, c)
    for _ in range(15):
        last = model.train_step(he, ihc, c, c)
    assert set(first) >= {"adv_G", "adv_F", "cycle_H", "cycle_K", "idt_G", "idt_F", "D_K", "D_H"}
    assert last["cycle_H"] < first["cycle_H"]


def test_reclassify_cycle_label_needs_classifiers() -> None:
    model = CycleGAN(VirtualIHCConfig(**TINY, cycle_label="reclassify"))
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="classifiers"):
        model.generator_losses(x, x, torch.ones(1), torch.ones(1))
    seen = []

    def classify(t: torch.Tensor) -> torch.Tensor:
        seen.append(t.shape)
        return torch.zeros(t.shape[0])

    model.generator_losses(x, x, torch.ones(1), torch.ones(1), classify, classify)
    assert len(seen) == 2


def test_pix2pix_learns_a_paired_mapping() -> None:
    torch.manual_seed(0)
    model = Pix2Pix(VirtualIHCConfig(**TINY, condition="none", lr=2e-3, gan_loss="lsgan"))
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    y = -x
    first = model.train_step(x, y)
    for _ in range(25):
        last = model.train_step(x, y)
    assert last["l1"] < 0.7 * first["l1"]


def test_tensor_round_trip() -> None:
    import numpy as np

    rgb = np.random.default_rng(0).integers(0, 256, (2, 5, 6, 3), dtype=np.uint8)
    t = to_tensor(rgb)
    assert t.shape == (2, 3, 5, 6) and float(t.min()) >= -1 and float(t.max()) <= 1
    assert np.array_equal(to_uint8(t), rgb)


def _alternating_reference_step(model: CycleGAN, he: torch.Tensor, ihc: torch.Tensor) -> None:
    """The CycleGAN reference's step: G/F updated with D frozen, then D on the (pre-update) detached fakes."""
    from biomedai.methods.virtual_ihc.cyclegan import _set_requires_grad
    from biomedai.methods.virtual_ihc.losses import discriminator_loss

    opt_g = torch.optim.Adam(list(model.G.parameters()) + list(model.F.parameters()), model.config.lr,
                             betas=(model.config.beta1, model.config.beta2))
    opt_d = torch.optim.Adam(list(model.D_K.parameters()) + list(model.D_H.parameters()), model.config.lr,
                             betas=(model.config.beta1, model.config.beta2))
    model.train()
    _set_requires_grad([model.D_K, model.D_H], False)
    losses, fakes = model.generator_losses(he, ihc, None, None)
    sum(losses.values()).backward()
    opt_g.step()
    _set_requires_grad([model.D_K, model.D_H], True)
    kind = model.config.gan_loss
    loss_d = (discriminator_loss(model.D_K(ihc), model.D_K(model.pool_k.query(fakes["fake_k"].detach())), kind)
              + discriminator_loss(model.D_H(he), model.D_H(model.pool_h.query(fakes["fake_h"].detach())), kind))
    loss_d.backward()
    opt_d.step()


def test_one_combined_step_equals_the_two_alternating_optimiser_steps() -> None:
    """The engine runs L_G + L_D with one backward and one Adam over two groups; that must be the reference's
    update (G/F step with D frozen, then D step on detached fakes), parameter for parameter."""
    import copy

    torch.manual_seed(0)
    cfg = VirtualIHCConfig(**TINY, condition="none", lr=1e-3, gan_loss="lsgan")
    ours = CycleGAN(cfg)
    reference = copy.deepcopy(ours)
    he, ihc = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    ours.train_step(he, ihc)
    _alternating_reference_step(reference, he, ihc)
    for (name, a), b in zip(ours.named_parameters(), reference.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name
    before = copy.deepcopy(reference)
    _alternating_reference_step(reference, he, ihc)
    assert any(not torch.equal(a, b) for a, b in zip(before.parameters(), reference.parameters()))
