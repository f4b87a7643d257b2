"""A/B comparison of runs: is B faster, slower, or no different from A?

Cases are matched by ``(kernel, case, dtype)``, so every kernel family
compares the same way. Each side is one run, or a group of runs of the same
suite on the same device (``compare_groups``; recommended on a noisy
machine). For each case that is ``ok`` in every run of both sides, the raw
samples of ``samples.parquet`` go to the native comparison
(:func:`accelbench._core.compare_groups`):

* the ratio ``median(B) / median(A)`` (above 1: B is slower; with several
  runs, the medians of the pooled samples) and its 95% confidence interval.
  When each side is one run measured in rounds, the interval is
  ``ratio * exp(±z * sqrt(var_A + var_B))``, each side's variance of its
  log median being the one its run reports: the variance of the round
  medians pooled over the run's cases, plus the machine's drift between
  runs when the run had it (``accelbench calibrate``;
  :mod:`accelbench.measure.rounds`). When each side is a single process (one run of one
  round) its samples are resampled independently. With several runs per
  side the bootstrap has two levels and its groups are the side's runs (a
  run shares slow states longer than itself, which its rounds cannot
  show). Each replicate draws the
  side's groups with replacement, then samples with replacement within
  each drawn group (Davison & Hinkley, 1997, §3.8; Kalibera & Jones, 2013),
  so the interval contains the process-to-process variation that one
  process's samples cannot show. Because 2 to 5 groups say
  little about that variation, the group-level deviations are first widened
  by ``sqrt(k / (k - 1)) * t_nu / z`` (``nu = k_A + k_B - 2``; Student's t
  critical values for few clusters, Cameron & Miller, 2015): runs that agree
  keep a narrow interval, runs that disagree widen it, the more so the
  fewer they are. Details in the Rust module ``stats::hierarchical``;
* the two-sided Mann-Whitney U test of the (pooled) samples (normal
  approximation, tie and continuity corrected);
* the verdict: **slower** when the whole interval lies above
  ``1 + threshold`` *and* ``p < alpha``; **faster** when it lies below
  ``1 / (1 + threshold)`` *and* ``p < alpha``; **no change** otherwise.

Why a threshold on top of a test: the samples of one run only show the
noise *within* that run. Between two runs the clock and power state, thread
placement and other tenants move the whole distribution by a little, which
a test on thousands of samples reports as highly significant. The default
threshold, 2%, comes from A/A comparisons of repeated runs on a shared
2-core machine (``benchmarks/bench_compare.py`` measures the false-positive
rate of each threshold and the detection rate of a real 5% slowdown, with
one and with three runs per side, and prints the choice). With several runs
per side the calibrated interval keeps A/A false positives near 5% even at
threshold 0, so the threshold there is only the size of change worth
reporting; the same 2% default serves both.

With several runs per side the rank test is still run on the pooled samples
and the verdict rule is unchanged. The pooled test ignores which run a
sample came from, so its p-value is too small when runs differ
(pseudo-replication); the run-to-run evidence is carried by the two-level
interval, and the test keeps its one-run role of guarding against an
interval made narrow by heavy ties. A rank test of the run medians would be
the run-level test, but with three runs per side its smallest two-sided
p-value is 0.1, so it could never reject at ``alpha = 0.05``.

Each case also reports the number of runs per side and their between-run
spread, ``(max - min) / median`` of the run medians.

Multi-rank cases (collectives) are compared on the per-iteration maximum over
ranks: a collective is done when its slowest rank is.

``--fail-on-regression PCT`` gates on cases whose verdict is *slower* (the
significance part) and whose ratio exceeds ``1 + PCT/100`` (the size part).

Runs also carry an environment signature (``meta.json``: device, driver,
software and library versions, threads, clock policy, settings); every key
that differs between the first runs of A and B is listed, since it may
explain a difference on its own. Within a group, runs on different devices
are an error; other differences are a warning.
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from accelbench import _core
from accelbench.errors import UsageError
from accelbench.kinds import Status, Verdict
from accelbench.results import SCHEMA_VERSION, load, load_samples, read_meta
from accelbench.results.pooled import median_variances

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_THRESHOLD",
    "VERDICTS",
    "CaseDiff",
    "RunComparison",
    "case_rounds",
    "case_samples",
    "compare_groups",
    "compare_runs",
    "env_differences",
    "environment_signature",
    "regressions",
]

#: Default noise threshold (relative); see the module docs and bench_compare.py.
DEFAULT_THRESHOLD = 0.02
#: Significance level of the rank test.
DEFAULT_ALPHA = 0.05
VERDICTS: tuple[Verdict, ...] = tuple(Verdict)

KEY = ("kernel", "case", "dtype")

#: meta.json sections whose leaves make up the environment signature.
_SECTIONS = ("device", "software", "libraries", "clocks", "host", "settings")
#: Leaves that say nothing about speed (or repeat another key).
_IGNORED = {"device.slug", "device.spec"}


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for key in sorted(value):
            _flatten(f"{prefix}.{key}" if prefix else str(key), value[key], out)
    else:
        out[prefix] = "-" if value is None else str(value)


def environment_signature(meta: Mapping[str, Any]) -> dict[str, str]:
    """The environment of a run as flat ``section.key -> text`` pairs.

    Taken from ``meta.json``: device facts (name, UUID, driver, memory),
    software and library versions, thread counts, clock policy, host, the
    measurement settings, the accelbench source revision and the schema
    version.
    """
    env = meta.get("environment") or {}
    out: dict[str, str] = {}
    for section in _SECTIONS:
        source = meta.get(section) if section == "settings" else env.get(section)
        if source is not None:
            _flatten(section, source, out)
    out["git_revision"] = str(env.get("git_revision") or "-")
    out["schema_version"] = str(meta.get("schema_version", "-"))
    return {k: v for k, v in out.items() if k not in _IGNORED}


def env_differences(
    meta_a: Mapping[str, Any], meta_b: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    """``(key, value in A, value in B)`` for every environment-signature key that differs."""
    fa, fb = environment_signature(meta_a), environment_signature(meta_b)
    return [
        (key, fa.get(key, "(absent)"), fb.get(key, "(absent)"))
        for key in sorted(set(fa) | set(fb))
        if fa.get(key) != fb.get(key)
    ]


@dataclass(frozen=True)
class CaseDiff:
    """The comparison of one case (times in seconds)."""

    kernel: str
    case: str
    dtype: str
    n_a: int
    n_b: int
    median_a_s: float
    median_b_s: float
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    effect: float
    verdict: Verdict
    note: str = ""
    n_runs_a: int = 1
    n_runs_b: int = 1
    #: Between-run spread of each side, ``(max - min) / median`` of the run
    #: medians; NaN with one run.
    spread_a: float = math.nan
    spread_b: float = math.nan


@dataclass
class RunComparison:
    """Everything ``accelbench compare`` reports (``run_a``/``run_b``: the run names of
    each side, joined by ", "; ``runs_a``/``runs_b``: the names as a list)."""

    run_a: str
    run_b: str
    threshold: float
    alpha: float
    env_diff: list[tuple[str, str, str]]
    cases: list[CaseDiff]
    only_a: list[tuple[str, str, str]] = field(default_factory=list)
    only_b: list[tuple[str, str, str]] = field(default_factory=list)
    not_compared: list[tuple[str, str, str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    runs_a: list[str] = field(default_factory=list)
    runs_b: list[str] = field(default_factory=list)

    @property
    def multi_run(self) -> bool:
        """Whether either side has more than one run."""
        return len(self.runs_a) > 1 or len(self.runs_b) > 1

    def frame(self) -> pd.DataFrame:
        """One row per compared case."""
        cols = list(CaseDiff.__dataclass_fields__)
        return pd.DataFrame([c.__dict__ for c in self.cases], columns=cols)

    def counts(self) -> dict[str, int]:
        return {v: sum(c.verdict == v for c in self.cases) for v in VERDICTS}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN/inf become None)."""

        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "threshold": self.threshold,
            "alpha": self.alpha,
            "counts": self.counts(),
            "env_diff": [{"key": k, "a": a, "b": b} for k, a, b in self.env_diff],
            "warnings": self.warnings,
            "cases": [{k: clean(v) for k, v in c.__dict__.items()} for c in self.cases],
            "only_a": [list(k) for k in self.only_a],
            "only_b": [list(k) for k in self.only_b],
            "not_compared": [list(k) for k in self.not_compared],
            "runs_a": self.runs_a,
            "runs_b": self.runs_b,
        }


