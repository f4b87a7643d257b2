"""The new run modes through the real CLI on the CPU: cold cache, graph, sustain, self-test."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import accelbench
from tests.conftest import FAST, Cli

ONE_CASE = """
family = "matmul"
[[case]]
name = "one"
size = [64]
dtypes = ["fp32"]
"""


def _suite(tmp_path: Path) -> Path:
    path = tmp_path / "one.toml"
    path.write_text(ONE_CASE)
    return path


def _run(tmp_path: Path) -> Path:
    (run,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    return run


def test_cold_cache_run_records_the_mode(cli: Cli, tmp_path: Path) -> None:
    proc = cli("run", "--device", "cpu", "--suite", str(_suite(tmp_path)), "--out", "out",
               "--cache", "cold", "-q", *FAST)
    assert proc.returncode == 0, proc.stderr
    row = accelbench.load(_run(tmp_path)).iloc[0]
    assert row["status"] == "ok" and row["cache_state"] == "cold"
    assert row["timing_method"] == "host-monotonic-per-iter"
    assert row["cold_bytes"] >= 2 * 1024  # twice the LLC from sysfs (or the assumed size)
    assert not row["graph"]


def test_warm_run_has_the_new_columns_empty_where_not_measured(cli: Cli, tmp_path: Path) -> None:
    proc = cli("run", "--device", "cpu", "--suite", str(_suite(tmp_path)), "--out", "out", "-q",
               *FAST)
    assert proc.returncode == 0, proc.stderr
    frame = accelbench.load(_run(tmp_path))
    row = frame.iloc[0]
    assert row["cache_state"] == "warm" and row["timing_method"] == "host-monotonic"
    for col in ("host_submit_s", "throttled_frac", "sm_clock_mhz", "power_w", "temp_c"):
        assert col in frame.columns and pd.isna(row[col]), col


def test_graph_mode_on_the_cpu_is_recorded_as_unsupported(cli: Cli, tmp_path: Path) -> None:
    proc = cli("run", "--device", "cpu", "--suite", str(_suite(tmp_path)), "--out", "out",
               "--graph", "-q", *FAST)
    assert proc.returncode == 0, proc.stderr
    row = accelbench.load(_run(tmp_path)).iloc[0]
    assert row["status"] == "unsupported" and "graph" in row["error"]
    assert row["graph"]


def test_bad_cache_value_is_a_usage_error(cli: Cli) -> None:
    proc = cli("run", "--device", "cpu", "--cache", "tepid")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_sustain_writes_the_curve_and_plot(cli: Cli, tmp_path: Path) -> None:
    proc = cli("run", "--device", "cpu", "--suite", str(_suite(tmp_path)), "--out", "out",
               "--sustain", "0.6", "--warmup", "0.05", "-q")
    assert proc.returncode == 0, proc.stderr
    run = _run(tmp_path)
    row = accelbench.load(run).iloc[0]
    assert row["status"] == "ok" and row["stop_reason"] == "sustain"
    curve = pd.read_parquet(run / "sustain.parquet")
    assert len(curve) == row["n_samples"] >= 3
    assert curve["t_s"].is_monotonic_increasing and curve["t_s"].iloc[-1] < 1.0
    assert (curve["tflops"] > 0).all()
    png = (run / "sustain.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_info_selftest_prints_the_checks(cli: Cli) -> None:
    proc = cli("info", "--device", "cpu", "--selftest")
    assert proc.returncode in (0, 1), proc.stderr  # 1 only when a check is off on a busy host
    out = proc.stdout
    assert "self-test of the host-monotonic timer" in out
    for name in ("null launch", "busy-wait 10 us", "busy-wait 1000 us"):
        assert name in out
    assert ("FAIL" in out) == (proc.returncode == 1)
