"""Rounds: every case measured in R rounds (fresh worker, shuffled order), one CI over them."""

from __future__ import annotations

import math
import random
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

import accelbench
from accelbench import _core
from accelbench.analysis.compare import case_rounds, compare_runs
from accelbench.devices import resolve_device
from accelbench.kinds import CIMethod, Event, Status, StopReason
from accelbench.measure.core import Outcome, Settings
from accelbench.measure.rounds import RoundPlan, combine_rounds
from accelbench.report.tables import summary_table
from accelbench.results import RunDir
from accelbench.results.rundir import read_meta
from accelbench.runner import Runner
from accelbench.runner.isolation import InProcessExecutor
from accelbench.workloads.catalog import load_family_file
from tests.conftest import FAST, TINY_MATMUL, Cli

FAST_SETTINGS = Settings(warmup=0.02, max_case_time=0.3, min_samples=6, rounds=3)


def _outcome(seconds: list[float], converged: bool = True, **row: object) -> Outcome:
    base = {"status": Status.OK, "converged": converged, "iters_per_sample": 2,
            "stop_reason": StopReason.CONVERGED if converged else StopReason.TIME_BUDGET,
            "flops": 1e6, "bytes": None, "warmup_s": 0.1, "wall_s": 1.0, "max_abs_err": 0.5}
    base.update(row)
    return Outcome(base, {"seconds": seconds, "iters": 2})


def _noisy(level: float, n: int = 200, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [level * (1 + 0.002 * rng.gauss(0, 1)) for _ in range(n)]


def test_rounds_that_agree_converge_and_rounds_that_disagree_are_unstable() -> None:
    settings = Settings(target_rel_ci=0.01)
    agree = combine_rounds([_outcome(_noisy(1e-3, seed=s)) for s in range(3)], settings)
    assert agree.row["converged"] is True and agree.row["stop_reason"] == StopReason.CONVERGED
    assert agree.row["rounds"] == 3 and agree.row["ci_method"] == CIMethod.ROUNDS_BOOTSTRAP
    assert agree.row["round_spread"] < 0.01
    assert agree.row["n_samples"] == 600 and agree.samples["round"][-1] == 2
    # Each round tight and converged, the second 20% slower: the CI must not be tight.
    levels = (1e-3, 1.2e-3, 1e-3)
    apart = combine_rounds([_outcome(_noisy(m, seed=i)) for i, m in enumerate(levels)], settings)
    assert apart.row["converged"] is False and apart.row["stop_reason"] == StopReason.UNSTABLE
    assert apart.row["round_spread"] == pytest.approx(0.2, rel=0.05)
    assert apart.row["ci_high_s"] > 1.1e-3 and apart.row["rel_ci"] > 0.1
    # The exact CI over the pooled samples, as one round would report it, is tight and wrong.
    pooled = _core.analyze([x for s in range(3) for x in _noisy(levels[s], seed=s)])
    assert pooled.rel_ci < 0.02
    # Columns of the first round (checks) stay; throughput follows the pooled median.
    assert apart.row["max_abs_err"] == 0.5
    assert apart.row["tflops"] == pytest.approx(1e6 / apart.row["median_s"] / 1e12)


def test_the_interval_of_rounds_is_a_rerun_interval() -> None:
    """sqrt(2) wider on the log scale than the bootstrap CI of the median: it must hold the
    median of a rerun, whose own error adds to this run's."""
    levels = (1e-3, 1.1e-3, 1.05e-3)
    outcomes = [_outcome(_noisy(m, seed=i)) for i, m in enumerate(levels)]
    row = combine_rounds(outcomes, Settings()).row
    ci = _core.analyze_rounds([o.samples["seconds"] for o in outcomes], 0.95,
                              resamples=10_000, seed=0).analysis
    median = row["median_s"]
    assert median == pytest.approx(ci.summary.median)
    assert np.log(median / row["ci_low_s"]) == pytest.approx(
        np.sqrt(2) * np.log(median / ci.ci_low))
    assert np.log(row["ci_high_s"] / median) == pytest.approx(
        np.sqrt(2) * np.log(ci.ci_high / median))
    assert row["rel_ci"] == pytest.approx(
        max(median - row["ci_low_s"], row["ci_high_s"] - median) / median)
    assert row["rel_ci"] > ci.rel_ci


def test_a_failed_round_is_the_case_result() -> None:
    bad = Outcome({"status": Status.CRASH, "error": "worker killed by SIGSEGV"}, {})
    out = combine_rounds([_outcome(_noisy(1e-3)), bad], Settings())
    assert out.row["status"] == Status.CRASH and out.row["rounds"] == 2


def test_round_plan_splits_the_budget_and_shuffles_reproducibly() -> None:
    plan = RoundPlan.of(Settings(rounds=3, max_case_time=3.0, min_samples=10), "run-1")
    first = plan.settings_for(Settings(rounds=3, max_case_time=3.0, min_samples=10), 0)
    later = plan.settings_for(Settings(rounds=3, max_case_time=3.0, min_samples=10), 2)
    assert first.max_case_time == pytest.approx(1.0) and first.min_samples == 4
    assert first.check and not later.check and later.warmup == first.warmup
    # The warm-up is split too, and a round's precision target is sqrt(R) looser.
    base = Settings(rounds=4, warmup=0.2, target_rel_ci=0.01)
    one = RoundPlan.of(base, "r").settings_for(base, 1)
    assert one.warmup == pytest.approx(0.05) and one.target_rel_ci == pytest.approx(0.02)
    assert RoundPlan.of(Settings(), "r").settings_for(Settings(), 0) == Settings()
    items = list(range(20))
    orders = [plan.order(items, i) for i in range(3)]
    assert orders == [RoundPlan.of(Settings(rounds=3), "run-1").order(items, i) for i in range(3)]
    assert len({tuple(o) for o in orders}) == 3 and all(sorted(o) == items for o in orders)
    assert RoundPlan.of(Settings(rounds=3, sustain=2.0), "r").rounds == 1


def _tiny_cases(tmp_path: Path) -> list:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_MATMUL)
    return load_family_file(path)


