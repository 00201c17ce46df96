"""A tiny multi-process training run that proves DDP works: every rank reports a digest of its weights.

Run it with::

    python -m torch.distributed.run --standalone --nproc_per_node 2 -m biomedai.train.ddp_smoke --out DIR

Each rank writes ``DIR/rank<R>.json`` with the SHA-256 of its final weights, the back end and the
first/last epoch losses; rank 0 alone writes ``DIR/run/`` (checkpoints and ``metrics.jsonl``).
All ranks must report the same digest and the loss must go down.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ..utils import write_text_atomic

logger = logging.getLogger(__name__)


def synthetic_regression(n: int = 256, features: int = 8, seed: int = 0) -> tuple[object, object]:
    """Inputs and targets of a known nonlinear function, identical on every rank for a given seed."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=generator)
    w = torch.randn(features, 1, generator=generator)
    y = torch.tanh(x @ w / features**0.5) + 0.05 * torch.randn(n, 1, generator=generator)
    return x, y


def run(out: Path, epochs: int = 6, seed: int = 0, batch_size: int = 16) -> dict[str, object]:
    """Train a small MLP with the Trainer and write this rank's report; returns the report."""
    import torch
    from torch.utils.data import TensorDataset

    from .checkpoint import state_dict_sha256
    from .distributed import distributed_from_env
    from .engine import Trainer

    x, y = synthetic_regression(seed=seed)
    split = int(0.75 * len(x))
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 32), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                                torch.nn.Linear(32, 1))
    trainer = Trainer(model, TensorDataset(x[:split], y[:split]), TensorDataset(x[split:], y[split:]),
                      loss_fn=torch.nn.functional.mse_loss,
                      optimizer=lambda params: torch.optim.SGD(params, lr=0.02, momentum=0.9),
                      output_dir=out / "run", epochs=epochs, seed=seed, batch_size=batch_size, device="cpu",
                      grad_clip_norm=5.0, grad_accum_steps=2, progress=False)
    result = trainer.fit()
    env = distributed_from_env()
    report = {
        "rank": env.rank,
        "world_size": env.world_size,
        "backend": trainer.ctx.backend,
        "sha256": state_dict_sha256(trainer.model),
        "first_train_loss": result.history[0]["train_loss"],
        "last_train_loss": result.history[-1]["train_loss"],
        "first_val_loss": result.history[0]["val_loss"],
        "last_val_loss": result.history[-1]["val_loss"],
        "epochs_completed": result.epochs_completed,
        "global_step": result.global_step,
    }
    write_text_atomic(out / f"rank{env.rank}.json", json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the distributed smoke test; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the per-rank reports")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(1)
    run(args.out, epochs=args.epochs, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
