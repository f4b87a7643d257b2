"""Hardening: every bad input is one line and exit 2 with nothing created, every damaged run
can be read, and what a new user meets in the first hour says what it means.

Most checks call the real entry point (:func:`accelbench.cli.main`) in this
process and never start a worker; the runs they need are measured once per
module in-process (``--no-isolation``), a few milliseconds each. Two tests
start real workers and worlds and kill them (marked slow).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import accelbench
from accelbench.analysis.compare import case_rounds
from accelbench.cli import main
from accelbench.errors import UsageError
from accelbench.report.publish import publish
from accelbench.report.tables import advice
from accelbench.results.schema import results_frame
from tests.procs import env_with, events, marked_processes, new_marker, start_cli, wait_no_marked

TINY = 'family = "matmul"\n[[case]]\nname = "x"\nsize = [16]\ndtypes = ["fp32"]\n'
QUICK = ["--warmup", "0.01", "--max-case-time", "0.05", "--min-samples", "5", "--rounds", "1"]


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def _run(suite: Path, out: Path, *extra: str) -> Path:
    """A tiny run measured in this process; its directory."""
    before = set(out.iterdir()) if out.exists() else set()
    code = main(["run", "--device", "cpu", "--suite", str(suite), "--out", str(out),
                 "--no-isolation", "-q", *QUICK, *extra])
    assert code == 0
    (new,) = set(out.iterdir()) - before
    return new


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Two finished runs of one tiny suite, and the suite file."""
    root = tmp_path_factory.mktemp("runs")
    suite = root / "tiny.toml"
    suite.write_text(TINY)
    first = _run(suite, root / "out")
    return first, _run(suite, root / "out"), suite  # a second run in the same second: "-1"


# -- 5. numeric options: finite and in range, checked before anything is created ----------
@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--max-case-time", "inf", "must be a finite number: 'inf'"),
        ("--warmup", "inf", "must be a finite number: 'inf'"),
        ("--case-timeout", "inf", "must be a finite number: 'inf'"),
        ("--case-timeout", "1e12", "must be at most 604800: '1e12'"),
        ("--max-case-time", "nan", "must be a finite number: 'nan'"),
        ("--max-memory", "inf", "must be a finite number: 'inf'"),
        ("--max-memory", "1e300", "must be at most 1.04858e+06"),
        ("--target-rel-ci", "2", "must be at most 1: '2'"),
        ("--min-samples", "1000000000", "must be at most 10000000"),
        ("--rounds", "100000", "must be at most 1000"),
        ("--sustain", "-inf", "must be a finite number"),
        ("--world-size", "100000", "this machine holds at most"),
        ("--kernels", ",", "empty list: ','"),
        ("--dtypes", " , ", "empty list"),
    ],
)
def test_bad_numbers_exit_2_before_any_directory(
    tmp_path: Path, flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["run", "--device", "cpu", "--out", str(out), f"{flag}={value}"])
    line = _one_line(capsys)
    assert code == 2 and message in line, line
    assert not out.exists()


def test_world_size_is_capped_by_the_machine_for_fleet_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["fleet", "--device", "cpu", "--world-size", "100000", "--out", str(out)])
    line = _one_line(capsys)
    assert code == 2 and "--world-size 100000: this machine holds at most" in line
    assert "per logical CPU" in line and not out.exists()


def test_infinite_suite_setting_is_a_catalog_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "s.toml"
    suite.write_text('[settings]\nmax_case_time = inf\n[[select]]\nfamily = "matmul"\n')
    code = main(["run", "--device", "cpu", "--suite", str(suite), "--out", str(tmp_path / "o")])
    line = _one_line(capsys)
    assert code == 2 and "settings.max_case_time must be a positive number, not inf" in line
    assert not (tmp_path / "o").exists()