def case_samples(samples: pd.DataFrame) -> dict[tuple[str, str, str], np.ndarray]:
    """Seconds per launch of each case, all rounds (multi-rank: the slowest rank's samples)."""
    return {k: np.concatenate(v) for k, v in case_rounds(samples).items()}


def case_rounds(samples: pd.DataFrame) -> dict[tuple[str, str, str], list[np.ndarray]]:
    """Seconds per launch of each case, one array per round of the run (in round order).

    Multi-rank cases: the samples of the slowest rank (the largest median), the
    rank whose samples give the run's own ``median_s``, so that a compare
    table's medians are the runs' medians. Runs written before rounds existed
    have no ``round`` column: one round.
    """
    out: dict[tuple[str, str, str], list[np.ndarray]] = {}
    if samples.empty:
        return out
    for key, group in samples.groupby(list(KEY), sort=False):
        if group["rank"].nunique() > 1:
            slowest = group.groupby("rank")["seconds"].median().idxmax()
            group = group[group["rank"] == slowest]
        per_index = group.sort_values("index")
        rounds = (per_index["round"].to_numpy() if "round" in group
                  else np.zeros(len(per_index), dtype=np.int64))
        values = per_index["seconds"].to_numpy().astype(np.float64)
        out[(str(key[0]), str(key[1]), str(key[2]))] = [
            values[rounds == r] for r in np.unique(rounds)]
    return out


