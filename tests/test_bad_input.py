"""Bad input: one line on stderr and exit code 2, or a per-case status when only a case is hit.

These call the real entry point (:func:`accelbench.cli.main`) in this process,
which returns the exit code, so each check costs milliseconds, not a PyTorch
import.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import accelbench
from accelbench.cli import main
from accelbench.devices import CpuDevice
from accelbench.measure.case import measure_case
from accelbench.measure.core import Settings
from accelbench.workloads.matmul import FAMILY as MATMUL
from tests.conftest import FAST
from tests.procs import only_run


def _exit_and_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return code, lines[0]


def _catalog(tmp_path: Path, body: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text('family = "matmul"\n[[case]]\nname = "x"\n' + body)
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--device", "cuda:x"], "bad device index in 'cuda:x'"),
        (["run", "--device", "cpu:1"], "the cpu device takes no index"),
        (["run", "--case-timeout", "0"], "argument --case-timeout: must be positive: '0'"),
        (["run", "--case-timeout", "-3"], "argument --case-timeout: must be positive"),
        (["run", "--max-memory", "lots"], "argument --max-memory: not a number: 'lots'"),
        (["run", "--device", "cpu", "--no-isolation", "--max-memory", "1"],
         "--max-memory needs a worker process; drop --no-isolation"),
        (["run", "--device", "cpu", "--no-isolation", "--case-timeout", "5"],
         "--case-timeout needs a worker process; drop --no-isolation"),
        (["run", "--device", "cpu", "--min-samples", "2.5"], "not an integer: '2.5'"),
    ],
)
def test_bad_flags_exit_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = _exit_and_line(args, capsys)
    assert code == 2 and message in line, line


@pytest.mark.skipif(importlib.util.find_spec("torch_npu") is not None, reason="torch_npu present")
def test_missing_backend_package_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    code, line = _exit_and_line(["run", "--device", "npu"], capsys)
    assert code == 2
    assert line == ("accelbench: error: unknown device 'npu': not an in-tree backend and no "
                    "PrivateUse1 backend is loaded (load its package with --import torch_npu)")


def test_a_backend_package_that_fails_to_import_is_named(
    capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = _exit_and_line(["info", "--import", "no_such_backend_pkg", "--device", "cpu"],
                                capsys)
    assert code == 2
    assert line == ("accelbench: error: --import no_such_backend_pkg: "
                    "ModuleNotFoundError: No module named 'no_such_backend_pkg'")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_absent_backend_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, line = _exit_and_line(["info", "--device", "cuda"], capsys)
    # a CPU build of PyTorch has no CUDA; a CUDA build on a machine without GPU sees none
    assert code == 2 and ("device 'cuda' is not available" in line
                          or "but no cuda device is visible" in line), line


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("size = -64\n", "case[0]: field 'size' must be positive integers, got -64"),
        ("size = 0\n", "field 'size' must be positive integers, got 0"),
        ('size = 64\ndtypes = ["fp8"]\n', "field 'dtypes': unknown dtype 'fp8'"),
        ("size = 64\n[[case]\n", "malformed TOML"),
    ],
)
def test_bad_catalog_exits_2_naming_file(
    tmp_path: Path, body: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _catalog(tmp_path, body)
    code, line = _exit_and_line(["run", "--device", "cpu", "--suite", path], capsys)
    assert code == 2 and line.startswith(f"accelbench: error: {path}: ") and message in line


def test_out_that_is_a_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").write_text("")
    path = _catalog(tmp_path, "size = 8\n")
    code, line = _exit_and_line(
        ["run", "--device", "cpu", "--suite", path, "--out", str(tmp_path / "taken")], capsys)
    assert code == 2 and "--out" in line and "cannot create a run directory" in line


def test_shape_beyond_memory_is_unsupported_and_the_rest_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _catalog(tmp_path, 'size = [32, 400000]\ndtypes = ["fp32"]\n')
    code = main(["run", "--device", "cpu", "--suite", path, "--out", str(tmp_path / "out"),
                 "--no-isolation", "-q", *FAST])
    capsys.readouterr()
    assert code == 0  # unsupported is not a failure
    frame = accelbench.load(only_run(tmp_path / "out")).set_index("case")
    assert frame.loc["x 32", "status"] == "ok"
    assert frame.loc["x 400000", "status"] == "unsupported"
    assert "GiB, device has" in frame.loc["x 400000", "error"]


class _NoBf16Cpu(CpuDevice):
    """The CPU, declaring bf16 unsupported (as MPS declares fp64)."""

    def unsupported_dtype(self, dtype: torch.dtype) -> str | None:
        return "this device has no bfloat16" if dtype == torch.bfloat16 else None


def test_dtype_unsupported_by_the_device_is_a_case_status() -> None:
    cases = MATMUL.expand({"name": "sq", "size": 16, "dtypes": ["bf16", "fp32"]}, "t")
    settings = Settings(warmup=0.01, max_case_time=0.05, min_samples=3)
    by_dtype = {c.dtype: measure_case(c, _NoBf16Cpu(), settings, "r") for c in cases}
    assert by_dtype["bf16"].status == "unsupported"
    assert by_dtype["bf16"].row["error"] == "this device has no bfloat16"
    assert by_dtype["fp32"].status == "ok"
