"""Semi-quantitative DCE maps from signal curves: enhancement, wash-in, wash-out, time to peak, SER."""
from __future__ import annotations

import numpy as np

from biomedai.errors import InvalidInputError

from .models import check_times


def semi_quantitative_maps(signal: np.ndarray, t: np.ndarray, *, n_baseline: int = 1, early_time: float | None = None,
                           eps: float = 1e-6) -> dict[str, np.ndarray]:
    """Maps from signal curves (time on the last axis) sampled at ``t`` (s).

    - ``peak_enhancement``: ``(S_max - S0) / S0`` (S0 = mean of the first ``n_baseline`` samples);
    - ``time_to_peak`` (s, from the first sample);
    - ``wash_in`` (per s): ``(S_peak - S0) / (S0 * (t_peak - t_last_baseline))``;
    - ``wash_out`` (per s): ``(S_peak - S_last) / (S0 * (t_last - t_peak))``, 0 when the peak is last;
    - ``ser``: signal-enhancement ratio ``(S_early - S0) / (S_last - S0)`` (Hylton), ``S_early`` the first
      post-baseline sample at or after ``early_time`` (default: the first post-baseline sample).
    """
    t = check_times(t)
    s = np.asarray(signal, float)
    if s.shape[-1] != t.size:
        raise InvalidInputError(f"signal has {s.shape[-1]} phases but there are {t.size} times")
    if not 1 <= n_baseline < t.size:
        raise InvalidInputError(f"n_baseline must be in [1, {t.size - 1}], got {n_baseline}")
    s0 = s[..., :n_baseline].mean(-1)
    post = s[..., n_baseline:]
    t_post = t[n_baseline:]
    i_peak = np.argmax(post, axis=-1)
    s_peak = np.take_along_axis(post, i_peak[..., None], -1)[..., 0]
    t_peak = t_post[i_peak]
    s_last = s[..., -1]
    denom = np.where(np.abs(s0) > eps, s0, np.nan)
    t_base = t[n_baseline - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        wash_in = (s_peak - s0) / (denom * np.maximum(t_peak - t_base, eps))
        wash_out = np.where(i_peak == post.shape[-1] - 1, 0.0,
                            (s_peak - s_last) / (denom * np.maximum(t[-1] - t_peak, eps)))
        i_early = 0 if early_time is None else int(np.searchsorted(t_post, early_time))
        i_early = min(i_early, post.shape[-1] - 1)
        late = s_last - s0
        ser = np.where(np.abs(late) > eps, (post[..., i_early] - s0) / late, np.nan)
    return {"peak_enhancement": (s_peak - s0) / denom, "time_to_peak": t_peak - t[0], "wash_in": wash_in,
            "wash_out": wash_out, "ser": ser}