class _StopAfter(InProcessExecutor):
    """Measures in this process; Ctrl-C after ``limit`` cases (an interrupted run)."""

    def __init__(self, *args: object, limit: int) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.limit, self.calls = limit, 0

    def run(self, case):  # type: ignore[no-untyped-def]
        if self.calls == self.limit:
            raise KeyboardInterrupt
        self.calls += 1
        return super().run(case)


def test_interrupted_rounds_resume_without_rerunning_finished_rounds(tmp_path: Path) -> None:
    cases = _tiny_cases(tmp_path)
    device = resolve_device("cpu")
    run = RunDir.create(tmp_path / "runs", "cpu")
    first = _StopAfter(device, FAST_SETTINGS, run.run_id, limit=3)
    with pytest.raises(KeyboardInterrupt):
        Runner(device, FAST_SETTINGS, run, executor=first).run(cases)
    again = _StopAfter(device, FAST_SETTINGS, run.run_id, limit=100)
    rows = Runner(device, FAST_SETTINGS, run, executor=again).run(cases)
    # 2 cases x 3 rounds in all: 3 before the interrupt, 3 after.
    assert again.calls == len(cases) * 3 - 3
    rounds = [ev for ev in run.events() if ev["event"] == Event.ROUND]
    assert sorted((ev["key"], ev["round"]) for ev in rounds) == sorted(
        (c.key, i) for c in cases for i in range(3))
    assert [r["case"] for r in rows] == [c.case for c in cases]
    assert all(r["rounds"] == 3 and r["status"] == Status.OK for r in rows)
    # The tables keep the suite's order, whatever order the rounds finished in.
    frame = run.finalize()
    assert list(frame["dtype"]) == [c.dtype for c in cases]


def test_cli_rounds_end_to_end_and_compare_uses_the_runs_pooled_variances(
        cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY_MATMUL)
    proc = cli("run", "--device", "cpu", "--suite", "tiny.toml", "--rounds", "3", "--out", "runs",
               *FAST)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "rounds" in proc.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert read_meta(run_dir)["settings"]["rounds"] == 3
    frame = accelbench.load(run_dir)
    assert (frame["rounds"] == 3).all() and (frame["ci_method"] == "rounds-pooled").all()
    assert frame["round_spread"].notna().all() and frame["fingerprint"].notna().all()
    assert "drift between runs is not known yet" in proc.stderr
    samples = accelbench.load_samples(run_dir)
    assert sorted(samples["round"].unique()) == [0, 1, 2]
    per_case = case_rounds(samples)
    medians = {}
    for row in frame.to_dict("records"):
        groups = per_case[(row["kernel"], row["case"], row["dtype"])]
        assert len(groups) == 3 and sum(map(len, groups)) == row["n_samples"]
        assert _core.balanced_median(groups) == pytest.approx(row["median_s"])
        medians[row["case"], row["dtype"]] = [float(np.median(g)) for g in groups]
    # The interval is the rerun interval of the variance pooled over the run's 4 cases.
    variances = _core.round_variances(list(medians.values()), 0.0, 0.95)
    z = NormalDist().inv_cdf(0.975)
    for var, row in zip(variances, frame.to_dict("records"), strict=True):
        assert var is not None
        assert row["rel_ci"] == pytest.approx(math.expm1(z * math.sqrt(2 * var)))
        assert row["ci_low_s"] < row["median_s"] < row["ci_high_s"]
    rounds = [ev for ev in RunDir.open(run_dir).events() if ev["event"] == Event.ROUND]
    assert len(rounds) == 3 * len(frame)
    result = compare_runs(run_dir, run_dir)
    assert {c.n_runs_a for c in result.cases} == {1}
    assert all(c.verdict == "no change" for c in result.cases)
    # compare's interval of the ratio: the two sides' variances added
    for case, var in zip(result.cases, variances, strict=True):
        assert var is not None
        assert case.ci_high == pytest.approx(math.exp(z * math.sqrt(2 * var)), rel=1e-6)


def test_table_says_unstable_and_marks_min_max_intervals() -> None:
    import pandas as pd

    frame = pd.DataFrame([
        {"kernel": "matmul", "case": "a", "dtype": "fp32", "status": "ok", "median_s": 1e-3,
         "rel_ci": 0.3, "converged": False, "stop_reason": "unstable", "rounds": 3,
         "round_spread": 0.25, "ci_method": "rounds-bootstrap", "n_samples": 90},
        {"kernel": "matmul", "case": "b", "dtype": "fp32", "status": "ok", "median_s": 1e-3,
         "rel_ci": 0.0, "converged": False, "stop_reason": "time_budget", "rounds": 1,
         "round_spread": None, "ci_method": "min-max", "n_samples": 3},
    ])
    from rich.console import Console

    console = Console(width=250, record=True)
    console.print(summary_table(frame))
    text = console.export_text()
    assert "unstable" in text and "3 ~25%" in text and "(min-max)" in text
