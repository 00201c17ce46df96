"""The keyframe ("marked frame") rule of video triage, streaming and exposed (spec 2.9, 2.10 #8: ours).

A frame is marked when

* it shows lesion: CD class not "invisible" and lesion pixels >= ``lesion_threshold`` of the frame
  (every such frame is kept: the reader must not miss a lesion), or
* it is a representative clear view: ``p_clear >= clear_threshold`` and tissue (clear + blurred mucosa
  + lesion) >= ``tissue_threshold`` of the frame, and at least ``representative_interval_s`` seconds of
  video have passed since the last representative frame (one readable view per stretch of bowel).

The paper's "about 10 %" is an outcome, not a parameter: on our simulated videos these defaults keep
about that share (see the quality benchmark); lower ``lesion_threshold`` for more recall.

Example:
    >>> rule = KeyframeRule(lesion_threshold=0.02, clear_threshold=0.8, tissue_threshold=0.5,
    ...                     representative_interval_s=10)
    >>> state = MarkState()
    >>> [rule.mark(state, t, "clear", 0.9, 0.7, 0.0) for t in (0, 5, 11)]
    ['representative', '', 'representative']
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class MarkState:
    """What the rule remembers between frames (O(1): the time of the last representative frame)."""

    last_representative_s: float | None = None


@dataclasses.dataclass(frozen=True)
class KeyframeRule:
    lesion_threshold: float = 0.02
    clear_threshold: float = 0.8
    tissue_threshold: float = 0.5
    representative_interval_s: float = 30.0

    @classmethod
    def from_config(cls, cfg: object) -> KeyframeRule:
        return cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls)})

    def mark(self, state: MarkState, time_s: float, cd_class: str, p_clear: float, tissue: float,
             lesion: float) -> str:
        """The reason this frame is marked ("lesion", "representative") or "" (fractions in [0, 1])."""
        if cd_class != "invisible" and lesion >= self.lesion_threshold:
            return "lesion"
        if p_clear >= self.clear_threshold and tissue >= self.tissue_threshold and (
                state.last_representative_s is None
                or time_s - state.last_representative_s >= self.representative_interval_s):
            state.last_representative_s = time_s
            return "representative"
        return ""
