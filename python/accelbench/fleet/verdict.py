"""Fleet verdicts: which rank is slow, which computes wrong (no torch, no devices).

For one case, every rank's samples (seconds per launch) and output
fingerprint are judged against the rest of the world:

* ``fleet_ratio`` = the rank's median / the median of the ranks' medians,
  with a confidence interval: the rank's median CI divided by the world
  median. The CI of a rank's median is the Rust core's seeded percentile
  bootstrap (:func:`accelbench._core.bootstrap_ci`). In a large world only
  the ranks that *can* be flagged (point ratio above ``1 + threshold``) are
  bootstrapped; the others get the distribution-free order-statistic CI
  (:func:`accelbench._core.median_ci`), which costs a microsecond, so
  10,000 ranks x 20 cases take seconds. The world median of N rank medians
  is treated as fixed: it moves far less than one rank's median.
* ``fleet_flag`` (slow): the *whole* CI is above ``1 + threshold``.
* Sustained runs (``--sustain``): the samples are time-ordered windows; the
  last third of each rank's windows is judged the same way (``late_ratio``),
  so a rank that degrades late in the run is flagged although its overall
  median is fine.
* Agreement: the ranks' output hashes are grouped; when a strict majority
  agrees bitwise, every rank outside it is flagged ``wrong``. Without a
  bitwise majority, a rank's sampled output values are compared with the
  element-wise median of all ranks' values within the dtype tolerance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from accelbench import _core
from accelbench.numerics.tolerance import tolerance_for

__all__ = ["CaseVerdict", "FleetFlag", "RankResult", "RankVerdict", "judge_case", "ratio_cis"]

#: Bootstrap every rank while ranks x resamples stays below this; above it only candidates.
FULL_BOOTSTRAP_RANKS = 256


class FleetFlag(str, Enum):
    """Why a rank is flagged (the ``fleet_flag`` column joins them with commas)."""

    SLOW = "slow"
    SLOW_LATE = "slow_late"  # sustained run: the last third of the windows is slow
    WRONG = "wrong"  # output disagrees with the other ranks'
    FAILED = "failed"  # the case failed on this rank only
    SLOW_LINK = "slow_link"  # links: this send/recv link is slower than its peers
    SLOW_SEGMENT = "slow_segment"  # links: a ring segment is slow, no single link named

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class RankResult:
    """What one rank reports for one case."""

    rank: int
    host: str
    device: str
    status: str
    seconds: Sequence[float]  # samples (sustained: windows in time order)
    fingerprint: str | None = None  # hash of the output bytes
    values: Sequence[float | None] = ()  # sampled output elements
    dtype: str = "fp32"
    error: str | None = None


@dataclass
class RankVerdict:
    rank: int
    host: str
    median_s: float | None = None
    ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    late_ratio: float | None = None
    late_ci_low: float | None = None
    flags: list[FleetFlag] = field(default_factory=list)
    detail: str = ""

    @property
    def flag_text(self) -> str:
        return ",".join(str(f) for f in self.flags)


@dataclass
class CaseVerdict:
    key: str
    ranks: list[RankVerdict]
    world_median_s: float | None

    @property
    def flagged(self) -> list[RankVerdict]:
        return [v for v in self.ranks if v.flags]


def _medians(samples: Sequence[Sequence[float]]) -> np.ndarray:
    lengths = {len(s) for s in samples}
    if len(lengths) == 1 and 0 not in lengths:
        return np.median(np.asarray(samples, dtype=np.float64), axis=1)
    return np.array([float(np.median(s)) if len(s) else np.nan for s in samples])


def ratio_cis(samples: Sequence[Sequence[float]], threshold: float, confidence: float,
            resamples: int, seed: int) -> tuple[float | None, list[tuple[float, float, float]]]:
    """The median of the medians and, per sample set, (ratio to it, ci_low, ci_high).

    NaN where a set has no samples. Used for ranks (a case) and for links.
    """
    med = _medians(samples)
    finite = med[np.isfinite(med)]
    if finite.size == 0 or float(np.median(finite)) <= 0:
        return None, [(np.nan, np.nan, np.nan)] * len(samples)
    world = float(np.median(finite))
    full = len(samples) <= FULL_BOOTSTRAP_RANKS
    out: list[tuple[float, float, float]] = []
    for i, s in enumerate(samples):
        if not np.isfinite(med[i]):
            out.append((np.nan, np.nan, np.nan))
            continue
        ratio = float(med[i]) / world
        if len(s) < 2:
            lo = hi = float(med[i])
        elif full or ratio > 1.0 + threshold:
            lo, hi = _core.bootstrap_ci(list(s), resamples=resamples, confidence=confidence,
                                        seed=seed + i)
        else:
            lo, hi = _core.median_ci(list(s), confidence)
        out.append((ratio, lo / world, hi / world))
    return world, out


def _disagreeing(results: Sequence[RankResult]) -> dict[int, str]:
    """Ranks whose output differs from the others': rank -> reason."""
    have = [r for r in results if r.fingerprint]
    if len(have) < 2:
        return {}
    counts = Counter(r.fingerprint for r in have)
    top, n_top = counts.most_common(1)[0]
    if n_top == len(have):
        return {}
    if n_top * 2 > len(have) and n_top >= 2:
        return {r.rank: f"output hash {r.fingerprint} differs from {n_top} of {len(have)} "
                        f"ranks' {top} (bitwise)" for r in have if r.fingerprint != top}
    width = min(len(r.values) for r in have)
    if width == 0:
        return {}
    vals = np.array([[np.nan if v is None else v for v in r.values[:width]] for r in have])
    ref = np.nanmedian(vals, axis=0)
    tol = tolerance_for(have[0].dtype)
    bad = np.abs(vals - ref) > tol.atol + tol.rtol * np.abs(ref)
    return {r.rank: f"{int(bad[i].sum())} of {width} sampled elements beyond rtol {tol.rtol:g}"
            for i, r in enumerate(have) if bad[i].any()}


