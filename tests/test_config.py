from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from biomedai.config import BaseConfig, parse_overrides
from biomedai.errors import ConfigError


@dataclasses.dataclass
class ToyConfig(BaseConfig):
    epochs: int = 10
    learning_rate: float = 1e-3
    channels: tuple[int, ...] = (64, 128)
    mode: str = "fast"
    weights: Path | None = None

    def validate(self) -> None:
        super().validate()
        if self.epochs < 1:
            raise ConfigError(f"key 'epochs' must be >= 1, got {self.epochs}")


def test_from_dict_converts_and_validates():
    cfg = ToyConfig.from_dict({"epochs": 3, "learning_rate": 1, "channels": [8, 16], "weights": "w.pt"})
    assert cfg.epochs == 3 and cfg.learning_rate == 1.0 and isinstance(cfg.learning_rate, float)
    assert cfg.channels == (8, 16) and cfg.weights == Path("w.pt")


@pytest.mark.parametrize("values, key", [
    ({"epoch": 3}, "epoch"),
    ({"epochs": "three"}, "epochs"),
    ({"epochs": 0}, "epochs"),
    ({"channels": 5}, "channels"),
    ({"learning_rate": True}, "learning_rate"),
])
def test_bad_values_name_the_key(values, key):
    with pytest.raises(ConfigError, match=key):
        ToyConfig.from_dict(values)


def test_from_yaml_file_and_overrides(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("epochs: 5\nmode: slow\n")
    cfg = ToyConfig.from_file(path)
    assert (cfg.epochs, cfg.mode) == (5, "slow")
    cfg2 = cfg.replace(**parse_overrides(["epochs=7", "channels=[1, 2, 3]"]))
    assert cfg2.epochs == 7 and cfg2.channels == (1, 2, 3) and cfg.epochs == 5


def test_bad_yaml_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("epochs: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        ToyConfig.from_file(path)
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        ToyConfig.from_file(path)
    with pytest.raises(ConfigError, match="not found"):
        ToyConfig.from_file(tmp_path / "missing.yaml")


def test_override_syntax_error():
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["epochs"])
