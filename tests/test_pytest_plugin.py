"""The pytest-benchmark integration: the accel_benchmark fixture, autosave + compare, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAST, Cli

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks" / "test_catalog_bench.py"


def _pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="250")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "accelbench.pytest_plugin", "-c",
         str(REPO / "pyproject.toml"), "--rootdir", str(REPO), "-q", "-p", "no:cacheprovider",
         *args],
        capture_output=True, text=True, timeout=300, cwd=cwd, env=env, check=False,
    )


def _pb_compare(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from pytest_benchmark.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, check=False,
                          env=dict(os.environ, COLUMNS="250"))


def test_fixture_records_accelbench_figures_and_autosave_compare_works(tmp_path: Path) -> None:
    store = f"file://{tmp_path / 'store'}"
    common = [str(BENCH), "-k", "square_256-fp32", "--accel-device", "cpu",
              "--accel-max-time", "0.2", "--accel-warmup", "0.02",
              "--benchmark-autosave", f"--benchmark-storage={store}"]
    first = _pytest(*common, "--benchmark-json", str(tmp_path / "out.json"), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "1 passed" in first.stdout
    data = json.loads((tmp_path / "out.json").read_text())
    (bench,) = data["benchmarks"]
    info = bench["extra_info"]
    assert info["device"] == "cpu" and info["timing_method"] == "host-monotonic"
    assert info["case"] == "square 256" and info["dtype"] == "fp32"
    assert info["flops"] == 2 * 256**3
    assert info["tflops"] == pytest.approx(info["flops"] / info["median_s"] / 1e12)
    assert info["ci_low_s"] <= info["median_s"] <= info["ci_high_s"]
    stats = bench["stats"]
    # pytest-benchmark's statistics are computed from the accelbench samples
    assert stats["rounds"] == info["n_samples"] == len(stats["data"])
    assert stats["iterations"] == info["iters_per_sample"]
    assert stats["median"] == pytest.approx(info["median_s"], rel=1e-9)

    second = _pytest(*common, cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    saved = sorted((tmp_path / "store").rglob("*.json"))
    assert len(saved) == 2
    cmp = _pb_compare("--storage", store, "compare", cwd=tmp_path)
    assert cmp.returncode == 0, cmp.stderr
    assert cmp.stdout.count("test_matmul[square_256-fp32]") == 2, cmp.stdout


def test_plugin_leaves_ordinary_test_runs_alone(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text(
        "import warnings\n\n"
        "def test_ok():\n    assert 1 + 1 == 2\n\n"
        "def test_warning_is_error():\n"
        "    try:\n        warnings.warn('x', UserWarning)\n"
        "    except UserWarning:\n        return\n"
        "    raise AssertionError('filterwarnings=error not in force')\n"
    )
    proc = _pytest(str(tmp_path / "test_plain.py"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
    assert "torch" not in proc.stdout + proc.stderr


def test_fixture_runs_kernel_once_when_benchmarks_disabled(tmp_path: Path) -> None:
    (tmp_path / "test_dis.py").write_text(
        "calls = []\n\n"
        "def test_once(accel_benchmark):\n"
        "    assert accel_benchmark(lambda: calls.append(1), flops=1.0) is None\n"
        "    assert calls == [1]\n"
    )
    proc = _pytest(str(tmp_path / "test_dis.py"), "--benchmark-disable", "--accel-device", "cpu",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_export_is_read_by_pytest_benchmark_compare(cli: Cli, tiny_suite: Path,
                                                    tmp_path: Path) -> None:
    proc = cli("run", "--device", "cpu", "--suite", str(tiny_suite), "--out", "runs", "-q", *FAST)
    assert proc.returncode == 0, proc.stderr
    (run,) = (tmp_path / "runs").iterdir()
    out = tmp_path / "store" / "Linux-CPython-3-64bit" / "0001_run.json"
    proc = cli("export", "--pytest-benchmark", str(run), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert {"machine_info", "commit_info", "benchmarks", "datetime", "version"} <= set(data)
    names = sorted(b["name"] for b in data["benchmarks"])
    assert names == ["matmul[tiny 32-fp32]", "matmul[tiny 32-fp64]", "matmul[tiny 64-fp32]",
                     "matmul[tiny 64-fp64]"]
    b = next(b for b in data["benchmarks"] if b["param"] == "tiny 64-fp32")
    assert b["extra_info"]["flops"] == 2 * 64**3
    assert b["stats"]["median"] == pytest.approx(b["extra_info"]["median_s"], rel=1e-9)
    cmp = _pb_compare("compare", str(out), cwd=tmp_path)
    assert cmp.returncode == 0, cmp.stderr
    assert "matmul[tiny 64-fp32]" in cmp.stdout
    bad = cli("export", "--pytest-benchmark", str(tmp_path / "nope"))
    assert bad.returncode == 2 and "no meta.json" in bad.stderr
