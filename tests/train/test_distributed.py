"""Multi-process training: two CPU processes under torchrun (gloo) must agree on the final weights."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

from biomedai.errors import ConfigError
from biomedai.train import distributed_from_env, load_checkpoint, read_jsonl, state_dict_sha256

SRC = Path(__file__).resolve().parents[2] / "src"


def test_distributed_from_env():
    assert not distributed_from_env({}).is_distributed
    ctx = distributed_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert ctx.is_distributed and not ctx.is_main and ctx.local_rank == 1
    with pytest.raises(ConfigError, match="RANK=2 does not fit WORLD_SIZE=2"):
        distributed_from_env({"RANK": "2", "WORLD_SIZE": "2"})


@pytest.mark.skipif(not torch.distributed.is_available(), reason="this PyTorch has no torch.distributed")
def test_torchrun_two_gloo_processes_agree_on_weights(tmp_path):
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                            "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", BIOMEDAI_PROGRESS="off",
               PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "biomedai.train.ddp_smoke", "--out", str(tmp_path), "--epochs", "6"]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in reports] == [0, 1]
    assert all(r["world_size"] == 2 and r["backend"] == "gloo" for r in reports)
    assert reports[0]["sha256"] == reports[1]["sha256"], "ranks disagree: gradients were not synchronised"
    for report in reports:
        assert report["last_train_loss"] < 0.5 * report["first_train_loss"]
        assert report["last_val_loss"] < 0.5 * report["first_val_loss"]
        # 192 training samples / 2 ranks / batch 16 = 6 batches, accumulated in pairs: 3 steps per epoch
        assert report["epochs_completed"] == 6 and report["global_step"] == 18

    # rank 0 alone wrote the checkpoint and the log (one line per epoch, not one per rank)
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state_dict_sha256(last["model"]) == reports[0]["sha256"]
    assert len(last["rng"]) == 2  # each rank's RNG state, for exact resume
    epochs = [r["epoch"] for r in read_jsonl(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "epoch"]
    assert epochs == [1, 2, 3, 4, 5, 6]