# -- 6. an argument that is not a run: exit 2 on every command ------------------------------
@pytest.mark.parametrize("command", [
    ["consistency", "{good}", "{empty}"], ["compare", "{good}", "{empty}"],
    ["export", "--pytest-benchmark", "{empty}"], ["publish", "{empty}", "--results", "{res}"],
    ["run", "--resume", "{empty}"],
])
def test_an_argument_that_is_not_a_run_exits_2(
    runs: tuple[Path, Path, Path], tmp_path: Path, command: list[str],
    capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    names = {"good": str(runs[0]), "empty": str(empty), "res": str(tmp_path / "res")}
    code = main([c.format(**names) for c in command])
    line = _one_line(capsys)
    assert code == 2 and f"{empty}: not a run directory" in line, line
    assert not (tmp_path / "res").exists()


def test_load_of_an_empty_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a run directory"):
        accelbench.load(tmp_path)


# -- 7. an exception in a user family's expand() -------------------------------------------
def test_user_family_expand_exception_is_a_catalog_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken_fam.py").write_text(
        "class F:\n    name = 'broken'\n    default_dtypes = ('fp32',)\n"
        "    def expand(self, entry, where):\n        return [1 / 0]\n"
        "    def prepare(self, case, device):\n        raise AssertionError\nFAMILY = F()\n")
    suite = tmp_path / "b.toml"
    suite.write_text('family = "broken_fam:FAMILY"\n[[case]]\nname = "x"\n')
    code = main(["run", "--device", "cpu", "--suite", str(suite), "--out", str(tmp_path / "o")])
    line = _one_line(capsys)
    assert code == 2
    assert line == (f"accelbench: error: {suite}: case[0]: family 'broken_fam:FAMILY': "
                    "expand() failed: ZeroDivisionError: division by zero")
    assert not (tmp_path / "o").exists()


