"""A/B comparison of two runs: is B faster, slower, or no different from A?

Cases are matched by ``(kernel, case, dtype)``, so every kernel family
compares the same way. For each case that is ``ok`` in both runs, the raw
samples of ``samples.parquet`` go to the native comparison
(:func:`accelbench._core.compare_samples`):

* the ratio ``median(B) / median(A)`` (above 1: B is slower) and its
  percentile-bootstrap 95% confidence interval, resampling each run's
  samples independently;
* the two-sided Mann-Whitney U test (normal approximation, tie and
  continuity corrected);
* the verdict: **slower** when the whole interval lies above
  ``1 + threshold`` *and* ``p < alpha``; **faster** when it lies below
  ``1 / (1 + threshold)`` *and* ``p < alpha``; **no change** otherwise.

Why a threshold on top of a test: the samples of one run only show the
noise *within* that run. Between two runs the clock and power state, thread
placement and other tenants move the whole distribution by a little, which
a test on thousands of samples reports as highly significant. The default
threshold, 2%, comes from A/A comparisons of repeated runs on a shared
2-core machine (``benchmarks/bench_compare.py`` measures the false-positive
rate of each threshold and the detection rate of a real 5% slowdown, and
prints the choice).

Multi-rank cases (collectives) are compared on the per-iteration maximum over
ranks: a collective is done when its slowest rank is.

``--fail-on-regression PCT`` gates on cases whose verdict is *slower* (the
significance part) and whose ratio exceeds ``1 + PCT/100`` (the size part).

Runs also carry an environment fingerprint (``meta.json``: device, driver,
software and library versions, threads, clock policy, settings); every key
that differs is listed, since it may explain a difference on its own.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from accelbench import _core
from accelbench.results import SCHEMA_VERSION, load, load_samples, read_meta

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_THRESHOLD",
    "VERDICTS",
    "CaseDiff",
    "RunComparison",
    "compare_runs",
    "env_differences",
    "fingerprint",
    "regressions",
]

#: Default noise threshold (relative); see the module docs and bench_compare.py.
DEFAULT_THRESHOLD = 0.02
#: Significance level of the rank test.
DEFAULT_ALPHA = 0.05
VERDICTS = ("faster", "slower", "no change")

KEY = ("kernel", "case", "dtype")

#: meta.json sections whose leaves make up the fingerprint.
_SECTIONS = ("device", "software", "libraries", "clocks", "host", "settings")
#: Leaves that say nothing about speed (or repeat another key).
_IGNORED = {"device.slug", "device.spec"}


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for key in sorted(value):
            _flatten(f"{prefix}.{key}" if prefix else str(key), value[key], out)
    else:
        out[prefix] = "-" if value is None else str(value)


def fingerprint(meta: Mapping[str, Any]) -> dict[str, str]:
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
    """``(key, value in A, value in B)`` for every fingerprint key that differs."""
    fa, fb = fingerprint(meta_a), fingerprint(meta_b)
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
    verdict: str
    note: str = ""


@dataclass
class RunComparison:
    """Everything ``accelbench compare`` reports."""

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
        }


def case_samples(samples: pd.DataFrame) -> dict[tuple[str, str, str], np.ndarray]:
    """Seconds per launch of each case; multi-rank cases: maximum over ranks per index."""
    out: dict[tuple[str, str, str], np.ndarray] = {}
    if samples.empty:
        return out
    for key, group in samples.groupby(list(KEY), sort=False):
        if group["rank"].nunique() > 1:
            values = group.groupby("index", sort=True)["seconds"].max().to_numpy()
        else:
            values = group.sort_values("index")["seconds"].to_numpy()
        out[(str(key[0]), str(key[1]), str(key[2]))] = values.astype(np.float64)
    return out


def _keys(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    return [(str(k), str(c), str(d)) for k, c, d in frame[list(KEY)].itertuples(index=False)]


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
    path_a, path_b = Path(run_a), Path(run_b)
    meta_a, meta_b = read_meta(path_a), read_meta(path_b)
    res_a, res_b = load(path_a), load(path_b)
    smp_a, smp_b = case_samples(load_samples(path_a)), case_samples(load_samples(path_b))
    warnings: list[str] = []
    for name, meta in (("A", meta_a), ("B", meta_b)):
        version = meta.get("schema_version")
        if version != SCHEMA_VERSION:
            warnings.append(f"run {name} has schema version {version}, "
                            f"this accelbench reads version {SCHEMA_VERSION}")
    env_diff = env_differences(meta_a, meta_b)
    if env_diff:
        warnings.append("environments differ in: " + ", ".join(k for k, _, _ in env_diff))

    rows_a = {k: r for k, r in zip(_keys(res_a), res_a.to_dict("records"), strict=True)}
    rows_b = {k: r for k, r in zip(_keys(res_b), res_b.to_dict("records"), strict=True)}
    order = list(rows_a) + [k for k in rows_b if k not in rows_a]
    cases: list[CaseDiff] = []
    not_compared: list[tuple[str, str, str, str]] = []
    for key in order:
        if key not in rows_a or key not in rows_b:
            continue
        ra, rb = rows_a[key], rows_b[key]
        if ra["status"] != "ok" or rb["status"] != "ok":
            not_compared.append((*key, f"status {ra['status']} vs {rb['status']}"))
            continue
        xa, xb = smp_a.get(key), smp_b.get(key)
        if xa is None or xb is None or len(xa) == 0 or len(xb) == 0:
            not_compared.append((*key, "no raw samples"))
            continue
        note = ""
        if ra.get("params") != rb.get("params"):
            note = f"params differ: {ra.get('params')} vs {rb.get('params')}"
        c = _core.compare_samples(xa, xb, threshold=threshold, alpha=alpha,
                                  confidence=confidence, resamples=resamples, seed=seed)
        cases.append(CaseDiff(
            *key, n_a=len(xa), n_b=len(xb), median_a_s=c.median_a, median_b_s=c.median_b,
            ratio=c.ratio, ci_low=c.ci_low, ci_high=c.ci_high, p_value=c.p_value,
            effect=c.effect, verdict=c.verdict, note=note,
        ))
    return RunComparison(
        run_a=path_a.name, run_b=path_b.name, threshold=threshold, alpha=alpha,
        env_diff=env_diff, cases=cases,
        only_a=[k for k in rows_a if k not in rows_b],
        only_b=[k for k in rows_b if k not in rows_a],
        not_compared=not_compared, warnings=warnings,
    )


def regressions(result: RunComparison, pct: float) -> list[CaseDiff]:
    """Cases slower with significance (verdict) and by more than ``pct`` percent (ratio)."""
    return [c for c in result.cases if c.verdict == "slower" and c.ratio > 1 + pct / 100]
