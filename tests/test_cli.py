"""The `accelbench` command end to end: real runs on the CPU and every bad-input path."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import accelbench
from tests.conftest import FAST, Cli

#: The result columns DESIGN §4 promises, written out independently of the code.
CONTRACT_COLUMNS = [
    "run_id", "device", "device_name", "backend", "kernel", "case", "params", "dtype", "status",
    "n_samples", "converged", "median_s", "ci_low_s", "ci_high_s", "rel_ci", "cv",
    "outlier_frac", "drift", "flops", "bytes", "tflops", "gbps", "algbw_gbps", "busbw_gbps",
    "max_abs_err", "max_rel_err", "ulp_max", "mismatch_frac", "deterministic", "fingerprint",
    "error"
]


def _only_run(out: Path) -> Path:
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def test_run_writes_a_complete_run_directory(cli: Cli, tiny_suite: Path, tmp_path: Path) -> None:
    proc = cli("run", "--device", "cpu", "--suite", str(tiny_suite), "--out", "out", *FAST)
    assert proc.returncode == 0, proc.stderr
    run = _only_run(tmp_path / "out")
    assert run.name.endswith("-" + run.name.split("-", 1)[1])
    assert "cpu-" in run.name
    for name in ("meta.json", "events.jsonl", "results.parquet", "results.csv", "samples.parquet"):
        assert (run / name).is_file(), name
    frame = accelbench.load(run)
    assert list(frame.columns[: len(CONTRACT_COLUMNS)]) != []
    assert set(CONTRACT_COLUMNS) <= set(frame.columns)
    assert len(frame) == 4 and set(frame["status"]) == {"ok"}
    assert set(frame["case"]) == {"tiny 32", "tiny 64"}
    row = frame.set_index(["case", "dtype"]).loc[("tiny 64", "fp32")]
    assert row["params"] == "M=64 N=64 K=64"
    assert row["flops"] == 2 * 64**3
    assert row["tflops"] == pytest.approx(row["flops"] / row["median_s"] / 1e12)
    assert row["ci_low_s"] <= row["median_s"] <= row["ci_high_s"]
    assert row["n_samples"] >= 5
    samples = accelbench.load_samples(run)
    per_case = samples.groupby(["case", "dtype"]).size()
    assert per_case[("tiny 64", "fp32")] == row["n_samples"]
    csv = pd.read_csv(run / "results.csv")
    assert list(csv.columns) == list(frame.columns)
    meta = json.loads((run / "meta.json").read_text())
    assert meta["environment"]["device"]["backend"] == "cpu"
    assert meta["settings"]["max_case_time"] == 0.2
    assert "torch" in meta["environment"]["software"]
    # the summary table is printed
    assert "tiny 64" in proc.stdout and "TFLOP/s" in proc.stdout


def test_resume_finishes_only_missing_cases(cli: Cli, tiny_suite: Path, tmp_path: Path) -> None:
    proc = cli("run", "--device", "cpu", "--suite", str(tiny_suite), "--out", "out", *FAST)
    assert proc.returncode == 0, proc.stderr
    run = _only_run(tmp_path / "out")
    lines = (run / "events.jsonl").read_text().splitlines()
    case_lines = [i for i, line in enumerate(lines) if '"event":"case"' in line]
    # cut the log after the second finished case, plus a torn line, as a killed run leaves it
    kept = lines[: case_lines[1] + 1]
    (run / "events.jsonl").write_text("\n".join(kept) + '\n{"event":"case_st')
    for name in ("results.parquet", "results.csv", "samples.parquet"):
        (run / name).unlink()
    assert len(accelbench.load(run)) == 2  # rebuilt from the log
    before = {json.loads(x)["key"]: x for x in kept if '"event":"case"' in x}
    proc = cli("run", "--resume", str(run), "--quiet")
    assert proc.returncode == 0, proc.stderr
    frame = accelbench.load(run)
    assert len(frame) == 4 and set(frame["status"]) == {"ok"}
    after = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines()
             if x.startswith("{") and x.endswith("}")]
    redone = [e["key"] for e in after if e.get("event") == "case" and e["key"] in before]
    assert len(redone) == len(before)  # finished cases were not measured again


def test_list_shows_cases_of_a_suite(cli: Cli) -> None:
    proc = cli("list", "--suite", "quick")
    assert proc.returncode == 0, proc.stderr
    assert "llama3-8b qkv_proj T=128" in proc.stdout
    assert "M=128 N=6144 K=4096" in proc.stdout


def test_info_reports_harness_overhead(cli: Cli) -> None:
    proc = cli("info", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "loop_overhead" in proc.stdout and "clock_resolution" in proc.stdout
    assert "torch" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--device", "tpu9"], "unknown device 'tpu9'"),
        (["run", "--device", "cpu", "--kernels", "conv"], "unknown kernel family 'conv'"),
        (["run", "--device", "cpu", "--dtypes", "fp7"], "unknown dtype 'fp7'"),
        (["run", "--device", "cpu", "--suite", "nope"], "unknown suite 'nope'"),
        (["run", "--device", "cpu", "--max-case-time", "-1"], "must be positive"),
        (["run", "--resume", "does-not-exist"], "not a run directory"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli: Cli, args: list[str], message: str) -> None:
    proc = cli(*args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0]
    assert "Traceback" not in proc.stderr


def test_malformed_catalog_exits_2_naming_file_and_line(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text('family = "matmul"\n[[case]\nname = "x"\n')
    proc = cli("run", "--device", "cpu", "--suite", str(bad))
    assert proc.returncode == 2
    assert "broken.toml: malformed TOML" in proc.stderr and "line 2" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
