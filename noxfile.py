"""Developer and benchmark sessions: ``nox -s tests``, ``nox -s lint``, ``nox -s bench-<device>``.

Virtualenvs are reused, so PyTorch (a multi-GB wheel) is installed once per
session venv; the package itself is rebuilt (Rust included) on every run.
"""

from __future__ import annotations

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = False

PYTHON = "3"  # whichever python3 runs nox; the wheel is abi3 (CPython >= 3.10)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Build the extension, run the Rust unit tests and the pytest suite."""
    session.install(".[test]")
    session.run("cargo", "test", "-p", "accelbench-core", "--release", external=True)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, mypy (strict) and stubtest on Python; rustfmt and clippy on Rust."""
    session.install(".[lint]")
    session.run("ruff", "check", "python", "tests", "benchmarks", "examples", "noxfile.py")
    session.run("mypy")
    session.run("python", "-m", "mypy.stubtest", "accelbench._core",
                "--allowlist", "stubtest_allowlist.txt")
    session.run("cargo", "fmt", "--all", "--check", external=True)
    session.run("cargo", "clippy", "--all-targets", "--", "-D", "warnings", external=True)


# Device sessions. Each venv sees the system site-packages, so a PyTorch build
# that already drives the device (a vendor container's CUDA/ROCm/XPU/NPU torch)
# is used as is; only when the venv has no torch is one installed, from the
# index that serves that backend. A device that is absent fails the session at
# once with the reason, before anything is downloaded.
_TORCH_INDEX = {
    "cpu": "https://download.pytorch.org/whl/cpu",
    "rocm": "https://download.pytorch.org/whl/rocm6.4",
    "xpu": "https://download.pytorch.org/whl/xpu",
}
#: (device spec for accelbench, torch probe that must print True, hint when absent)
_DEVICES = {
    "cpu": ("cpu", "True", "always present"),
    "cuda": ("cuda", "torch.cuda.is_available() and torch.version.hip is None",
             "needs an NVIDIA GPU, its driver and a CUDA build of PyTorch"),
    "rocm": ("cuda", "torch.cuda.is_available() and torch.version.hip is not None",
             "needs an AMD GPU, the ROCm driver and a ROCm build of PyTorch"),
    "xpu": ("xpu", "hasattr(torch, 'xpu') and torch.xpu.is_available()",
            "needs an Intel GPU, its driver and an XPU build of PyTorch"),
    "mps": ("mps", "torch.backends.mps.is_available()",
            "needs Apple silicon with macOS 12.3 or later"),
    "npu": ("npu", "__import__('torch_npu') is not None and torch.npu.is_available()",
            "needs an Ascend NPU, CANN and the torch_npu package"),
}
#: Backend packages to import (``--import``) before opening the device (PrivateUse1 backends).
_IMPORTS: dict[str, list[str]] = {"npu": ["--import", "torch_npu"]}
_HARDWARE_HINT = {  # a cheap check before any download: the device node or driver tool
    "cuda": ("/dev/nvidiactl", "/proc/driver/nvidia/version"),
    "rocm": ("/dev/kfd",),
    "xpu": ("/dev/dri",),
    "npu": ("/dev/davinci_manager",),
}


def _probe(session: nox.Session, expr: str) -> str:
    code = ("import sys\ntry:\n    import torch\nexcept ImportError:\n    print('no-torch')\n"
            f"    sys.exit()\ntry:\n    print(bool({expr}))\nexcept Exception:\n"
            "    print(False)\n")
    out = session.run("python", "-c", code, silent=True)
    return str(out or "").strip().splitlines()[-1] if out else ""


def _prepare(session: nox.Session, backend: str, task: str) -> str:
    """Check the device is there, install torch only if the venv lacks one; return the spec."""
    import os
    import platform

    spec, expr, hint = _DEVICES[backend]
    nodes = _HARDWARE_HINT.get(backend)
    if nodes and not any(os.path.exists(p) for p in nodes):
        session.error(f"{task}-{backend}: no {backend} device on this machine "
                      f"({', '.join(nodes)} absent); {hint}")
    if backend == "mps" and not (platform.system() == "Darwin" and platform.machine() == "arm64"):
        session.error(f"{task}-mps: not an Apple silicon Mac; {hint}")
    state = _probe(session, expr)
    if state == "no-torch":
        index = _TORCH_INDEX.get(backend)
        session.install("torch", *(["--index-url", index] if index else []))
        if backend == "npu":
            session.install("torch-npu")
        state = _probe(session, expr)
    if state != "True":
        session.error(f"{task}-{backend}: the PyTorch in this environment cannot use the device "
                      f"({expr} is {state or 'False'}); {hint}")
    return spec


def _bench(session: nox.Session, backend: str) -> None:
    import os

    spec = _prepare(session, backend, "bench")
    session.install(".[plot]")
    out = f"runs/bench-{backend}"
    session.run("accelbench", "run", "--device", spec, *_IMPORTS.get(backend, []),
                "--suite", "standard", "--out", out,
                *session.posargs, success_codes=[0, 1])
    runs = sorted(p for p in os.listdir(out) if os.path.isdir(os.path.join(out, p)))
    session.run("accelbench", "publish", os.path.join(out, runs[-1]))


def _validate(session: nox.Session, backend: str) -> None:
    """The timing checks of a device, each printing its figures; all output kept in one log.

    The timer self-test (known work, null launch), then the benchmarks that
    compare accelbench with a baseline run beside it: the best bf16 matmul
    shape of a mamf-finder-style sweep, the timer vs the profiler's kernel
    durations on the same launches, cold vs warm cache (and graph vs eager
    where graphs exist), then the tests marked ``gpu`` on accelerators.
    About 10 minutes on a GPU, 5 on a CPU; nothing is downloaded after the
    install step.
    """
    import os

    spec = _prepare(session, backend, "validate")
    if session.venv_backend != "none":  # --no-venv: check the environment already active
        session.install(".[test]")
    os.makedirs("runs", exist_ok=True)
    log_path = os.path.join("runs", f"validate-{backend}.log")
    with open(log_path, "w", encoding="utf-8") as log:
        def step(*args: str) -> None:
            log.write(f"$ {' '.join(args)}\n")
            log.flush()
            session.run(*args, stdout=log, stderr=log, env={"COLUMNS": "160"})

        imports = _IMPORTS.get(backend, [])
        step("python", "-m", "accelbench", "info", "--device", spec, *imports, "--selftest")
        for script in ("bench_mamf.py", "bench_event_vs_profiler.py", "bench_modes.py"):
            step("python", os.path.join("benchmarks", script), "--device", spec, *imports)
        if backend != "cpu":
            step("pytest", "-m", "gpu", "-v", "tests/test_gpu.py")
    session.log(f"validate-{backend}: all output in {log_path}")


@nox.session(name="bench-cpu", python=PYTHON, default=False,
             venv_params=["--system-site-packages"])
def bench_cpu(session: nox.Session) -> None:
    """Run the standard suite on the CPU and publish it to results/."""
    _bench(session, "cpu")


@nox.session(name="bench-cuda", python=PYTHON, default=False,
             venv_params=["--system-site-packages"])
def bench_cuda(session: nox.Session) -> None:
    """Run the standard suite on an NVIDIA GPU and publish it to results/."""
    _bench(session, "cuda")


@nox.session(name="bench-rocm", python=PYTHON, default=False,
             venv_params=["--system-site-packages"])
def bench_rocm(session: nox.Session) -> None:
    """Run the standard suite on an AMD GPU (ROCm) and publish it to results/."""
    _bench(session, "rocm")


@nox.session(name="bench-xpu", python=PYTHON, default=False,
             venv_params=["--system-site-packages"])
def bench_xpu(session: nox.Session) -> None:
    """Run the standard suite on an Intel GPU (XPU) and publish it to results/."""
    _bench(session, "xpu")


@nox.session(name="bench-mps", python=PYTHON, default=False,
             venv_params=["--system-site-packages"])
def bench_mps(session: nox.Session) -> None:
    """Run the standard suite on an Apple GPU (MPS) and publish it to results/."""
    _bench(session, "mps")


@nox.session(name="bench-npu", python=PYTHON, default=False,
             venv_params=["--system-site-packages"])
def bench_npu(session: nox.Session) -> None:
    """Run the standard suite on an Ascend NPU and publish it to results/."""
    _bench(session, "npu")


@nox.session(name="validate-cpu", python=PYTHON, default=False,
             venv_params=["--system-site-packages"])
def validate_cpu(session: nox.Session) -> None:
    """Check accelbench's timing on the CPU against baselines."""
    _validate(session, "cpu")


