"""The conditional CycleGAN of Xu et al. (2.5), its plain-CycleGAN ablation and a pix2pix mode for paired data.

Domains: H (H&E) and K (Ki-67 IHC). ``G: H -> K``, ``F: K -> H``, discriminators ``D_K`` and ``D_H``. With a
condition (``config.condition != "none"``) each generator input carries its tile's MIL value as extra planes
(:mod:`.conditioning`); the discriminators see images only unless ``condition_in_discriminator``.

One step (:meth:`CycleGAN.train_step`), as in the CycleGAN reference:
``L_G = L_adv(D_K(G(x~))) + L_adv(D_H(F(y~))) + l_cyc (|F(G(x~)~) - x| + |G(F(y~)~) - y|)
+ l_id l_cyc (|G(y~) - y| + |F(x~) - x|)``, then each discriminator on a real image and a pooled fake.
:meth:`CycleGAN.training_losses` returns both as one loss for one backward pass and one Adam step over two
parameter groups (generators, discriminators): the discriminators are frozen while the generator loss is
built and see detached fakes, so each network's gradient comes from its own loss alone - the reference's
two alternating optimiser steps, in the form the project's training engine runs.
The label of a fake for the return trip is the source tile's label (``cycle_label="reuse"``) or the other
domain's classifier's output (``"reclassify"``, a callable passed to the step).

Images are float tensors in [-1, 1], ``[B, 3, H, W]``; :func:`to_tensor` / :func:`to_uint8` convert.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from .conditioning import with_condition
from .config import VirtualIHCConfig
from .losses import (
    ImagePool,
    cycle_loss,
    discriminator_loss,
    generator_adversarial_loss,
    identity_loss,
    positivity_loss,
)
from .networks import TableTwoDiscriminator, TableTwoGenerator
from .positivity import PositivityGenerator

Classifier = Callable[[torch.Tensor], torch.Tensor]


def to_tensor(rgb: np.ndarray, device: Any = "cpu") -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` (or one ``[H, W, 3]``) -> float ``[N, 3, H, W]`` in [-1, 1]."""
    a = np.asarray(rgb)
    if a.ndim == 3:
        a = a[None]
    t = torch.from_numpy(np.ascontiguousarray(a)).to(device).permute(0, 3, 1, 2).float()
    return t / 127.5 - 1.0


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """float ``[N, 3, H, W]`` in [-1, 1] -> uint8 ``[N, H, W, 3]``."""
    a = ((t.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().byte()
    return a.permute(0, 2, 3, 1).numpy()


def build_generator(config: VirtualIHCConfig) -> TableTwoGenerator | PositivityGenerator:
    """A Table 2 generator sized by ``config`` (3 + condition input channels; 4 outputs with the positivity head)."""
    if config.positivity_head:
        return PositivityGenerator(3 + config.condition_channels, config.gen_width, config.gen_res_blocks,
                                   config.gen_padding)
    return TableTwoGenerator(3 + config.condition_channels, 3, config.gen_width, config.gen_res_blocks,
                             config.gen_padding)


def _set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def _adam(config: VirtualIHCConfig, generators: list[nn.Module], discriminators: list[nn.Module]
          ) -> torch.optim.Adam:
    """One Adam with two parameter groups: 0 = generators, 1 = discriminators (same rate and betas)."""
    groups = [{"params": [p for n in generators for p in n.parameters()]},
              {"params": [p for n in discriminators for p in n.parameters()]}]
    return torch.optim.Adam(groups, config.lr, betas=(config.beta1, config.beta2))


def _step(model: nn.Module, losses: dict[str, torch.Tensor]) -> dict[str, float]:
    model.optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    model.optimizer.step()
    return {k: float(v.detach()) for k, v in losses.items() if k != "loss"}


class CycleGAN(nn.Module):
    """G, F, D_K, D_H with their Adam optimiser (two parameter groups), image pools and linear-decay schedule."""

    def __init__(self, config: VirtualIHCConfig, device: Any = "cpu") -> None:
        super().__init__()
        self.config = config
        cond = config.condition_channels
        d_in = 3 + (cond if config.condition_in_discriminator else 0)
        self.G = build_generator(config)
        self.F = build_generator(config)
        self.D_K = TableTwoDiscriminator(d_in, config.disc_width, config.disc_global_pool)
        self.D_H = TableTwoDiscriminator(d_in, config.disc_width, config.disc_global_pool)
        self.to(device)
        self.optimizer = _adam(config, [self.G, self.F], [self.D_K, self.D_H])
        self.pool_k = ImagePool(config.pool_size, config.seed)
        self.pool_h = ImagePool(config.pool_size, config.seed + 1)

    def stateful_parts(self) -> dict[str, ImagePool]:
        """Training state outside the weights and optimiser that a resumed run needs: the two image pools."""
        return {"pool_k": self.pool_k, "pool_h": self.pool_h}

    # ------------------------------------------------------------------------------ inference
    def translate(self, he: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """G on H&E tiles with their condition values (ignored for the plain CycleGAN)."""
        return self.G(with_condition(he, condition, self.config.condition))

    def _d_input(self, images: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        if self.config.condition_in_discriminator:
            return with_condition(images, condition, self.config.condition)
        return images

    # ------------------------------------------------------------------------------ training
    def generator_losses(self, he: torch.Tensor, ihc: torch.Tensor, c_he: torch.Tensor | None,
                         c_ihc: torch.Tensor | None, classify_he: Classifier | None = None,
                         classify_ihc: Classifier | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """All generator loss terms and the fakes (for the discriminator step)."""
        cfg, mode = self.config, self.config.condition
        fake_k = self.G(with_condition(he, c_he, mode))
        fake_h = self.F(with_condition(ihc, c_ihc, mode))
        c_fake_k, c_fake_h = c_he, c_ihc  # "reuse": the fake keeps its source tile's label
        if cfg.cycle_label == "reclassify" and mode != "none":
            if classify_ihc is None or classify_he is None:
                raise ValueError("cycle_label='reclassify' needs both domains' classifiers")
            with torch.no_grad():
                c_fake_k, c_fake_h = classify_ihc(fake_k), classify_he(fake_h)
        rec_h = self.F(with_condition(fake_k, c_fake_k, mode))
        rec_k = self.G(with_condition(fake_h, c_fake_h, mode))
        losses = {
            "adv_G": generator_adversarial_loss(self.D_K(self._d_input(fake_k, c_fake_k)), cfg.gan_loss),
            "adv_F": generator_adversarial_loss(self.D_H(self._d_input(fake_h, c_fake_h)), cfg.gan_loss),
            "cycle_H": cycle_loss(rec_h, he) * cfg.lambda_cycle,
            "cycle_K": cycle_loss(rec_k, ihc) * cfg.lambda_cycle,
        }
        if cfg.lambda_identity > 0:
            w = cfg.lambda_identity * cfg.lambda_cycle
            losses["idt_G"] = identity_loss(self.G(with_condition(ihc, c_ihc, mode)), ihc) * w
            losses["idt_F"] = identity_loss(self.F(with_condition(he, c_he, mode)), he) * w
        fakes = {"fake_k": fake_k, "fake_h": fake_h, "c_fake_k": c_fake_k, "c_fake_h": c_fake_h}
        return losses, fakes

    def training_losses(self, he: torch.Tensor, ihc: torch.Tensor, c_he: torch.Tensor | None = None,
                        c_ihc: torch.Tensor | None = None, classify_he: Classifier | None = None,
                        classify_ihc: Classifier | None = None) -> dict[str, torch.Tensor]:
        """``{"loss": L_G + L_D, term: value, ...}`` for one step (see the module doc); the terms are detached."""
        self.train()
        _set_requires_grad([self.D_K, self.D_H], False)
        losses, fakes = self.generator_losses(he, ihc, c_he, c_ihc, classify_he, classify_ihc)
        total = sum(losses.values())
        _set_requires_grad([self.D_K, self.D_H], True)
        kind = self.config.gan_loss
        fake_k = self.pool_k.query(self._d_input(fakes["fake_k"].detach(), fakes["c_fake_k"]))
        fake_h = self.pool_h.query(self._d_input(fakes["fake_h"].detach(), fakes["c_fake_h"]))
        loss_dk = discriminator_loss(self.D_K(self._d_input(ihc, c_ihc)), self.D_K(fake_k), kind)
        loss_dh = discriminator_loss(self.D_H(self._d_input(he, c_he)), self.D_H(fake_h), kind)
        out = {k: v.detach() for k, v in losses.items()}
        out.update(D_K=loss_dk.detach(), D_H=loss_dh.detach(), G_total=total.detach(), loss=total + loss_dk + loss_dh)
        return out

    def train_step(self, he: torch.Tensor, ihc: torch.Tensor, c_he: torch.Tensor | None = None,
                   c_ihc: torch.Tensor | None = None, classify_he: Classifier | None = None,
                   classify_ihc: Classifier | None = None) -> dict[str, float]:
        """One optimisation step of G/F and D_K/D_H; returns the loss terms as floats."""
        return _step(self, self.training_losses(he, ihc, c_he, c_ihc, classify_he, classify_ihc))


class Pix2Pix(nn.Module):
    """pix2pix for paired tiles (Isola et al. 2017): G plus a discriminator on ``[input; output]`` pairs,
    ``L_G = L_adv + lambda_l1 |G(x) - y|``. The Table 2 networks and the same condition channel are used."""

    def __init__(self, config: VirtualIHCConfig, device: Any = "cpu") -> None:
        super().__init__()
        self.config = config
        self.G = build_generator(config)
        self.D = TableTwoDiscriminator(6, config.disc_width, config.disc_global_pool)
        self.to(device)
        self.optimizer = _adam(config, [self.G], [self.D])

    def stateful_parts(self) -> dict[str, Any]:
        """None: pix2pix keeps no training state outside the weights and optimiser."""
        return {}

    def translate(self, source: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.G(with_condition(source, condition, self.config.condition))

    def training_losses(self, source: torch.Tensor, target: torch.Tensor, condition: torch.Tensor | None = None,
                        positive: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``{"loss": L_G + L_D, term: value, ...}`` for one step; ``positive`` ``[B, 1, H, W]`` (the
        positive-nucleus mask) trains the positivity head. The discriminator is frozen while ``L_G`` is built."""
        self.train()
        cfg = self.config
        out = self.translate(source, condition)
        fake = out[:, :3]
        _set_requires_grad([self.D], False)
        adv = generator_adversarial_loss(self.D(torch.cat([source, fake], 1)), cfg.gan_loss) * cfg.lambda_gan
        l1 = torch.nn.functional.l1_loss(fake, target) * cfg.lambda_l1
        total = adv + l1
        terms = {"adv_G": adv.detach(), "l1": l1.detach()}
        if cfg.positivity_head:
            if positive is None:
                raise ValueError("the positivity head needs the positive-nucleus mask of each tile")
            bce = positivity_loss(out[:, 3:4], positive, cfg.positive_weight) * cfg.lambda_positivity
            total = total + bce
            terms["positivity_bce"] = bce.detach()
        _set_requires_grad([self.D], True)
        loss_d = torch.zeros((), device=source.device)
        if cfg.lambda_gan > 0:
            loss_d = discriminator_loss(self.D(torch.cat([source, target], 1)),
                                        self.D(torch.cat([source, fake.detach()], 1)), cfg.gan_loss)
        return {**terms, "D": loss_d.detach(), "loss": total + loss_d}

    def train_step(self, source: torch.Tensor, target: torch.Tensor, condition: torch.Tensor | None = None,
                   positive: torch.Tensor | None = None) -> dict[str, float]:
        """One optimisation step of G and D; returns the loss terms as floats."""
        return _step(self, self.training_losses(source, target, condition, positive))

