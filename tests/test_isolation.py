"""Fault injection: real segfaults, aborts, hangs, exceptions, refused allocations and exits.

Every test runs the real ``accelbench`` command in a child process with a
marker in its environment; the marker is inherited by every worker, so
scanning /proc for it proves that nothing is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import accelbench
from accelbench.runner.isolation import crash_site, describe_exit
from accelbench.runner.suite import deaths_in_flight
from tests.conftest import FAST
from tests.procs import (
    TESTS_DIR,
    env_with,
    events,
    new_marker,
    only_run,
    run_cli,
    start_cli,
    wait_for,
    wait_no_marked,
)

FAULTY = str(TESTS_DIR / "faulty.toml")
#: Isolation flags of the fault-injection runs: hang found after 4 s, 1 GiB memory cap.
GUARDS = ["--case-timeout", "4", "--max-memory", "1"]

EXPECTED = {
    "healthy 1": ("ok", None),
    "segfault": ("crash", "worker killed by SIGSEGV at faulty_kernels.py:"),
    "healthy 2": ("ok", None),
    "abort": ("crash", "worker killed by SIGABRT at faulty_kernels.py:"),
    "hang": ("timeout", "no result after 4 s; worker killed"),
    "healthy 3": ("ok", None),
    "raise": ("error", "RuntimeError: injected fault"),
    "alloc 16 GiB": ("error", "out of memory: "),
    "exit 7": ("crash", "worker exited with status 7"),
    "healthy 4": ("ok", None),
}


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    """One uninterrupted run of the fault-injection catalog; (run dir, leftover pids)."""
    cwd = tmp_path_factory.mktemp("faults")
    marker = new_marker()
    proc = run_cli(["run", "--device", "cpu", "--suite", FAULTY, "--out", "out", *FAST, *GUARDS],
                   cwd, env_with(marker))
    assert proc.returncode == 1, proc.stderr  # some cases failed: exit 1
    return only_run(cwd / "out"), wait_no_marked(marker, timeout=5)


def _statuses(frame: pd.DataFrame) -> dict[str, str]:
    return dict(zip(frame["case"], frame["status"], strict=True))


def test_every_fault_becomes_its_case_status_with_reason(fault_run: tuple[Path, list[int]]) -> None:
    run, leftovers = fault_run
    frame = accelbench.load(run).set_index("case")
    assert sorted(frame.index) == sorted(EXPECTED)
    for case, (status, reason) in EXPECTED.items():
        assert frame.loc[case, "status"] == status, (case, frame.loc[case, "error"])
        if reason is None:
            assert pd.isna(frame.loc[case, "error"])
            assert frame.loc[case, "median_s"] > 0 and frame.loc[case, "n_samples"] >= 5
        else:
            assert reason in frame.loc[case, "error"], (case, frame.loc[case, "error"])
    assert "can't allocate memory" in frame.loc["alloc 16 GiB", "error"]
    assert leftovers == [], f"worker processes left behind: {leftovers}"


def test_fault_run_logs_worker_tracebacks_and_summarises_support(
    fault_run: tuple[Path, list[int]],
) -> None:
    run, _ = fault_run
    log = (run / "worker.log").read_text()
    assert "Segmentation fault" in log and "Aborted" in log
    meta = json.loads((run / "meta.json").read_text())
    assert meta["state"] == "complete"
    assert meta["settings"]["case_timeout"] == 4 and meta["settings"]["isolation"] is True
    matrix = accelbench.support_matrix(accelbench.load(run))
    assert matrix.loc["cpu"].to_dict() == {
        "total": 10, "ok": 4, "unsupported": 0, "error": 2, "crash": 3, "timeout": 1,
        "mismatch": 0, "compile_error": 0,
    }


def test_sigkilled_run_resumes_to_the_uninterrupted_result(
    fault_run: tuple[Path, list[int]], tmp_path: Path,
) -> None:
    baseline, _ = fault_run
    marker = new_marker()
    env = env_with(marker)
    proc = start_cli(["run", "--device", "cpu", "--suite", FAULTY, "--out", "out", "-q",
                      *FAST, *GUARDS], tmp_path, env)
    try:
        run = wait_for(tmp_path / "out",
                       lambda evs: sum(e.get("event") == "case" for e in evs) >= 3, proc)
        os.kill(proc.pid, signal.SIGKILL)  # the real parent, mid-suite
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert wait_no_marked(marker) == [], "an orphaned worker outlived its SIGKILLed parent"
    finished_before = {e["key"] for e in events(run) if e.get("event") == "case"}
    assert 3 <= len(finished_before) < len(EXPECTED)

    resumed = run_cli(["run", "--resume", str(run), "-q"], tmp_path, env)
    assert resumed.returncode == 1, resumed.stderr
    assert wait_no_marked(marker, timeout=5) == []
    frame = accelbench.load(run)
    assert _statuses(frame) == _statuses(accelbench.load(baseline))
    done = [e["key"] for e in events(run) if e.get("event") == "case"]
    assert len(done) == len(set(done)) == len(EXPECTED)  # nothing measured twice
    assert json.loads((run / "meta.json").read_text())["state"] == "complete"


def _write_catalog(tmp_path: Path, modes: list[tuple[str, str]]) -> Path:
    """A family file in tmp_path; faulty_kernels is found through sys.path (PYTHONPATH)."""
    body = 'family = "faulty_kernels:FAMILY"\n' + "".join(
        f'[[case]]\nname = "{name}"\nmode = "{mode}"\n' for name, mode in modes
    )
    path = tmp_path / "cases.toml"
    path.write_text(body)
    return path


def test_ctrl_c_stops_cleanly_with_a_valid_partial_run(tmp_path: Path) -> None:
    catalog = _write_catalog(tmp_path, [("healthy", "ok"), ("hang", "hang"), ("after", "ok")])
    marker = new_marker()
    env = env_with(marker, TESTS_DIR) | {"PYTHONFAULTHANDLER": "1"}
    proc = start_cli(["run", "--device", "cpu", "--suite", str(catalog), "--out", "out", "-q",
                      *FAST, "--case-timeout", "300"], tmp_path, env)
    try:
        run = wait_for(tmp_path / "out", lambda evs: any(
            e.get("event") == "case_start" and "hang" in e["key"] for e in evs), proc)
        os.kill(proc.pid, signal.SIGINT)
        try:
            _out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGABRT)  # the fault handler prints every thread's stack
            _out, err = proc.communicate(timeout=30)
            raise AssertionError(f"still running 60 s after Ctrl-C:\n{err[-6000:]}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "resume with" in err
    assert wait_no_marked(marker, timeout=5) == []
    meta = json.loads((run / "meta.json").read_text())
    assert meta["state"] == "interrupted"
    frame = pd.read_parquet(run / "results.parquet")
    assert list(frame["case"]) == ["healthy"] and list(frame["status"]) == ["ok"]
    assert any(e.get("event") == "case_abort" for e in events(run))


def test_in_process_crash_is_rerun_once_then_recorded_as_crash(tmp_path: Path) -> None:
    catalog = _write_catalog(tmp_path, [("before", "ok"), ("segfault", "segfault"),
                                        ("after", "ok")])
    env = env_with(new_marker(), TESTS_DIR)
    first = run_cli(["run", "--device", "cpu", "--suite", str(catalog), "--out", "out", "-q",
                     "--no-isolation", *FAST], tmp_path, env)
    assert first.returncode == -signal.SIGSEGV  # no isolation: the crash takes the run down
    run = only_run(tmp_path / "out")
    second = run_cli(["run", "--resume", str(run), "-q"], tmp_path, env)
    assert second.returncode == -signal.SIGSEGV  # in flight once: tried again
    third = run_cli(["run", "--resume", str(run), "-q"], tmp_path, env)
    assert third.returncode == 1, third.stderr  # in flight twice: recorded, not run
    frame = accelbench.load(run).set_index("case")
    assert frame.loc["segfault", "status"] == "crash"
    assert "in two attempts" in frame.loc["segfault", "error"]
    assert frame.loc["before", "status"] == "ok" and frame.loc["after", "status"] == "ok"
    done = [e["key"] for e in events(run) if e.get("event") == "case"]
    assert len(done) == len(set(done)) == 3


def test_deaths_in_flight_counts_attempts_that_died_mid_case() -> None:
    log = [
        {"event": "start"}, {"event": "case_start", "key": "a"}, {"event": "case", "key": "a"},
        {"event": "case_start", "key": "b"},                    # attempt 1 dies in b
        {"event": "start"}, {"event": "case_start", "key": "b"},  # attempt 2 dies in b
        {"event": "start"}, {"event": "case_start", "key": "c"},
        {"event": "case_abort", "key": "c"},                    # Ctrl-C: not a death
    ]
    assert deaths_in_flight(log) == {"b": 2}


def test_exit_descriptions_and_crash_site() -> None:
    assert describe_exit(-signal.SIGSEGV) == "worker killed by SIGSEGV"
    assert describe_exit(3) == "worker exited with status 3"
    dump = (
        "Fatal Python error: Segmentation fault\n\nCurrent thread 0x1 (most recent call first):\n"
        f'  File "{os.path.dirname(os.__file__)}/ctypes/__init__.py", line 519 in string_at\n'
        '  File "/x/my_kernels.py", line 12 in run\n'
    )
    assert crash_site(dump) == "my_kernels.py:12 in run"
    assert crash_site("no dump here") is None
