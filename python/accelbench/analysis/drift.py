"""The machine's drift between runs: measured from runs, stored, and read back.

A run's rounds show the variation within the run. A machine also has slow
states that last longer than a run (a neighbour's load, clock and power
states): every round of one run shares them, so no run can see them in its
own rounds, and an interval built from rounds alone misses a rerun's median
far more often than it says (``benchmarks/bench_fidelity.py``). The drift is
the standard deviation, on the log scale, of a case's run median between
runs beyond what the runs' rounds explain
(:func:`accelbench._core.excess_between_runs`). ``accelbench calibrate``
measures it from a few runs of the same cases and stores it per device and
host (:func:`save_profile`); every later run on that device and host adds it
to the variance of each case's median (``Settings.drift_sd``,
:func:`accelbench.measure.rounds.settle_rounds`), and ``compare`` to each
side's.

The profile lives in ``$ACCELBENCH_HOME`` (default
``$XDG_STATE_HOME/accelbench``, else ``~/.local/state/accelbench``), one
JSON file per device, with the host it was measured on: a profile of
another host is not used.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from accelbench import _core
from accelbench.analysis.compare import case_rounds
from accelbench.errors import UsageError
from accelbench.kinds import Status
from accelbench.results import atomic, load, load_samples, read_meta
from accelbench.results.pooled import median_variances

__all__ = ["HOME_ENV", "DriftEstimate", "estimate_drift", "load_profile", "profile_path",
           "save_profile"]

#: Environment variable naming the directory of accelbench's per-machine state.
HOME_ENV = "ACCELBENCH_HOME"


@dataclass(frozen=True)
class DriftEstimate:
    """The drift of one device on one host, and how it was measured."""

    device: str  #: the device's slug
    host: str
    drift_sd: float  #: log-scale standard deviation between runs beyond the rounds'
    within_sd: float  #: median over cases of the run median's sd from its own rounds
    runs: int
    cases: int
    rounds: int
    measured: str  #: ISO time
    accelbench_version: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _home() -> Path:
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV])
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "accelbench"


def profile_path(device_slug: str) -> Path:
    """Where the drift profile of ``device_slug`` is stored."""
    return _home() / f"drift-{device_slug}.json"


def estimate_drift(runs: Sequence[str | os.PathLike[str]]) -> DriftEstimate:
    """The drift from ``runs``: several runs of the same cases on one device, in rounds.

    Cases ``ok`` in every run are used; each run's round medians give the
    within-run variance of each case's median (pooled over the run's cases,
    as the run itself does), and the variance of the case's run medians
    beyond their mean within-run variance is the drift's (median over cases).
    """
    if len(runs) < 2:
        raise UsageError("the drift needs at least two runs of the same cases")
    metas = [read_meta(Path(r)) for r in runs]
    slugs = {str((m.get("environment") or {}).get("device", {}).get("slug") or "-")
             for m in metas}
    if len(slugs) != 1:
        raise UsageError(f"runs of different devices: {', '.join(sorted(slugs))}")
    per_run: list[dict[tuple[str, str, str], list[float]]] = []
    medians: list[dict[tuple[str, str, str], float]] = []
    for run in runs:
        frame = load(run)
        ok = frame[frame["status"] == Status.OK]
        keys = {(str(k), str(c), str(d)): float(m) for k, c, d, m in
                ok[["kernel", "case", "dtype", "median_s"]].itertuples(index=False)}
        rounds = {k: [float(np.median(x)) for x in v]
                  for k, v in case_rounds(load_samples(run)).items() if k in keys}
        per_run.append(rounds)
        medians.append(keys)
    common = sorted(set.intersection(*[{k for k, v in r.items() if len(v) >= 2}
                                       for r in per_run]))
    if not common:
        raise UsageError("no case was measured ok, in two rounds or more, in every run")
    within: dict[tuple[str, str, str], list[float]] = {k: [] for k in common}
    for rounds in per_run:
        for key, var in median_variances(rounds, 0.0, 0.95).items():
            if key in within:
                within[key].append(var)
    mean_within = [float(np.mean(within[k])) for k in common]
    drift = _core.excess_between_runs([[m[k] for m in medians] for k in common], mean_within)
    env = metas[0].get("environment") or {}
    return DriftEstimate(
        device=slugs.pop(), host=socket.gethostname(), drift_sd=drift,
        within_sd=float(np.sqrt(np.median(mean_within))), runs=len(runs), cases=len(common),
        rounds=int((metas[0].get("settings") or {}).get("rounds") or 1),
        measured=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        accelbench_version=str((env.get("software") or {}).get("accelbench") or ""))


def save_profile(estimate: DriftEstimate) -> Path:
    """Store ``estimate`` as its device's profile; returns the file."""
    path = profile_path(estimate.device)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(estimate.as_dict(), indent=2, sort_keys=True) + "\n")
    return path


def load_profile(device_slug: str) -> DriftEstimate | None:
    """The stored drift of ``device_slug`` measured on this host, or None (none stored,
    another host's, or a file this version cannot read)."""
    path = profile_path(device_slug)
    try:
        data: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        estimate = DriftEstimate(**{k: data[k] for k in DriftEstimate.__dataclass_fields__
                                    if k in data})
    except (OSError, ValueError, TypeError):
        return None
    if estimate.host != socket.gethostname() or not (0.0 <= estimate.drift_sd < 1.0):
        return None
    return estimate
