"""Settings of the Fan et al. DBT 3-D Mask R-CNN. Defaults are the paper's where it fixes them and the spec's
decisions where it does not (``../shared/specs/breast-neuro.md`` section 1); the light CPU variant and the
reduced simulated cohort are ours and say so."""
from __future__ import annotations

import dataclasses

from biomedai.config import BaseConfig
from biomedai.errors import ConfigError


@dataclasses.dataclass
class DbtSimConfig(BaseConfig):
    """The simulated cohort (all data SIMULATED; reduced from the paper's 364 breasts / 716 views)."""

    #: breasts in the training and test parts (paper: 201 and 163, spec 1.2; ours reduced for 2 CPU cores)
    n_train_breasts: int = 40
    n_test_breasts: int = 30
    #: fraction of breasts with one view only (paper: 716 views for 364 breasts, about 3 %)
    one_view_fraction: float = 0.03
    #: volume (z, y, x) and spacing in mm; the paper reconstructs 1 mm slices at 0.106 mm in-plane, resampled per the
    #: spec decision 1.3 to 0.4-0.5 mm; ours 0.6 mm and a 32 mm compressed breast to fit CPU training
    shape: tuple[int, int, int] = (32, 96, 96)
    spacing: tuple[float, float, float] = (1.0, 0.6, 0.6)
    #: maximum mass diameter range in mm (paper 10.15-140.9, median 33.4; ours scaled to the smaller phantom)
    diameter_mm: tuple[float, float] = (7.0, 20.0)
    #: acquisition (spec 1.1: 20 projections over a 20 degree arc) and SART iterations
    n_projections: int = 20
    half_angle_deg: float = 10.0
    sart_iterations: int = 3
    #: Gaussian noise on the projections, as a fraction of the largest line integral
    noise: float = 0.01

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first bad key."""
        super().validate()
        checks = [("n_train_breasts", self.n_train_breasts >= 2), ("n_test_breasts", self.n_test_breasts >= 2),
                  ("one_view_fraction", 0.0 <= self.one_view_fraction < 1.0),
                  ("shape", len(self.shape) == 3 and min(self.shape) >= 8),
                  ("spacing", len(self.spacing) == 3 and min(self.spacing) > 0),
                  ("diameter_mm", 0 < self.diameter_mm[0] <= self.diameter_mm[1]),
                  ("n_projections", self.n_projections >= 2), ("half_angle_deg", 0 < self.half_angle_deg < 60),
                  ("sart_iterations", self.sart_iterations >= 1), ("noise", self.noise >= 0)]
        for key, ok in checks:
            if not ok:
                raise ConfigError(f"key {key!r}: value {getattr(self, key)!r} is out of range")