# -- 3. damaged tables: rebuilt from events.jsonl, or one line saying how to repair ---------
def _damage(run: Path, dest: Path) -> Path:
    copy = dest / run.name
    shutil.copytree(run, copy)
    data = (copy / "results.parquet").read_bytes()
    (copy / "results.parquet").write_bytes(data[: len(data) // 2])  # truncated
    (copy / "samples.parquet").write_bytes(b"")  # emptied
    (copy / "fingerprints.parquet").write_bytes(b"PAR1")
    return copy


def test_damaged_tables_are_rebuilt_from_the_event_log(
    runs: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = runs[0]
    bad = _damage(good, tmp_path)
    cols = ["case", "dtype", "status", "median_s", "n_samples", "peak_gbps"]
    pd.testing.assert_frame_equal(accelbench.load(bad)[cols], accelbench.load(good)[cols])
    assert len(accelbench.load_samples(bad)) == len(accelbench.load_samples(good)) > 0
    assert main(["compare", str(good), str(bad), "--format", "json"]) == 0
    cases = json.loads(capsys.readouterr().out)["cases"]
    assert len(cases) == 1 and cases[0]["ratio"] == pytest.approx(1.0)
    assert main(["consistency", str(good), str(bad), "--format", "csv"]) == 0
    assert "bitwise" in capsys.readouterr().out
    assert main(["export", "--pytest-benchmark", str(bad), "-o", str(tmp_path / "e.json")]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["benchmarks"]


def test_a_damaged_published_table_says_how_to_repair(
    runs: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = publish(runs[0], tmp_path / "results")
    (folder / "results.parquet").write_bytes(b"")
    code = main(["compare", str(runs[0]), str(folder)])
    line = _one_line(capsys)
    assert code == 2
    assert line == (f"accelbench: error: {folder}/results.parquet: damaged (ArrowInvalid) and "
                    "no events.jsonl to rebuild it from; publish or copy the run again")


# -- 2. publish: all or nothing; matplotlib named as the extra to install ------------------
def test_publish_without_matplotlib_is_one_line_and_writes_nothing(
    runs: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    code = main(["publish", str(runs[0]), "--results", str(tmp_path / "res")])
    line = _one_line(capsys)
    assert code == 2 and "pip install 'accelbench[plot]'" in line
    assert not (tmp_path / "res").exists()


def test_publish_replaces_a_folder_whole_or_not_at_all(
    runs: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, _ = runs
    res = tmp_path / "res"
    folder = publish(first, res)
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    def disk_full(*args: object) -> str:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:  # fails after data and plots are written
        m.setattr("accelbench.report.publish.render_readme", disk_full)
        with pytest.raises(OSError, match="No space left"):
            publish(second, res)
    after = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in res.iterdir()) == ["README.md", folder.name]
    publish(second, res)
    assert json.loads((folder / "meta.json").read_text())["run_id"] == second.name
    assert f"`{second.name}`" in (folder / "README.md").read_text()
    assert f"`{first.name}`" not in (res / "README.md").read_text()
    assert sorted(p.name for p in res.iterdir()) == ["README.md", folder.name]


# -- 4. resume refuses an edited suite and conflicting flags --------------------------------
def test_resume_refuses_an_edited_suite_and_conflicting_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "s.toml"
    suite.write_text(TINY)
    run = _run(suite, tmp_path / "out")
    capsys.readouterr()
    code = main(["run", "--resume", str(run), "--max-case-time", "9", "--suite", "quick"])
    line = _one_line(capsys)
    assert code == 2 and "--resume keeps the run's settings" in line
    assert "--suite quick (run: " in line and "--max-case-time 9.0 (run: 0.05)" in line
    # the same values are no conflict
    assert main(["run", "--resume", str(run), "--max-case-time", "0.05", "--device", "cpu",
                 "--suite", str(suite), "-q"]) == 0
    capsys.readouterr()
    suite.write_text(TINY.replace("size = [16]", "size = [16, 24]"))
    code = main(["run", "--resume", str(run)])
    line = _one_line(capsys)
    assert code == 2 and "now resolves to other cases than when the run started" in line
    assert [e["event"] for e in events(run)].count("start") == 2  # refused: nothing appended


# -- 9. smaller items -----------------------------------------------------------------------
def test_quiet_prints_the_run_directory_and_unmatched_dtypes_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "s.toml"
    suite.write_text(TINY)
    run = _run(suite, tmp_path / "out", "--dtypes", "fp32,fp16")
    captured = capsys.readouterr()
    assert captured.out == f"{run}\n"
    assert captured.err.strip() == (
        f"note: no case of suite {suite.stem!r} matches --dtypes fp16")


def test_list_prints_one_case_per_line_into_a_pipe(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["list", "--suite", "standard", "--kernels", "attention"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert int(lines[0].rsplit("(", 1)[1].split()[0]) == len(lines) - 1
    assert all(line.startswith("attention ") for line in lines[1:])
    assert any(len(line) > 80 and line.endswith("]") for line in lines[1:])


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_build_without_gpu_says_no_device_is_visible(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(torch.version, "cuda", "12.4")  # a CUDA build of PyTorch, no GPU
    code = main(["info", "--device", "cuda"])
    line = _one_line(capsys)
    assert code == 2 and ("PyTorch is built with CUDA 12.4, but no cuda device is visible "
                          "(no GPU, no working driver") in line


def test_advice_after_the_table_when_cases_did_not_converge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "s.toml"
    suite.write_text(TINY)
    code = main(["run", "--device", "cpu", "--suite", str(suite), "--out", str(tmp_path / "o"),
                 "--no-isolation", *QUICK, "--target-rel-ci", "1e-9"])
    err = capsys.readouterr().err
    assert code == 0
    assert "1 of 1 measured cases did not reach the ±1e-07% target" in err
    assert "a longer --max-case-time, more --rounds" in err
    run = next((tmp_path / "o").iterdir())
    assert err.rstrip().splitlines()[-1].endswith(f"run directory: {run}")
    ok = results_frame([{"kernel": "k", "case": "c", "dtype": "fp32", "status": "ok",
                         "converged": True}])
    assert advice(ok, 0.01) == []


def test_compare_median_of_a_collective_is_the_slowest_ranks_median() -> None:
    rng = np.random.default_rng(1)
    rows = []
    for rank, scale in ((0, 1.0), (1, 1.2)):  # rank 1 is slower
        for i, s in enumerate(rng.normal(scale, 0.2, 101)):
            rows.append({"kernel": "collectives", "case": "all_reduce", "dtype": "fp32",
                         "rank": rank, "index": i, "seconds": s, "round": 0})
    frame = pd.DataFrame(rows)
    (values,) = case_rounds(frame)[("collectives", "all_reduce", "fp32")]
    slow = frame[frame["rank"] == 1]["seconds"].to_numpy()
    assert np.median(values) == np.median(slow)  # the run's median_s: the slowest rank's


# -- the worker: a crash names its cause; a child in its own session dies with the case -----
SESSION_FAMILY = '''
import os, subprocess, sys, time
import torch
from accelbench.workloads.base import Case, Prepared

class F:
    name = "escapes"
    default_dtypes = ("fp32",)

    def expand(self, entry, where):
        return [Case(kernel=self.name, case=entry["name"], dtype="fp32",
                     params=(("mode", entry["mode"]),), source=where)]

    def prepare(self, case, device):
        x = torch.ones(4)
        def run():
            if case.param("mode") == "exit":
                print("libfoo: thread creation failed: Resource temporarily unavailable",
                      file=sys.stderr, flush=True)
                os._exit(1)
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                             start_new_session=True)
            time.sleep(600)
        return Prepared(fn=run, flops=1.0, bytes=1.0)

FAMILY = F()
'''


@pytest.mark.slow
def test_crash_cause_from_the_log_and_no_session_child_outlives_a_timeout(
    tmp_path: Path
) -> None:
    (tmp_path / "escapes.py").write_text(SESSION_FAMILY)
    suite = tmp_path / "e.toml"
    suite.write_text('family = "escapes:FAMILY"\n[[case]]\nname = "exit"\nmode = "exit"\n'
                     '[[case]]\nname = "escape"\nmode = "escape"\n')
    marker = new_marker()
    proc = subprocess.run(
        [sys.executable, "-m", "accelbench", "run", "--device", "cpu", "--suite", str(suite),
         "--out", str(tmp_path / "o"), "--case-timeout", "2", "--no-check", *QUICK, "-q"],
        cwd=tmp_path, env=env_with(marker), capture_output=True, text=True, timeout=240,
        check=False)
    assert proc.returncode == 1, proc.stderr
    frame = accelbench.load(proc.stdout.strip()).set_index("case")
    assert frame.loc["exit", "status"] == "crash"
    assert frame.loc["exit", "error"] == ("worker exited with status 1: libfoo: thread creation "
                                          "failed: Resource temporarily unavailable")
    assert frame.loc["escape", "status"] == "timeout"
    assert wait_no_marked(marker, timeout=5) == []


@pytest.mark.slow
def test_a_sigkilled_local_world_leaves_no_temporary_directory(tmp_path: Path) -> None:
    marker = new_marker()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(env_with(marker), TMPDIR=str(tmp))
    proc = start_cli(["run", "--device", "cpu", "--kernels", "collectives", "--world-size", "2",
                      "--out", str(tmp_path / "o"), "--warmup", "0.5", "--max-case-time", "30"],
                     tmp_path, env)
    deadline = time.monotonic() + 120
    while len(marked_processes(marker)) < 3 and time.monotonic() < deadline:  # parent + 2
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.1)
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert wait_no_marked(marker, timeout=15) == []
    assert list(tmp.iterdir()) == []  # no accelbench-world-* directory, no rank log


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_a_tight_max_memory_names_its_cause(tmp_path: Path) -> None:
    suite = tmp_path / "s.toml"
    suite.write_text(TINY)
    proc = subprocess.run(
        [sys.executable, "-m", "accelbench", "run", "--device", "cpu", "--suite", str(suite),
         "--out", str(tmp_path / "o"), "--max-memory", "0.001", *QUICK, "-q"],
        cwd=tmp_path, env=env_with(new_marker()), capture_output=True, text=True, timeout=240,
        check=False)
    assert proc.returncode == 1, proc.stderr
    row = accelbench.load(proc.stdout.strip()).iloc[0]
    if row["status"] == "error":  # the allocation itself was refused: said as such
        assert str(row["error"]).startswith("out of memory: ")
    else:  # the worker died (a thread pool refused): its last words and the likely cause
        assert row["status"] == "crash"
        assert str(row["error"]).startswith("worker exited with status 1: ")
        assert str(row["error"]).endswith("(under --max-memory 0.001 GiB: too tight?)")
