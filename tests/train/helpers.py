"""Small synthetic problems and models shared by the training-engine tests."""
from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import TensorDataset

from biomedai.train import Callback

TRUE_WEIGHTS = torch.tensor([[1.5], [-2.0], [0.5]])
TRUE_BIAS = 0.25


def regression_data(n: int = 96, seed: int = 0, noise: float = 0.01) -> TensorDataset:
    """y = x @ TRUE_WEIGHTS + TRUE_BIAS (+ small noise): a linear model can recover the coefficients."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=generator)
    y = x @ TRUE_WEIGHTS + TRUE_BIAS + noise * torch.randn(n, 1, generator=generator)
    return TensorDataset(x, y)


class DictDataset(torch.utils.data.Dataset):
    """Two Gaussian blobs as MONAI-style ``{"image", "label"}`` samples (linearly separable)."""

    def __init__(self, n: int = 128, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(n) % 2
        centres = torch.tensor([[-2.0, -2.0], [2.0, 2.0]])
        self.points = centres[self.labels] + 0.7 * torch.randn(n, 2, generator=generator)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": self.points[index], "label": self.labels[index], "id": f"case{index}"}


def small_mlp(seed: int = 0, in_features: int = 3, out_features: int = 1) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(in_features, 16), torch.nn.Tanh(), torch.nn.Dropout(0.2),
                               torch.nn.Linear(16, out_features))


class ScriptedMetric:
    """A ``validate`` hook returning pre-set values, one per epoch, to test best/early-stopping logic."""

    def __init__(self, values: list[float], name: str = "score") -> None:
        self.values, self.name, self.calls = list(values), name, 0

    def __call__(self, model: torch.nn.Module, loader: Any) -> dict[str, float]:
        value = self.values[self.calls]
        self.calls += 1
        return {self.name: value}


class CrashAfterEpoch(Callback):
    """Simulates a crash (e.g. a killed job) right after an epoch's checkpoint is written."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        if record["epoch"] == self.epoch:
            raise RuntimeError(f"simulated crash after epoch {self.epoch}")


class WeightSnapshots(Callback):
    """Keeps a copy of the weights after every epoch."""

    def __init__(self) -> None:
        self.by_epoch: dict[int, dict[str, torch.Tensor]] = {}

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        self.by_epoch[record["epoch"]] = {k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()}


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key].cpu(), b[key].cpu()
        assert torch.equal(x, y), f"{key} differs (max abs diff {(x - y).abs().max()})"


class SimulatedClocks:
    """A wall clock and a CPU clock that move only when told, for the engine's time budget.

    :meth:`install` puts them under ``biomedai.train.progress`` (where the budget reads ``time.perf_counter``
    and ``time.process_time``), so a method's training stops at a known step with no real waiting: advance
    them where the method does work, e.g. in its data set's ``__getitem__`` via :meth:`tick_on`.
    """

    def __init__(self, wall_s_per_tick: float = 1.0, cpu_s_per_tick: float = 1.0) -> None:
        self.wall, self.cpu = 1000.0, 10.0
        self.wall_s_per_tick, self.cpu_s_per_tick = wall_s_per_tick, cpu_s_per_tick

    def tick(self) -> None:
        self.wall += self.wall_s_per_tick
        self.cpu += self.cpu_s_per_tick

    def install(self, monkeypatch: Any) -> SimulatedClocks:
        import types

        from biomedai.train import progress

        fake_time = types.SimpleNamespace(perf_counter=lambda: self.wall, process_time=lambda: self.cpu)
        monkeypatch.setattr(progress, "time", fake_time)
        return self

    def tick_on(self, monkeypatch: Any, cls: type, method: str = "__getitem__") -> None:
        """Advance the clocks by one tick each time ``cls.method`` is called (e.g. per training sample)."""
        original = getattr(cls, method)

        def ticking(obj: Any, *args: Any, **kwargs: Any) -> Any:
            self.tick()
            return original(obj, *args, **kwargs)

        monkeypatch.setattr(cls, method, ticking)