def judge_case(key: str, results: Sequence[RankResult], *, threshold: float = 0.05,
               confidence: float = 0.95, resamples: int = 2000, sustained: bool = False,
               seed: int = 0) -> CaseVerdict:
    """Every rank's verdict for one case (see the module docstring)."""
    ok = [r for r in results if r.status == "ok" and len(r.seconds)]
    world, ratios = ratio_cis([r.seconds for r in ok], threshold, confidence, resamples, seed)
    verdicts = {r.rank: RankVerdict(r.rank, r.host) for r in results}
    limit = 1.0 + threshold
    for r, (ratio, lo, hi) in zip(ok, ratios, strict=True):
        v = verdicts[r.rank]
        if np.isfinite(ratio):
            v.median_s = float(np.median(r.seconds))
            v.ratio, v.ci_low, v.ci_high = ratio, lo, hi
            if lo > limit:
                v.flags.append(FleetFlag.SLOW)
    if sustained and ok:
        late = [list(r.seconds[-max(1, len(r.seconds) // 3):]) for r in ok]
        _, late_ratios = ratio_cis(late, threshold, confidence, resamples, seed + 7919)
        for r, (ratio, lo, _hi) in zip(ok, late_ratios, strict=True):
            v = verdicts[r.rank]
            v.late_ratio, v.late_ci_low = ratio, lo
            if lo > limit and FleetFlag.SLOW not in v.flags:
                v.flags.append(FleetFlag.SLOW_LATE)
    for rank, reason in _disagreeing(ok).items():
        verdicts[rank].flags.append(FleetFlag.WRONG)
        verdicts[rank].detail = reason
    if ok:  # a failure on some ranks only is a fault of those ranks
        for r in results:
            if r.status != "ok":
                verdicts[r.rank].flags.append(FleetFlag.FAILED)
                verdicts[r.rank].detail = r.error or r.status
    return CaseVerdict(key, [verdicts[r.rank] for r in results], world)
