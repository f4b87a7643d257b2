"""Run directory I/O: the event log is the source of truth, tables are rebuilt from it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import accelbench
from accelbench.errors import UsageError
from accelbench.results import COLUMNS, RunDir, results_frame


def _row(case: str, median: float) -> dict[str, object]:
    return {"run_id": "r", "device": "cpu", "kernel": "matmul", "case": case, "dtype": "fp32",
            "status": "ok", "median_s": median, "rel_ci": math.inf, "n_samples": 3}


def test_events_rebuild_tables_and_skip_torn_lines(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path, "cpu-test")
    run.write_meta({"run_id": run.run_id})
    run.record_case("matmul|a|fp32", _row("a", 1e-3), {"seconds": [1e-3, 2e-3, 1e-3], "iters": 4})
    run.record_case("matmul|b|fp32", _row("b", 2e-3), {"seconds": [2e-3], "iters": 1})
    with run.events_path.open("a") as fh:
        fh.write('{"event":"case","key":"matmul|c|fp3')  # killed mid-write
    frame = accelbench.load(run.path)
    assert list(frame["case"]) == ["a", "b"]
    assert frame["rel_ci"].isna().all()  # inf is not JSON: stored as missing
    samples = accelbench.load_samples(run.path)
    assert len(samples) == 4 and samples["iters"].tolist() == [4, 4, 4, 1]
    written = run.finalize()
    assert (run.path / "results.parquet").exists()
    assert written["median_s"].tolist() == [1e-3, 2e-3]
    assert not list(run.path.glob(".*.tmp"))


def test_results_frame_has_schema_columns_in_order() -> None:
    frame = results_frame([_row("a", 1.0)])
    assert list(frame.columns) == [c.name for c in COLUMNS]
    assert str(frame["converged"].dtype) == "boolean"


def test_load_rejects_non_run_directories(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such run directory"):
        accelbench.load(tmp_path / "missing")
    with pytest.raises(UsageError, match="not a run directory"):
        accelbench.load(tmp_path)
