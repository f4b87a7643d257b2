"""The run's final interval (rounds pooled over cases, plus the machine's drift) and
``accelbench calibrate``, which measures the drift and stores it for later runs."""

from __future__ import annotations

import math
import os
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

import accelbench
from accelbench.analysis.compare import compare_runs
from accelbench.analysis.drift import (
    HOME_ENV,
    RunRecord,
    episode_shift,
    estimate_drift,
    history_path,
    machine_drift,
    read_history,
    run_record,
)
from accelbench.kinds import CIMethod, Status, StopReason
from accelbench.measure.core import Outcome, Settings
from accelbench.measure.rounds import settle_rounds
from accelbench.results.rundir import read_meta
from tests.conftest import FAST, TINY_MATMUL, Cli

Z = NormalDist().inv_cdf(0.975)


def _case(round_medians: list[float], stop: StopReason = StopReason.CONVERGED) -> Outcome:
    seconds = [m * f for m in round_medians for f in (0.99, 1.0, 1.01)]
    rounds = [i for i in range(len(round_medians)) for _ in range(3)]
    median = sorted(seconds)[len(seconds) // 2]
    row = {"status": Status.OK, "rounds": len(round_medians), "median_s": median,
           "rel_ci": 0.001, "ci_low_s": median, "ci_high_s": median, "converged": True,
           "stop_reason": stop}
    return Outcome(row, {"seconds": seconds, "round": rounds})


def test_rounds_that_agree_by_chance_get_the_runs_pooled_width() -> None:
    cases = {"a": _case([1.0, 1.1, 0.9]), "b": _case([2.0, 2.2, 1.8]),
             "c": _case([3.0, 3.3, 2.7]), "lucky": _case([4.0, 4.0, 4.0]),
             "failed": Outcome({"status": Status.ERROR}, {})}
    settings = Settings(target_rel_ci=0.01, rounds=3)
    out = settle_rounds(cases, settings)
    assert set(out) == {"a", "b", "c", "lucky"}
    # the lucky case's own rounds say 0; it gets the width of its run's cases
    assert out["lucky"].row["rel_ci"] == pytest.approx(out["a"].row["rel_ci"])
    assert out["a"].row["rel_ci"] > 0.1
    for o in out.values():
        assert o.row["ci_method"] == CIMethod.ROUNDS_POOLED
        assert o.row["converged"] is False and o.row["stop_reason"] == StopReason.UNSTABLE
        assert o.row["ci_low_s"] < o.row["median_s"] < o.row["ci_high_s"]


def test_a_case_with_a_usual_median_spans_it() -> None:
    cases = {k: _case([m, m * 1.01, m * 0.99]) for k, m in (("a", 1.0), ("b", 2.0),
                                                           ("c", 3.0))}
    settings = Settings(rounds=3, target_rel_ci=0.5, drift_sd=0.02, drift_runs=8)
    alone = settle_rounds(cases, settings)
    # "a" sat 20% faster than its usual median (an episode), "b" at its usual one
    out = settle_rounds(cases, settings, {"a": 1.2 * cases["a"].row["median_s"],
                                          "b": cases["b"].row["median_s"]})
    half = math.log(alone["a"].row["ci_high_s"] / alone["a"].row["median_s"])
    a = out["a"].row
    assert a["ci_method"] == CIMethod.ROUNDS_HISTORY
    assert a["ci_low_s"] == pytest.approx(alone["a"].row["ci_low_s"])
    assert a["ci_high_s"] == pytest.approx(1.2 * a["median_s"] * math.exp(half))
    assert a["rel_ci"] == pytest.approx(1.2 * math.exp(half) - 1)
    assert out["b"].row["ci_method"] == CIMethod.ROUNDS_HISTORY
    for key in ("b", "c"):
        for col in ("ci_low_s", "ci_high_s", "rel_ci"):
            assert out[key].row[col] == pytest.approx(alone[key].row[col])
    assert out["c"].row["ci_method"] == CIMethod.ROUNDS_DRIFT


def test_drift_widens_every_interval_and_is_named() -> None:
    cases = {k: _case([m, m * 1.001, m * 0.999]) for k, m in (("a", 1.0), ("b", 2.0),
                                                              ("c", 3.0))}
    base = settle_rounds(cases, Settings(rounds=3, target_rel_ci=0.05))
    drift = math.log1p(0.02)
    wide = settle_rounds(cases, Settings(rounds=3, target_rel_ci=0.05, drift_sd=drift))
    for key in cases:
        assert base[key].row["converged"] is True
        assert wide[key].row["ci_method"] == CIMethod.ROUNDS_DRIFT
        # at least the drift's own rerun width: z * sqrt(2) * 2%
        assert wide[key].row["rel_ci"] > math.expm1(Z * math.sqrt(2) * drift)
        assert wide[key].row["converged"] is False
        assert wide[key].row["stop_reason"] == StopReason.UNSTABLE
    # The same drift estimated from a history of 5 runs (4 degrees of freedom) rather than
    # given: the interval, almost all drift here, widens by Student's t_4 / z (1.42).
    few = settle_rounds(cases, Settings(rounds=3, target_rel_ci=0.05, drift_sd=drift,
                                        drift_runs=5))
    t4 = 2.7764451051977934
    for key in cases:
        ratio = math.log1p(few[key].row["rel_ci"]) / math.log1p(wide[key].row["rel_ci"])
        assert ratio == pytest.approx(t4 / Z, rel=0.01)


def test_calibrate_makes_the_history_later_runs_take_their_drift_from(
        cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY_MATMUL)
    proc = cli("calibrate", "--device", "cpu", "--suite", "tiny.toml", "--kernels", "matmul",
               "--runs", "3", "--out", "probe")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "drift between runs" in proc.stderr and "3 recent runs" in proc.stderr
    probes = sorted((tmp_path / "probe").iterdir())
    assert len(probes) == 3
    (history,) = Path(os.environ[HOME_ENV]).glob("history-*.jsonl")
    slug = history.name.removeprefix("history-").removesuffix(".jsonl")
    records = read_history(slug)
    assert [len(r.cases) for r in records] == [4, 4, 4]
    estimate = machine_drift(slug)
    assert estimate is not None and estimate.runs == 3 and estimate.cases == 4
    # A history whose runs spread by ~8% and sit 3x slower than this machine is now: the
    # next run takes that drift, and says it was measured in an episode.
    base = run_record(probes[0])
    assert base is not None
    history.write_text("".join(
        RunRecord(f"old{i}", base.host, {k: (m + math.log(3.0) + 0.05 * (i - 2), 0.0)
                                          for k, (m, _) in base.cases.items()}).line() + "\n"
        for i in range(5)))
    drift = machine_drift(slug)
    assert drift is not None and drift.drift_sd > 0.05
    proc = cli("run", "--device", "cpu", "--suite", "tiny.toml", "--rounds", "3",
               "--out", "runs", *FAST)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"drift between runs, {100 * math.expm1(drift.drift_sd):.1f}%" in proc.stderr
    assert "measured in a slow or fast episode" in proc.stderr
    (run,) = (tmp_path / "runs").iterdir()
    meta = read_meta(run)
    # the episode is judged with the drift known before the run
    assert meta["episode_shift"] < -0.2
    assert len(read_history(slug)) == 6  # the run joined the history
    # the final intervals take the drift with the run itself as the newest of the history:
    # 3x away from it, the run is evidence of a far larger drift than the 5 runs showed
    after = machine_drift(slug)
    assert after is not None and after.drift_sd > 2 * drift.drift_sd
    assert meta["settings"]["drift_sd"] == pytest.approx(after.drift_sd)
    assert meta["settings"]["drift_runs"] == after.case_runs == 6
    assert meta["drift_source"] == "history of 6 runs with this one"
    assert "with this run's own evidence, the drift between runs is" in proc.stderr
    frame = accelbench.load(run)
    assert (frame["rel_ci"] > math.expm1(Z * math.sqrt(2) * after.drift_sd)).all()
    # ...and span each case's usual median in the runs before it (3x the first probe's)
    assert (frame["ci_method"] == CIMethod.ROUNDS_HISTORY).all()
    for row in frame.to_dict("records"):
        key = "|".join((row["kernel"], row["case"], row["dtype"]))
        assert row["usual_s"] == pytest.approx(3 * math.exp(base.cases[key][0]))
        assert row["ci_low_s"] < row["median_s"] and row["ci_high_s"] > row["usual_s"]
    # compare adds both sides' drift: the self-comparison's interval is at least as wide
    result = compare_runs(run, run)
    assert all(c.ci_high > math.exp(Z * math.sqrt(2) * drift.drift_sd) for c in result.cases)
    # ...and, as the run's own intervals, spans each side's usual median
    for c in result.cases:
        row = frame[(frame["case"] == c.case) & (frame["dtype"] == c.dtype)].iloc[0]
        spread = row["usual_s"] / c.median_a_s
        assert c.ci_low < min(spread, 1 / spread) and c.ci_high > max(spread, 1 / spread)
    # --drift overrides the history; 0 leaves the drift out
    proc = cli("run", "--device", "cpu", "--suite", "tiny.toml", "--rounds", "3",
               "--out", "runs0", "--drift", "0", *FAST)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run0,) = (tmp_path / "runs0").iterdir()
    assert (accelbench.load(run0)["ci_method"] == CIMethod.ROUNDS_POOLED).all()


