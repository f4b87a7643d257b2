"""A run median's error from its stored rounds, pooled over the run's cases (no torch).

The one definition used by a run's final rows
(:func:`accelbench.measure.rounds.settle_rounds`), by ``compare`` and by the
drift calibration (:mod:`accelbench.analysis.drift`); the statistics are the
core's (``stats::pooled``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from accelbench import _core

__all__ = ["median_variances", "round_medians"]

K = TypeVar("K", bound=Hashable)


def round_medians(samples: Mapping[str, Any]) -> list[float]:
    """The median of each round of a case's samples (``seconds`` with their ``round``)."""
    seconds = np.asarray(samples.get("seconds") or [], dtype=np.float64)
    rounds = np.asarray(samples.get("round") or [0] * len(seconds))
    if len(seconds) == 0 or len(rounds) != len(seconds):
        return []
    return [float(np.median(seconds[rounds == r])) for r in np.unique(rounds)]


def median_variances(medians: Mapping[K, Sequence[float]], drift_sd: float,
                     confidence: float) -> dict[K, float]:
    """Per case (with two rounds or more), the log-scale variance of its run median from
    its round medians pooled over all the cases given, plus the drift's
    (:func:`accelbench._core.round_variances`)."""
    keys = [k for k, m in medians.items() if len(m) >= 1]
    got = _core.round_variances([list(medians[k]) for k in keys], drift_sd, confidence)
    return {k: v for k, v in zip(keys, got, strict=True) if v is not None}