@nox.session(name="validate-cuda", python=PYTHON, default=False,
             venv_params=["--system-site-packages"])
def validate_cuda(session: nox.Session) -> None:
    """Check accelbench's timing on an NVIDIA GPU against baselines."""
    _validate(session, "cuda")


@nox.session(name="validate-rocm", python=PYTHON, default=False,
             venv_params=["--system-site-packages"])
def validate_rocm(session: nox.Session) -> None:
    """Check accelbench's timing on an AMD GPU (ROCm) against baselines."""
    _validate(session, "rocm")


@nox.session(name="validate-xpu", python=PYTHON, default=False,
             venv_params=["--system-site-packages"])
def validate_xpu(session: nox.Session) -> None:
    """Check accelbench's timing on an Intel GPU (XPU) against baselines."""
    _validate(session, "xpu")


@nox.session(name="validate-mps", python=PYTHON, default=False,
             venv_params=["--system-site-packages"])
def validate_mps(session: nox.Session) -> None:
    """Check accelbench's timing on an Apple GPU (MPS) against baselines."""
    _validate(session, "mps")


@nox.session(name="validate-npu", python=PYTHON, default=False,
             venv_params=["--system-site-packages"])
def validate_npu(session: nox.Session) -> None:
    """Check accelbench's timing on an Ascend NPU against baselines."""
    _validate(session, "npu")


@nox.session(python=PYTHON, default=False)
def publish(session: nox.Session) -> None:
    """Publish run directories (posargs: RUN...) to results/ and refresh results/README.md."""
    if not session.posargs:
        session.error("publish: give one or more run directories: nox -s publish -- runs/<run>")
    session.install(".[plot]")
    for run in session.posargs:
        session.run("accelbench", "publish", run)
