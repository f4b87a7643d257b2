"""Collectives: the repeated data check (--check-repeats) and the per-rank distribution."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

import accelbench
from accelbench.distributed.rank import _data_check
from accelbench.workloads.base import Case
from accelbench.workloads.collectives import CollectiveOp, CollectiveSpec
from tests.conftest import FAST
from tests.procs import marked_processes, only_run


@pytest.fixture
def one_rank_world() -> Iterator[None]:
    """A real gloo process group of one rank in this process."""
    store = dist.HashStore()
    dist.init_process_group("gloo", store=store, rank=0, world_size=1,
                            timeout=datetime.timedelta(seconds=30))
    try:
        yield
    finally:
        dist.destroy_process_group()


def _op() -> CollectiveOp:
    case = Case("collectives", "all_reduce sum in-place 4KiB", "fp32",
                (("op", "all_reduce"), ("reduce", "sum"), ("placement", "in-place"),
                 ("size", 4096)))
    return CollectiveOp(CollectiveSpec.of(case), 0, 1, torch.device("cpu"))


def test_one_check_misses_an_intermittent_fault_repeats_catch_it(one_rank_world: None) -> None:
    op = _op()
    assert _data_check(op, 1, "flaky") == (0, 1024, "")  # the fault is in the 2nd launch
    wrong, checked, note = _data_check(op, 3, "flaky")
    assert (wrong, checked) == (1, 3 * 1024)
    assert note.startswith("check 2 of 3, index 0")
    assert _data_check(op, 3, None) == (0, 3 * 1024, "")


TWO_CASES = """family = "collectives"
[[case]]
op = "all_reduce"
reduce = "sum"
sizes = ["4KiB"]
dtypes = ["fp32"]
[[case]]
op = "all_gather"
placement = "out-of-place"
sizes = ["4KiB"]
dtypes = ["fp32"]
"""


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_repeated_check_names_the_wrong_rank_and_rows_carry_the_rank_distribution(
        tmp_path: Path) -> None:
    (tmp_path / "coll.toml").write_text(TWO_CASES)
    mark = uuid.uuid4().hex
    env = dict(os.environ, ACCELBENCH_FAULT="flaky:1:all_reduce",
               ACCELBENCH_TEST_MARKER=mark, COLUMNS="200")
    proc = subprocess.run(
        [sys.executable, "-m", "accelbench", "run", "--device", "cpu", "--suite",
         str(tmp_path / "coll.toml"), "--world-size", "2", "--check-repeats", "3",
         "--out", "out", *FAST], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=180, check=False)
    assert proc.returncode == 1, proc.stderr
    frame = accelbench.load(only_run(tmp_path / "out")).set_index("case")
    bad = frame.loc["all_reduce sum in-place 4KiB"]
    assert bad["status"] == "mismatch" and bad["check_repeats"] == 3
    assert "on rank(s) 1 " in bad["error"] and "check 2 of 3" in bad["error"]
    assert bad["mismatch_frac"] == pytest.approx(1 / (2 * 3 * 1024))
    good = frame.loc["all_gather out-of-place 4KiB"]
    assert good["status"] == "ok" and good["mismatch_frac"] == 0
    for _, row in frame.iterrows():
        assert row["rank_min_s"] <= row["rank_median_s"] <= row["median_s"]
        assert {row["fastest_rank"], row["slowest_rank"]} == {0, 1}
        assert row["rank_skew"] == pytest.approx(row["median_s"] / row["rank_min_s"])
    assert "rank medians min/med/max" in proc.stdout
    assert marked_processes(mark) == []
