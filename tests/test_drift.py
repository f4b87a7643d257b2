"""The run's final interval (rounds pooled over cases, plus the machine's drift) and
``accelbench calibrate``, which measures the drift and stores it for later runs."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from statistics import NormalDist

import pytest

import accelbench
from accelbench.analysis.compare import compare_runs
from accelbench.analysis.drift import HOME_ENV, load_profile, profile_path
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


def test_calibrate_stores_the_drift_and_later_runs_and_compare_use_it(
        cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY_MATMUL)
    home = Path(os.environ[HOME_ENV])
    proc = cli("calibrate", "--device", "cpu", "--suite", "tiny.toml", "--kernels", "matmul",
               "--runs", "2", "--out", "probe")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "drift between runs:" in proc.stderr
    assert len(list((tmp_path / "probe").iterdir())) == 2
    (stored,) = home.glob("drift-*.json")
    data = json.loads(stored.read_text())
    assert data["runs"] == 2 and data["cases"] == 4 and data["drift_sd"] >= 0
    slug = data["device"]
    assert profile_path(slug) == stored and load_profile(slug) is not None
    # a known drift, so that the run's intervals must show it
    data["drift_sd"] = math.log1p(0.05)
    stored.write_text(json.dumps(data))
    proc = cli("run", "--device", "cpu", "--suite", "tiny.toml", "--rounds", "3",
               "--out", "runs", *FAST)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "drift between runs, 5.0%" in proc.stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert read_meta(run)["settings"]["drift_sd"] == pytest.approx(math.log1p(0.05))
    frame = accelbench.load(run)
    assert (frame["ci_method"] == CIMethod.ROUNDS_DRIFT).all()
    assert (frame["rel_ci"] > math.expm1(Z * math.sqrt(2) * math.log1p(0.05))).all()
    # compare adds both sides' drift: the self-comparison's interval is at least as wide
    result = compare_runs(run, run)
    assert all(c.ci_high > math.exp(Z * math.sqrt(2) * math.log1p(0.05)) for c in result.cases)
    # --drift overrides the stored value; 0 leaves it out
    proc = cli("run", "--device", "cpu", "--suite", "tiny.toml", "--rounds", "3",
               "--out", "runs0", "--drift", "0", *FAST)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run0,) = (tmp_path / "runs0").iterdir()
    assert (accelbench.load(run0)["ci_method"] == CIMethod.ROUNDS_POOLED).all()


def test_calibrate_refuses_bad_input_and_a_profile_of_another_host(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    proc = cli("calibrate", "--device", "cpu", "--runs", "1")
    assert proc.returncode == 2 and "at least 2" in proc.stderr
    proc = cli("run", "--device", "cpu", "--drift", "150")
    assert proc.returncode == 2 and "below 100" in proc.stderr
    path = profile_path("cpu-elsewhere")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"device": "cpu-elsewhere", "host": "another-host",
                                "drift_sd": 0.02, "within_sd": 0.01, "runs": 5, "cases": 3,
                                "rounds": 3, "measured": "2026-01-01T00:00:00"}))
    assert load_profile("cpu-elsewhere") is None
    path.write_text("{not json")
    assert load_profile("cpu-elsewhere") is None
    proc = cli("calibrate", "--device", "cpu", "--show")
    assert proc.returncode == 1 and "no drift stored" in proc.stderr