def _groups(side: _Side, key: tuple[str, str, str]) -> list[list[np.ndarray]]:
    """A side's samples of a case: per run, its non-empty rounds (empty when some run has no
    raw samples of the case)."""
    per_run = [[x for x in rounds if len(x)] for s in side.samples if (rounds := s.get(key))]
    per_run = [r for r in per_run if r]
    return per_run if len(per_run) == len(side.samples) else []


def _bootstrap_groups(per_run: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The groups of a side in the two-level bootstrap: one run's rounds (each its own worker
    process), or several runs (each run's rounds pooled): a run shares slow states that
    last longer than it, which its rounds cannot show (``benchmarks/bench_fidelity.py``
    measured that part beside the rounds' own)."""
    if len(per_run) == 1:
        return per_run[0]
    return [np.concatenate(rounds) for rounds in per_run]


def _keys(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    return [(str(k), str(c), str(d)) for k, c, d in frame[list(KEY)].itertuples(index=False)]


@dataclass
class _Side:
    """The runs of one side, read once."""

    name: str
    paths: list[Path]
    metas: list[dict[str, Any]]
    rows: list[dict[tuple[str, str, str], dict[Hashable, Any]]]
    samples: list[dict[tuple[str, str, str], list[np.ndarray]]]

    def keys(self) -> list[tuple[str, str, str]]:
        """Cases in any run, in order of first appearance."""
        return list(dict.fromkeys(k for rows in self.rows for k in rows))

    def why_not(self, key: tuple[str, str, str]) -> str | None:
        """Why the case cannot be compared on this side (None: it can)."""
        missing = sum(key not in rows for rows in self.rows)
        if missing:
            return f"missing from {missing} of {len(self.rows)} runs of {self.name}"
        return None


def _read_side(name: str, runs: Sequence[str | os.PathLike[str]]) -> _Side:
    if not runs:
        raise UsageError(f"no runs given for {name}")
    paths = [Path(r) for r in runs]
    seen: dict[Path, Path] = {}
    for p in paths:
        resolved = p.resolve()
        if resolved in seen:
            raise UsageError(f"run {p} is given twice for {name}")
        seen[resolved] = p
    metas = [read_meta(p) for p in paths]
    devices = [_device_id(m) for m in metas]
    for p, dev in zip(paths[1:], devices[1:], strict=True):
        if dev != devices[0]:
            raise UsageError(f"runs of {name} are on different devices: {devices[0]} "
                             f"({paths[0].name}) vs {dev} ({p.name})")
    rows, samples = [], []
    for p in paths:
        res = load(p)
        rows.append({k: r for k, r in zip(_keys(res), res.to_dict("records"), strict=True)})
        samples.append(case_rounds(load_samples(p)))
    return _Side(name, paths, metas, rows, samples)


def _device_id(meta: Mapping[str, Any]) -> str:
    """The device a run measured: name, and UUID where the device has one."""
    fp = environment_signature(meta)
    name, uuid = fp.get("device.name", "-"), fp.get("device.uuid", "-")
    return name if uuid == "-" else f"{name} ({uuid})"


def _status_reason(a: _Side, b: _Side, key: tuple[str, str, str]) -> str | None:
    """``status X vs Y`` when the case is not ok in some run (statuses joined by "/")."""
    sa = list(dict.fromkeys(str(rows[key]["status"]) for rows in a.rows))
    sb = list(dict.fromkeys(str(rows[key]["status"]) for rows in b.rows))
    if sa == [Status.OK] and sb == [Status.OK]:
        return None
    return f"status {'/'.join(sa)} vs {'/'.join(sb)}"


def _warnings(a: _Side, b: _Side, env_diff: list[tuple[str, str, str]]) -> list[str]:
    """Schema versions this version does not read, and environments that differ."""
    warnings: list[str] = []
    for side in (a, b):
        for path, meta in zip(side.paths, side.metas, strict=True):
            version = meta.get("schema_version")
            if version != SCHEMA_VERSION:
                run = side.name if len(side.paths) == 1 else f"{side.name} ({path.name})"
                warnings.append(f"run {run} has schema version {version}, "
                                f"this accelbench reads version {SCHEMA_VERSION}")
    if env_diff:
        warnings.append("environments differ in: " + ", ".join(k for k, _, _ in env_diff))
    for side in (a, b):
        within = sorted({k for m in side.metas[1:] for k, _, _ in
                         env_differences(side.metas[0], m)})
        if within:
            warnings.append(f"runs of {side.name} differ in: " + ", ".join(within))
    return warnings


def _run_variances(side: _Side, confidence: float) -> dict[tuple[str, str, str], float]:
    """One run in rounds: each ok case's log-scale variance of its median, from its rounds
    pooled over the run's cases plus the run's drift (as the run's own interval); empty for
    several runs (the runs are the groups) or one round."""
    if len(side.samples) != 1:
        return {}
    rounds = {k: r for k, r in side.samples[0].items()
              if str(side.rows[0].get(k, {}).get("status")) == Status.OK}
    settings = side.metas[0].get("settings") or {}
    return median_variances(rounds, float(settings.get("drift_sd") or 0.0), confidence,
                            int(settings.get("drift_runs") or 0))


def _usual(side: _Side, key: tuple[str, str, str]) -> float | None:
    """One run's usual median of a case from its machine's history (``usual_s``), if any."""
    value = side.rows[0].get(key, {}).get("usual_s") if len(side.rows) == 1 else None
    return float(value) if value is not None and value == value and value > 0 else None


def _compare_case(ga: list[np.ndarray], gb: list[np.ndarray],
                  variances: tuple[float | None, float | None],
                  usual: tuple[float | None, float | None], *, threshold: float,
                  alpha: float, confidence: float, resamples: int,
                  seed: int) -> _core.Comparison:
    """One case: from each side's known variance and usual median (one run in rounds each,
    as its own interval), or the bootstrap over the sides' groups."""
    va, vb = variances
    if va is not None and vb is not None:
        return _core.compare_log_var(ga, gb, va, vb, usual_a=usual[0], usual_b=usual[1],
                                     threshold=threshold, alpha=alpha, confidence=confidence)
    return _core.compare_groups(ga, gb, threshold=threshold, alpha=alpha,
                                confidence=confidence, resamples=resamples, seed=seed)


def compare_groups(
    runs_a: Sequence[str | os.PathLike[str]],
    runs_b: Sequence[str | os.PathLike[str]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> RunComparison:
    """Compare the candidate runs B against the baseline runs A, case by case.

    Each side is a group of runs of one device; a case is compared when it is
    ``ok`` with raw samples in every run of both sides. One run per side gives
    exactly :func:`compare_runs`.
    """
    a, b = _read_side("A", runs_a), _read_side("B", runs_b)
    env_diff = env_differences(a.metas[0], b.metas[0])
    warnings = _warnings(a, b, env_diff)
    keys_a, keys_b = a.keys(), b.keys()
    in_a, in_b = set(keys_a), set(keys_b)
    cases: list[CaseDiff] = []
    var_a, var_b = _run_variances(a, confidence), _run_variances(b, confidence)
    not_compared: list[tuple[str, str, str, str]] = []
    for key in keys_a + [k for k in keys_b if k not in in_a]:
        if key not in in_a or key not in in_b:
            continue
        reason = a.why_not(key) or b.why_not(key) or _status_reason(a, b, key)
        xa, xb = _groups(a, key), _groups(b, key)
        if reason is None and (not xa or not xb):
            reason = "no raw samples"
        if reason is not None:
            not_compared.append((*key, reason))
            continue
        ra, rb = a.rows[0][key], b.rows[0][key]
        note = (f"params differ: {ra.get('params')} vs {rb.get('params')}"
                if ra.get("params") != rb.get("params") else "")
        ga, gb = _bootstrap_groups(xa), _bootstrap_groups(xb)
        va, vb = var_a.get(key), var_b.get(key)
        c = _compare_case(ga, gb, (va, vb), (_usual(a, key), _usual(b, key)),
                          threshold=threshold, alpha=alpha,
                          confidence=confidence, resamples=resamples, seed=seed)
        cases.append(CaseDiff(
            *key, n_a=sum(len(x) for x in ga), n_b=sum(len(x) for x in gb),
            median_a_s=c.median_a, median_b_s=c.median_b,
            ratio=c.ratio, ci_low=c.ci_low, ci_high=c.ci_high, p_value=c.p_value,
            effect=c.effect, verdict=Verdict(c.verdict), note=note,
            n_runs_a=len(xa), n_runs_b=len(xb),
            # the core's spread is over the groups: the runs when a side has several
            spread_a=c.spread_a if len(xa) > 1 and c.spread_a is not None else math.nan,
            spread_b=c.spread_b if len(xb) > 1 and c.spread_b is not None else math.nan,
        ))
    names_a, names_b = [p.name for p in a.paths], [p.name for p in b.paths]
    return RunComparison(
        run_a=", ".join(names_a), run_b=", ".join(names_b), threshold=threshold, alpha=alpha,
        env_diff=env_diff, cases=cases,
        only_a=[k for k in keys_a if k not in in_b],
        only_b=[k for k in keys_b if k not in in_a],
        not_compared=not_compared, warnings=warnings, runs_a=names_a, runs_b=names_b,
    )


def compare_runs(
    run_a: str | os.PathLike[str],
    run_b: str | os.PathLike[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> RunComparison:
    """Compare run B (candidate) against run A (baseline), case by case."""
    return compare_groups([run_a], [run_b], threshold=threshold, alpha=alpha,
                          confidence=confidence, resamples=resamples, seed=seed)


def regressions(result: RunComparison, pct: float) -> list[CaseDiff]:
    """Cases slower with significance (verdict) and by more than ``pct`` percent (ratio)."""
    return [c for c in result.cases if c.verdict == Verdict.SLOWER and c.ratio > 1 + pct / 100]
