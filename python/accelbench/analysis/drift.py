"""The machine's drift between runs, learned from its own recent runs.

A run's rounds show the variation within the run. A machine also has slow
states that last longer than a run (a neighbour's load, clock and power
states): every round of one run shares them, so no run can see them in its
own rounds, and an interval built from rounds alone misses a rerun's median
far more often than it says (``benchmarks/bench_fidelity.py``). The drift is
the standard deviation, on the log scale, of a case's run median between
runs beyond what the runs' rounds explain
(:func:`accelbench._core.excess_between_runs`, the median over cases).

It is learned from the machine's history: every finished run in rounds
appends one line to a history file of its device (each case's log median and
the variance its own rounds give it), and a run's drift is estimated from the
last :data:`HISTORY_RUNS` runs of this host when at least
:data:`MIN_HISTORY_RUNS` of them share cases. ``accelbench calibrate`` makes
that history at once (a few runs of the same cases, one after the other);
later runs keep it current, so a machine that became noisier widens the
intervals of the runs that follow. A run whose cases are all shifted against
the history by more than the drift allows was measured in a slow (or fast)
episode: :func:`episode_shift` says by how much, and the run says so.

The history lives in ``$ACCELBENCH_HOME`` (default
``$XDG_STATE_HOME/accelbench``, else ``~/.local/state/accelbench``), one
JSON-lines file per device; lines of other hosts are not used.
"""

from __future__ import annotations

import json
import math
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from accelbench import _core
from accelbench.analysis.compare import case_rounds
from accelbench.kinds import Status
from accelbench.results import load, load_samples, read_meta
from accelbench.results.pooled import within_variances

__all__ = ["EPISODE_FACTOR", "HISTORY_RUNS", "HOME_ENV", "MIN_HISTORY_RUNS", "DriftEstimate",
           "RunRecord", "case_record", "drift_with", "episode_shift", "estimate_drift",
           "history_path", "machine_drift", "read_history", "record_run", "run_record",
           "usual_medians"]

CaseKey = tuple[str, str, str]  # (kernel, case, dtype)

#: Environment variable naming the directory of accelbench's per-machine state.
HOME_ENV = "ACCELBENCH_HOME"
#: The drift is estimated from this many of the machine's latest runs in rounds.
HISTORY_RUNS = 20
#: Runs sharing a case needed before the drift is estimated from them.
MIN_HISTORY_RUNS = 3
#: A run is an episode when its cases' mean shift against the history exceeds this many
#: times the drift (and 2%).
EPISODE_FACTOR = 3.0


@dataclass(frozen=True)
class RunRecord:
    """One run in the history: per case key, its log median and its rounds' variance."""

    run_id: str
    host: str
    cases: dict[str, tuple[float, float]]

    def line(self) -> str:
        return json.dumps({"run_id": self.run_id, "host": self.host,
                           "cases": {k: list(v) for k, v in self.cases.items()}},
                          sort_keys=True)


@dataclass(frozen=True)
class DriftEstimate:
    """The drift of a device on this host, and what it was estimated from."""

    drift_sd: float  #: log-scale standard deviation between runs beyond the rounds'
    within_sd: float  #: median over cases of a run median's sd from its own rounds
    runs: int  #: runs of the history used
    cases: int  #: cases in at least MIN_HISTORY_RUNS of them
    case_runs: int  #: runs per case (median over those cases): the estimate's runs - 1 df


def _home() -> Path:
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV])
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "accelbench"


def history_path(device_slug: str) -> Path:
    """The history file of ``device_slug``."""
    return _home() / f"history-{device_slug}.jsonl"


def case_record(run_id: str, medians: Mapping[CaseKey, float],
                rounds: Mapping[CaseKey, Sequence[np.ndarray]]) -> RunRecord | None:
    """A run's line of the history from its cases' medians and their samples per round
    (cases with two rounds or more; None when there are none)."""
    rounds = {k: v for k, v in rounds.items() if medians.get(k, 0.0) > 0}
    cases = {"|".join(k): (math.log(medians[k]), v)
             for k, v in within_variances(rounds).items()}
    return RunRecord(run_id, socket.gethostname(), cases) if cases else None