def test_calibrate_refuses_bad_input_and_history_of_another_host(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    proc = cli("calibrate", "--device", "cpu", "--runs", "2")
    assert proc.returncode == 2 and "at least 3" in proc.stderr
    proc = cli("run", "--device", "cpu", "--drift", "150")
    assert proc.returncode == 2 and "below 100" in proc.stderr
    path = history_path("cpu-elsewhere")
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [RunRecord(f"r{i}", "another-host", {"k": (float(i), 0.0)}).line()
             for i in range(4)]
    path.write_text("\n".join([*lines, "{not json", '{"host": 1}']) + "\n")
    assert read_history("cpu-elsewhere") == [] and machine_drift("cpu-elsewhere") is None
    proc = cli("calibrate", "--device", "cpu", "--show")
    assert proc.returncode == 1 and "no drift known" in proc.stderr


def test_drift_from_history_is_the_excess_over_the_rounds() -> None:
    # three runs whose medians differ by a known spread, rounds that explain a quarter of it
    spread = [math.log(x) for x in (1.0, 1.1, 1.2)]
    var = float(np.var(spread, ddof=1))
    records = [RunRecord(f"r{i}", "h", {"a": (spread[i], var / 4), "b": (spread[i] + 1, var / 4),
                                        "c": (spread[i] + 2, var / 4)}) for i in range(3)]
    estimate = estimate_drift(records)
    assert estimate is not None and estimate.runs == 3 and estimate.cases == 3
    assert estimate.case_runs == 3
    assert estimate.drift_sd == pytest.approx(math.sqrt(0.75 * var))
    assert estimate_drift(records[:2]) is None
    # a run 30% slower in every case than that history is an episode; one inside it is not
    slow = RunRecord("s", "h", {k: (m + math.log(1.3), w) for k, (m, w) in
                                records[1].cases.items()})
    # (against the history's median run, which is records[1])
    assert episode_shift(slow, records, estimate.drift_sd) == pytest.approx(0.3)
    assert episode_shift(records[1], records, estimate.drift_sd) is None


def test_advice_names_the_drift_when_it_alone_exceeds_the_target() -> None:
    import pandas as pd

    from accelbench.report.tables import advice

    frame = pd.DataFrame([{"status": "ok", "converged": False, "stop_reason": "unstable",
                           "ci_method": "rounds-pooled+drift"}])
    drifting = " ".join(advice(frame, 0.01, drift_sd=math.log1p(0.02)))
    assert "drift between runs alone moves a rerun by up to ±5.6%" in drifting
    assert "more --rounds" not in drifting
    quiet = " ".join(advice(frame, 0.10, drift_sd=math.log1p(0.02)))
    assert "more --rounds (1 unstable" in quiet
