"""What a run records about where it ran: host, software versions, source revision."""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from accelbench.devices import Device

__all__ = ["clocks", "device_identity", "environment", "git_revision", "library_versions",
           "package_version"]


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_revision() -> str | None:
    """Commit of the accelbench source tree, when it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    rev = out.stdout.strip()
    if out.returncode != 0 or not rev:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, timeout=5, check=False,
    ).stdout.strip()
    return rev + ("-dirty" if dirty else "")


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def clocks() -> dict[str, Any]:
    """Clock and power policy that change measured speed (Linux sysfs; None elsewhere).

    A different CPU frequency governor, turbo setting or frequency cap
    between two runs explains a speed difference without any change of
    software, so A/B comparisons list these keys when they differ.
    """
    base = "/sys/devices/system/cpu"
    freq = f"{base}/cpu0/cpufreq"
    no_turbo = _read(f"{base}/intel_pstate/no_turbo")
    boost = _read(f"{base}/cpufreq/boost")
    return {
        "cpu_governor": _read(f"{freq}/scaling_governor"),
        "cpu_max_khz": _read(f"{freq}/scaling_max_freq"),
        "cpu_min_khz": _read(f"{freq}/scaling_min_freq"),
        "cpu_turbo": (None if no_turbo is None and boost is None
                      else (no_turbo == "0") if no_turbo is not None else boost == "1"),
    }


def library_versions() -> dict[str, Any]:
    """Versions of the math libraries under PyTorch (BLAS, oneDNN, cuDNN, NCCL)."""
    out: dict[str, Any] = {"torch_git": getattr(torch.version, "git_version", None)}
    try:
        info = torch.__config__.parallel_info().splitlines()
    except Exception:
        info = []
    out["parallel_backend"] = next(
        (x.split(":", 1)[1].strip() for x in info if x.startswith("ATen parallel backend")), None)
    out["interop_threads"] = torch.get_num_interop_threads()
    out["blas"] = next((x.replace("Intel(R) ", "").split("-Product")[0].strip() for x in info
                        if "Math Kernel Library" in x or "OpenBLAS" in x), None)
    out["onednn"] = next((x.replace("Intel(R)", "").split("(Git")[0].strip() for x in info
                          if "MKL-DNN" in x or "oneDNN" in x), None)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        out[var] = os.environ.get(var)
    out["cudnn"] = None
    out["nccl"] = None
    if torch.cuda.is_available():
        try:
            out["cudnn"] = torch.backends.cudnn.version()  # type: ignore[no-untyped-call]
        except Exception:
            out["cudnn"] = None
        try:
            nccl = torch.cuda.nccl.version()  # type: ignore[no-untyped-call]
            out["nccl"] = ".".join(map(str, nccl)) if isinstance(nccl, tuple) else nccl
        except Exception:
            out["nccl"] = None
    return out


def device_identity(device: Device) -> dict[str, Any]:
    """Which physical device and driver: UUID and driver version where the backend tells."""
    out: dict[str, Any] = {"uuid": None, "driver": None}
    if device.backend == "cuda":
        try:
            props = torch.cuda.get_device_properties(device.index or 0)
            uuid = getattr(props, "uuid", None)
            out["uuid"] = str(uuid) if uuid is not None else None
        except Exception:
            pass
        with contextlib.suppress(Exception):
            out["driver"] = getattr(torch._C, "_cuda_getDriverVersion")()  # noqa: B009
        version = _read("/proc/driver/nvidia/version")
        if version:
            out["driver"] = version.splitlines()[0]
    elif device.backend == "cpu":
        out["microcode"] = _cpu_field("microcode")
    return out


def _cpu_field(name: str) -> str | None:
    text = _read("/proc/cpuinfo")
    for line in (text or "").splitlines():
        if line.startswith(name):
            return line.split(":", 1)[1].strip()
    return None


def environment(device: Device) -> dict[str, Any]:
    """Host, software and device facts for ``meta.json``."""
    from accelbench import __version__

    return {
        "host": {
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "logical_cpus": os.cpu_count(),
            "python": sys.version.split()[0],
        },
        "software": {
            "accelbench": __version__,
            "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
            "torch_hip": getattr(torch.version, "hip", None),
            "numpy": package_version("numpy"),
            "pandas": package_version("pandas"),
            "torch_threads": torch.get_num_threads(),
        },
        "device": {
            "spec": device.spec,
            "backend": device.backend,
            "name": device.name,
            "slug": device.slug,
            "timing_method": device.timing_method,
            **device.facts,
            **device_identity(device),
        },
        "libraries": library_versions(),
        "clocks": clocks(),
        "git_revision": git_revision(),
    }
