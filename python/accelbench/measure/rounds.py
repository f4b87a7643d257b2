"""Rounds: one case measured in several rounds, and the summary that spans them.

A machine has slow states that last for a process or a stretch of time
(clock and power states, thread placement, memory layout, a neighbour's
load). A case sampled for one second inside one such state shows a tight
distribution that the next run contradicts, and the exact interval over its
samples says nothing about that run. So a run measures every case in ``R``
rounds (``--rounds``, 3 in the shipped suites): each round visits the cases
in a fresh shuffled order, seeded by the run id and the round, in a fresh
worker process with its own warm-up, and gets ``1 / R`` of the case's
sampling budget and minimum sample count. One case's samples then span the
run's duration and several process states.

:func:`combine_rounds` turns the rounds of a case into its row: the median
of the pooled samples with every round weighing the same
(:func:`accelbench._core.balanced_median`: a round's sample count is the
sampler's choice, and a noisy, slow round samples longest), and its
confidence interval from the two-level
bootstrap over rounds, then samples within a round, with the few-groups
Student-t calibration (:func:`accelbench._core.analyze_rounds`), so that the
interval includes the variation between rounds. ``converged`` means that
this interval meets the target; rounds that each met it but disagree with
one another make the case ``converged = False`` with ``stop_reason =
"unstable"``. That interval is provisional: when the run's last round
is in, :func:`settle_rounds` replaces it with one whose between-round
variance is pooled over the run's cases (three rounds alone say little)
and which includes the machine's drift between runs when it was measured
(``accelbench calibrate``); see ``stats::pooled`` in the core. Numerical
checks (reference, determinism, fingerprint) run in the first round only;
they do not depend on timing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from accelbench import _core
from accelbench.kinds import CIMethod, Status, StopReason
from accelbench.measure.core import Outcome, Row, Samples, Settings, throughput
from accelbench.measure.measurement import statistics_columns
from accelbench.results.pooled import (
    RERUN_FACTOR,
    median_variances,
    rerun_half_width,
    round_samples,
)

__all__ = ["BOOTSTRAP_RESAMPLES", "RERUN_FACTOR", "History", "RoundPlan", "combine_rounds",
           "rerun_interval", "settle_rounds"]

#: Bootstrap replicates of the rounds interval (seeded: a run's figures are reproducible).
BOOTSTRAP_RESAMPLES = 10_000

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class RoundPlan:
    """How a run's cases are spread over its rounds."""

    rounds: int
    run_id: str

    @classmethod
    def of(cls, settings: Settings, run_id: str) -> RoundPlan:
        """The run's plan; a sustained run (``--sustain``) is one continuous round."""
        return cls(1 if settings.sustain > 0 else max(1, settings.rounds), run_id)

    def settings_for(self, settings: Settings, index: int) -> Settings:
        """Round ``index``'s settings: ``1 / R`` of the warm-up, of the sampling budget and of
        the minimum samples; a precision target ``sqrt(R)`` times looser (the R rounds' samples
        together reach the run's target: a round need not reach it alone); the numerical
        checks in the first round only."""
        if self.rounds == 1:
            return settings
        return replace(
            settings,
            warmup=settings.warmup / self.rounds,
            max_case_time=settings.max_case_time / self.rounds,
            min_samples=max(1, math.ceil(settings.min_samples / self.rounds)),
            target_rel_ci=settings.target_rel_ci * math.sqrt(self.rounds),
            check=settings.check and index == 0,
        )

    def order(self, items: Sequence[T], index: int) -> list[T]:
        """``items`` in round ``index``'s order: shuffled, seeded by the run id and round."""
        out = list(items)
        if self.rounds > 1:
            random.Random(f"{self.run_id}/round {index}").shuffle(out)
        return out


def rerun_interval(median: float, low: float, high: float) -> Row:
    """``ci_low_s``, ``ci_high_s`` and ``rel_ci`` of the rerun interval around ``median``
    from the confidence interval of the median ``(low, high)``."""
    if not (median > 0 and low > 0 and high > 0):
        return {}
    lo = median * (low / median) ** RERUN_FACTOR
    hi = median * (high / median) ** RERUN_FACTOR
    return {"ci_low_s": lo, "ci_high_s": hi,
            "rel_ci": max(median - lo, hi - median) / median}


def _seconds(outcome: Outcome) -> list[float]:
    return [float(x) for x in outcome.samples.get("seconds", [])]


def _balanced(row: Row, rounds: Sequence[Sequence[float]]) -> Row:
    """The median with every round weighing the same (a noisy round that sampled to its
    budget does not outvote quick ones); the bootstrap interval moves with it."""
    shift = _core.balanced_median(rounds) / row["median_s"]
    return {"median_s": row["median_s"] * shift, "ci_low_s": row["ci_low_s"] * shift,
            "ci_high_s": row["ci_high_s"] * shift}


