"""GAN, cycle and identity losses, the CycleGAN image pool and the linear learning-rate decay.

GAN losses (``gan_loss``): ``lsgan`` (least squares on the logits, the CycleGAN reference), ``bce``
(binary cross-entropy on the logits, the original GAN), ``paper`` (Xu et al. 2.5: "BCE for the
discriminator, MSE for the generator"; we read the generator's MSE as ``(sigmoid(D(G(x))) - 1)^2``, the
squared error of the probability the BCE-trained discriminator gives, so both losses see the same output).

Example:
    >>> import torch
    >>> float(cycle_loss(torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)))
    1.0
"""
from __future__ import annotations

import random
from typing import Any

import torch
import torch.nn.functional as F

from biomedai.train.seeding import python_rng_state, set_python_rng_state

from .config import GAN_LOSSES


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """The discriminator's loss, halved as in the CycleGAN reference (it then learns more slowly than G)."""
    if kind not in GAN_LOSSES:
        raise ValueError(f"gan loss must be one of {GAN_LOSSES}, got {kind!r}")
    if kind == "lsgan":
        real = F.mse_loss(real_logits, torch.ones_like(real_logits))
        fake = F.mse_loss(fake_logits, torch.zeros_like(fake_logits))
    else:  # "bce" and "paper"
        real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return 0.5 * (real + fake)


def generator_adversarial_loss(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """The generator's adversarial loss: make the discriminator call the fake real."""
    if kind not in GAN_LOSSES:
        raise ValueError(f"gan loss must be one of {GAN_LOSSES}, got {kind!r}")
    if kind == "lsgan":
        return F.mse_loss(fake_logits, torch.ones_like(fake_logits))
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    prob = torch.sigmoid(fake_logits)
    return F.mse_loss(prob, torch.ones_like(prob))


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """L1 between an image and its round trip (CycleGAN's norm; the paper names the loss, not the norm)."""
    return F.l1_loss(reconstructed, original)


def identity_loss(mapped: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """L1 between a target-domain image and the generator's output on it (CycleGAN's identity term)."""
    return F.l1_loss(mapped, original)


class ImagePool:
    """The CycleGAN image buffer (Shrivastava et al. 2017): the discriminator sees a mix of the newest fakes
    and, with probability 1/2 per image once the pool is full, an older fake swapped out for the new one.

    ``pool_size = 0`` passes the images through. :meth:`state_dict` / :meth:`load_state_dict` carry the stored
    images and the random generator over a resumed run (the training engine checkpoints them).
    """

    def __init__(self, pool_size: int, seed: int = 0) -> None:
        self.pool_size = int(pool_size)
        self.images: list[torch.Tensor] = []
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.pool_size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif self.rng.random() > 0.5:
                k = self.rng.randrange(self.pool_size)
                out.append(self.images[k].to(image.device, copy=True))  # restored images may sit on the CPU
                self.images[k] = image
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict[str, Any]:
        """The stored images and the generator's state (tensors and plain values only)."""
        # clones: a stored image is a view of its batch, and torch.save would write the whole batch
        return {"pool_size": self.pool_size, "images": [image.clone() for image in self.images],
                "rng": python_rng_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; refuses a pool of another size."""
        if int(state["pool_size"]) != self.pool_size:
            raise ValueError(f"the saved pool holds up to {state['pool_size']} images, this one {self.pool_size}")
        set_python_rng_state(self.rng, state["rng"])
        self.images = list(state["images"])


def linear_decay_factor(epoch: int, epochs: int, decay_epochs: int) -> float:
    """Learning-rate factor at 0-based ``epoch``: 1 for the first ``epochs - decay_epochs`` epochs, then a
    linear fall towards 0 (the CycleGAN reference's ``lambda_rule``).

    Example:
        >>> [round(linear_decay_factor(e, 4, 2), 3) for e in range(4)]
        [1.0, 1.0, 0.667, 0.333]
    """
    if decay_epochs <= 0:
        return 1.0
    constant = epochs - decay_epochs
    return 1.0 - max(0, epoch + 1 - constant) / float(decay_epochs + 1)


def positivity_loss(logits: torch.Tensor, positive: torch.Tensor, positive_weight: float) -> torch.Tensor:
    """Binary cross-entropy of the positivity logits against the positive-nucleus mask, positives weighted."""
    weight = torch.as_tensor(float(positive_weight), dtype=logits.dtype, device=logits.device)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, positive, pos_weight=weight)
