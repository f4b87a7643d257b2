"""A run median's error from its stored rounds, pooled over the run's cases (no torch).

The one definition used by a run's final rows
(:func:`accelbench.measure.rounds.settle_rounds`), by ``compare`` and by the
drift calibration (:mod:`accelbench.analysis.drift`); the statistics are the
core's (``stats::pooled``).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from statistics import NormalDist
from typing import Any, TypeVar

import numpy as np

from accelbench import _core

__all__ = ["RERUN_FACTOR", "drift_df", "median_variances", "rerun_half_width", "round_samples",
           "within_variances"]

K = TypeVar("K", bound=Hashable)

#: A rerun's median differs from this run's by the errors of two estimates, not one: the
#: difference has twice the variance, so an interval that covers the true median with 95%
#: covers a rerun's median with only about 83%. Widening the interval by sqrt(2) (on the log
#: scale, around the median) makes it a 95% interval for the median of a rerun of the same
#: design: what "will the next run agree?" needs.
RERUN_FACTOR = math.sqrt(2.0)


def rerun_half_width(log_var: float, confidence: float) -> float:
    """Half-width, on the log scale, of the rerun interval of a median whose logarithm has
    variance ``log_var``: ``z * sqrt(2 * log_var)``."""
    return NormalDist().inv_cdf(0.5 + confidence / 2) * RERUN_FACTOR * math.sqrt(log_var)


def round_samples(samples: Mapping[str, Any]) -> list[np.ndarray]:
    """A case's samples split by round (``seconds`` with their ``round``), in round order."""
    seconds = np.asarray(samples.get("seconds") or [], dtype=np.float64)
    rounds = np.asarray(samples.get("round") or [0] * len(seconds))
    if len(seconds) == 0 or len(rounds) != len(seconds):
        return []
    return [seconds[rounds == r] for r in np.unique(rounds)]


def drift_df(drift_runs: int) -> float:
    """Degrees of freedom of a drift estimated from ``drift_runs`` runs (``runs - 1``);
    infinite (known) for a drift given rather than estimated (``drift_runs < 2``)."""
    return float(drift_runs - 1) if drift_runs >= 2 else math.inf


def _round_medians(rounds: Mapping[K, Sequence[np.ndarray]]) -> dict[K, list[float]]:
    medians = {k: [float(np.median(x)) for x in r if len(x)] for k, r in rounds.items()}
    return {k: m for k, m in medians.items() if m}


def median_variances(rounds: Mapping[K, Sequence[np.ndarray]], drift_sd: float,
                     confidence: float, drift_runs: int = 0) -> dict[K, float]:
    """Per case with two rounds or more (its samples per round), the log-scale variance of
    its run median from its round medians pooled over all the cases given, plus the
    drift's (estimated from ``drift_runs`` runs), scaled so that ``z * sqrt(v)`` is the
    interval's half-width at ``confidence`` (Student's t for the estimated parts;
    :func:`accelbench._core.round_variances`)."""
    medians = _round_medians(rounds)
    got = _core.round_variances(list(medians.values()), drift_sd, confidence,
                                drift_df=drift_df(drift_runs))
    return {k: v for k, v in zip(medians, got, strict=True) if v is not None}


def within_variances(rounds: Mapping[K, Sequence[np.ndarray]]) -> dict[K, float]:
    """Per case with two rounds or more, the within-run log-scale variance of its run median
    from its rounds pooled over the cases given: no drift, no scaling (what the history of
    the machine keeps; :func:`accelbench._core.within_run_variances`)."""
    medians = _round_medians(rounds)
    got = _core.within_run_variances(list(medians.values()))
    return {k: v for k, v in zip(medians, got, strict=True) if v is not None}
