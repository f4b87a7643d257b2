"""accelbench fleet: verdicts on synthetic worlds, and real local worlds of 4 torch processes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accelbench.fleet.verdict import FleetFlag, RankResult, judge_case
from tests.procs import TESTS_DIR, env_with, new_marker, only_run, run_cli, wait_no_marked

FLEET = ["--device", "cpu", "--world-size", "4", "--warmup", "0.05", "--max-case-time", "0.3",
         "--min-samples", "10"]


def _world(rng: np.random.Generator, ranks: int, n: int = 20, slow: dict[int, float] | None = None,
           wrong: int | None = None) -> list[RankResult]:
    """Ranks with 1 ms +- 1% noise; ``slow`` scales some ranks, ``wrong`` changes one's output."""
    slow = slow or {}
    times = 1e-3 * (1 + 0.01 * rng.standard_normal((ranks, n)))
    return [RankResult(rank=r, host=f"node{r // 8}", device=f"cuda:{r % 8}", status="ok",
                       seconds=list(times[r] * slow.get(r, 1.0)),
                       fingerprint="bad" if r == wrong else "good", values=[1.0, 2.0])
            for r in range(ranks)]


def test_10000_ranks_x_20_cases_judged_in_seconds() -> None:
    rng = np.random.default_rng(0)
    worlds = [_world(rng, 10_000, slow={1234: 1.3} if c == 5 else None,
                     wrong=42 if c == 3 else None) for c in range(20)]
    t0 = time.perf_counter()
    verdicts = [judge_case(f"case{c}", w) for c, w in enumerate(worlds)]
    elapsed = time.perf_counter() - t0
    flagged = {(c, v.rank, tuple(v.flags)) for c, cv in enumerate(verdicts) for v in cv.flagged}
    assert flagged == {(5, 1234, (FleetFlag.SLOW,)), (3, 42, (FleetFlag.WRONG,))}
    slow = verdicts[5].ranks[1234]
    assert slow.ratio == pytest.approx(1.3, rel=0.02) and slow.ci_low is not None
    assert slow.ci_low > 1.05 and slow.host == "node154"
    print(f"10,000 ranks x 20 cases judged in {elapsed:.2f} s")
    assert elapsed < 60  # seconds, not minutes, even on a loaded 2-core machine


def test_healthy_world_flags_nobody_and_ci_brackets_ratio() -> None:
    verdict = judge_case("c", _world(np.random.default_rng(1), 16))
    assert not verdict.flagged
    for v in verdict.ranks:
        assert v.ci_low is not None and v.ci_high is not None and v.ratio is not None
        assert v.ci_low <= v.ratio <= v.ci_high


def test_sustained_rank_degrading_late_is_flagged() -> None:
    results = _world(np.random.default_rng(2), 8, n=30)
    late = list(results[5].seconds)
    late[20:] = [s * 1.4 for s in late[20:]]  # the last third of its windows is 40% slower
    results[5] = RankResult(5, "node0", "cuda:5", "ok", late, "good", [1.0, 2.0])
    assert not judge_case("c", results).flagged  # the median alone does not see it
    verdict = judge_case("c", results, sustained=True)
    assert [(v.rank, v.flags) for v in verdict.flagged] == [(5, [FleetFlag.SLOW_LATE])]


def test_agreement_within_tolerance_when_no_bitwise_majority() -> None:
    base = [RankResult(r, "h", "cpu", "ok", [1e-3] * 5, f"hash{r}", [1.0 + r * 1e-9, 2.0])
            for r in range(4)]
    assert not judge_case("c", base).flagged  # all differ bitwise, all agree within tolerance
    base[2] = RankResult(2, "h", "cpu", "ok", [1e-3] * 5, "hash2", [1.5, 2.0])
    verdict = judge_case("c", base)
    assert [(v.rank, v.flags) for v in verdict.flagged] == [(2, [FleetFlag.WRONG])]
    assert "beyond rtol" in verdict.ranks[2].detail


def _fleet(tmp_path: Path, suite: str, *extra: str,
           env_extra: dict[str, str] | None = None) -> tuple[int, dict[str, object], str]:
    marker = new_marker()
    env = env_with(marker, TESTS_DIR)
    env.update(env_extra or {})
    proc = run_cli(["fleet", "--suite", str(TESTS_DIR / suite), *FLEET, "--out", "out",
                    "--json", "summary.json", *extra], tmp_path, env, timeout=180)
    assert wait_no_marked(marker) == [], "orphan rank processes"
    return proc.returncode, json.loads((tmp_path / "summary.json").read_text()), proc.stderr


@pytest.mark.slow
def test_slow_rank_and_wrong_rank_flagged_alone(tmp_path: Path) -> None:
    code, summary, err = _fleet(tmp_path, "fleet_slow.toml")
    assert code == 1, err
    got = {(f["case"], f["rank"], tuple(f["flags"])) for f in summary["flagged"]}  # type: ignore[union-attr]
    assert got == {("fleetk slow on rank 2 fp32", 2, ("slow",)),
                   ("fleetk wrong on rank 1 fp32", 1, ("wrong",))}, summary
    run = only_run(tmp_path / "out")
    assert (run / "fleet.png").read_bytes()[:4] == b"\x89PNG"  # throughput per device
    frame = pd.read_parquet(run / "results.parquet")
    assert len(frame) == 8 and sorted(set(frame["rank"])) == [0, 1, 2, 3]
    slow = frame[(frame["case"] == "slow on rank 2") & (frame["rank"] == 2)].iloc[0]
    assert slow["fleet_flag"] == "slow" and slow["fleet_ratio"] == pytest.approx(1.3, rel=0.05)
    assert slow["fleet_ci_low"] > 1.05 and isinstance(slow["host"], str)
    assert "rank 2" in err and "rank 1" in err


@pytest.mark.slow
def test_healthy_world_flags_nobody_exit_0(tmp_path: Path) -> None:
    code, summary, err = _fleet(tmp_path, "fleet_healthy.toml")
    assert code == 0, err
    assert summary["healthy"] is True and summary["flagged"] == [] and summary["world_size"] == 4


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["hang", "kill"])
def test_hanging_or_dying_rank_ends_the_run_named(tmp_path: Path, fault: str) -> None:
    code, summary, err = _fleet(tmp_path, "fleet_healthy.toml", env_extra={
        "ACCELBENCH_FLEET_FAULT": f"{fault}:3", "ACCELBENCH_FLEET_WAIT": "3"})
    assert code == 1
    assert summary["flagged_ranks"][0]["rank"] == 3, summary  # type: ignore[index]
    assert "rank 3" in str(summary["failure"]) and "rank 3" in err