def run_record(run: str | os.PathLike[str]) -> RunRecord | None:
    """A finished run's line of the history: its ``ok`` cases measured in two rounds or more
    (None when it has none)."""
    frame = load(run)
    ok = frame[frame["status"] == Status.OK]
    medians = {(str(k), str(c), str(d)): float(m) for k, c, d, m in
               ok[["kernel", "case", "dtype", "median_s"]].itertuples(index=False)}
    run_id = str(read_meta(Path(run)).get("run_id") or Path(run).name)
    return case_record(run_id, medians, case_rounds(load_samples(run)))


def record_run(device_slug: str, record: RunRecord) -> None:
    """Append ``record`` to the device's history (one line, flushed)."""
    path = history_path(device_slug)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(record.line() + "\n")


def read_history(device_slug: str) -> list[RunRecord]:
    """This host's latest :data:`HISTORY_RUNS` runs of the device, oldest first (lines that
    cannot be read are skipped)."""
    path = history_path(device_slug)
    host = socket.gethostname()
    out: list[RunRecord] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            data: dict[str, Any] = json.loads(line)
            cases = {str(k): (float(v[0]), float(v[1])) for k, v in data["cases"].items()}
        except (ValueError, KeyError, TypeError, IndexError):
            continue
        if data.get("host") == host and all(math.isfinite(a) and b >= 0
                                            for a, b in cases.values()):
            out.append(RunRecord(str(data.get("run_id")), host, cases))
    return out[-HISTORY_RUNS:]


def estimate_drift(records: Sequence[RunRecord]) -> DriftEstimate | None:
    """The drift from runs of the history (None: fewer than :data:`MIN_HISTORY_RUNS` runs
    share a case). Cases in at least that many runs are used; each case's excess is the
    variance of its log medians beyond the median variance its runs' rounds give it."""
    by_case: dict[str, list[tuple[float, float]]] = {}
    for record in records:
        for key, value in record.cases.items():
            by_case.setdefault(key, []).append(value)
    used = {k: v for k, v in by_case.items() if len(v) >= MIN_HISTORY_RUNS}
    if not used:
        return None
    runs = sum(any(k in used for k in r.cases) for r in records)
    medians = [[math.exp(m) for m, _ in v] for v in used.values()]
    # the typical run's own variance (median over runs): a run in a noisy stretch has rounds
    # that disagree wildly, and a mean would let it cancel the drift it is evidence of
    within = [float(np.median([w for _, w in v])) for v in used.values()]
    drift = _core.excess_between_runs(medians, within)
    return DriftEstimate(drift_sd=drift, within_sd=math.sqrt(float(np.median(within))),
                         runs=runs, cases=len(used),
                         case_runs=int(np.median([len(v) for v in used.values()])))


def machine_drift(device_slug: str) -> DriftEstimate | None:
    """The device's drift on this host from its history, or None (too few runs)."""
    return estimate_drift(read_history(device_slug))


def drift_with(history: Sequence[RunRecord], newest: RunRecord) -> DriftEstimate | None:
    """The drift from ``history`` with ``newest`` (a run not yet in it) as its latest run: a
    run is itself evidence of the machine's variation between runs, and a run in a slow
    episode shows it only against the runs before."""
    return estimate_drift([*history, newest][-HISTORY_RUNS:])


def usual_medians(history: Sequence[RunRecord]) -> dict[str, float]:
    """Per case key of the history in at least :data:`MIN_HISTORY_RUNS` of its runs, the
    case's usual median (seconds): the median over those runs (robust to one odd run)."""
    by_case: dict[str, list[float]] = {}
    for record in history:
        for key, (log_median, _) in record.cases.items():
            by_case.setdefault(key, []).append(log_median)
    return {k: math.exp(float(np.median(v))) for k, v in by_case.items()
            if len(v) >= MIN_HISTORY_RUNS}


def episode_shift(record: RunRecord, history: Sequence[RunRecord],
                  drift_sd: float) -> float | None:
    """How far ``record``'s cases sit, together, from the same cases in ``history`` (the
    mean over cases of the log shift from the history's median, as a factor minus 1) when
    that exceeds what the run's drift allows (:data:`EPISODE_FACTOR` times ``drift_sd``,
    and 2%); None otherwise or without enough history."""
    usual = usual_medians(history)
    shifts = [log_median - math.log(usual[key])
              for key, (log_median, _) in record.cases.items() if key in usual]
    if not shifts:
        return None
    shift = float(np.mean(shifts))
    limit = max(EPISODE_FACTOR * drift_sd, math.log1p(0.02))
    return math.expm1(shift) if abs(shift) > limit else None