def combine_rounds(outcomes: Sequence[Outcome], settings: Settings) -> Outcome:
    """The row and samples of a case from its rounds, in round order.

    A round that is not ``ok`` (an error, a crash, a failed check) is the
    case's result, with ``rounds`` saying how many rounds ran. Otherwise the
    first round's row (identity, checks, timer and telemetry columns) gets
    the statistics of all rounds; the samples are concatenated in round
    order, with each sample's round and launches per sample.
    """
    if not outcomes:
        raise ValueError("combine_rounds needs at least one round")
    for outcome in outcomes:
        if outcome.status != Status.OK or not _seconds(outcome):
            failed: Row = dict(outcome.row)
            failed["rounds"] = len(outcomes)
            return Outcome(failed, outcome.samples)
    if len(outcomes) == 1:
        return outcomes[0]
    rounds = [_seconds(o) for o in outcomes]
    ra = _core.analyze_rounds(rounds, settings.confidence, resamples=BOOTSTRAP_RESAMPLES,
                              seed=0)
    first = outcomes[0].row
    row: Row = dict(first)
    row.update(statistics_columns(ra.analysis))
    row.update(_balanced(row, rounds))
    row.update(rerun_interval(row["median_s"], row["ci_low_s"], row["ci_high_s"]))
    row.update(throughput(row["median_s"], first.get("flops"), first.get("bytes")))
    rounds_converged = all(bool(o.row.get("converged")) for o in outcomes)
    converged = bool(row["rel_ci"] <= settings.target_rel_ci)
    if converged:
        stop = StopReason.CONVERGED
    elif rounds_converged:
        stop = StopReason.UNSTABLE
    else:
        stop = next(StopReason(o.row["stop_reason"]) for o in outcomes
                    if not o.row.get("converged"))
    row.update(
        n_samples=sum(len(r) for r in rounds),
        iters_per_sample=max(int(o.row.get("iters_per_sample") or 1) for o in outcomes),
        converged=converged, stop_reason=stop, rounds=len(outcomes),
        round_spread=ra.spread, ci_method=CIMethod.ROUNDS_BOOTSTRAP,
        warmup_s=sum(float(o.row.get("warmup_s") or 0.0) for o in outcomes),
        wall_s=sum(float(o.row.get("wall_s") or 0.0) for o in outcomes),
    )
    samples: Samples = {
        "seconds": [x for r in rounds for x in r],
        "round": [i for i, r in enumerate(rounds) for _ in r],
        "iters": [int(o.samples.get("iters") or 1) for o, r in zip(outcomes, rounds, strict=True)
                  for _ in r],
    }
    flags = [o.samples.get("throttled") for o in outcomes]
    if any(flags):
        samples["throttled"] = [f for fl, r in zip(flags, rounds, strict=True)
                                for f in (fl or [None] * len(r))]
    fingerprint = outcomes[0].samples.get("fingerprint")
    if fingerprint is not None:
        samples["fingerprint"] = fingerprint
    return Outcome(row, samples)


@dataclass(frozen=True)
class History:
    """What the machine's history of runs says when a run's last round is in."""

    #: the run's settings with the drift estimated with this run as the newest of the history
    settings: Settings
    #: per case key, the case's usual median (seconds) in the runs before this one
    usual: Mapping[str, float]


def settle_rounds(cases: Mapping[K, Outcome], settings: Settings,
                  usual: Mapping[K, float] | None = None) -> dict[K, Outcome]:
    """The final rows of a run's cases measured in rounds (``ok`` ones; others are left
    out): the interval from the round medians' variance pooled over the cases plus the
    machine's drift (``settings.drift_sd``), as a rerun interval (:data:`RERUN_FACTOR`).
    A case with a ``usual`` median (the machine's history) gets the hull of that interval
    and the same interval around the usual median: a rerun lands near this run's median if
    the machine stays as it was, near the usual one if this run was measured in a slow or
    fast episode. ``converged`` and ``stop_reason`` follow the interval."""
    rounds = {k: round_samples(o.samples) for k, o in cases.items()
              if o.status == Status.OK and int(o.row.get("rounds") or 1) > 1}
    variances = median_variances(rounds, settings.drift_sd, settings.confidence,
                                 settings.drift_runs)
    method = CIMethod.ROUNDS_DRIFT if settings.drift_sd > 0 else CIMethod.ROUNDS_POOLED
    out: dict[K, Outcome] = {}
    for key, var in variances.items():
        outcome = cases[key]
        row: Row = dict(outcome.row)
        median = float(row["median_s"])
        half = rerun_half_width(var, settings.confidence)
        low, high = median * math.exp(-half), median * math.exp(half)
        ref = (usual or {}).get(key)
        if ref is not None and ref > 0:
            low, high = min(low, ref * math.exp(-half)), max(high, ref * math.exp(half))
        row.update(ci_low_s=low, ci_high_s=high,
                   rel_ci=max(median - low, high - median) / median,
                   ci_method=method if ref is None else CIMethod.ROUNDS_HISTORY,
                   usual_s=ref)
        converged = bool(row["rel_ci"] <= settings.target_rel_ci)
        previous = StopReason(row["stop_reason"])
        if converged:
            stop = StopReason.CONVERGED
        elif previous in (StopReason.CONVERGED, StopReason.UNSTABLE):
            stop = StopReason.UNSTABLE
        else:
            stop = previous
        row.update(converged=converged, stop_reason=stop)
        out[key] = Outcome(row, outcome.samples)
    return out
