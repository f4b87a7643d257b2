"""What a run records about where it ran: host, software versions, source revision."""

from __future__ import annotations

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

__all__ = ["environment", "git_revision", "package_version"]


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
        },
        "git_revision": git_revision(),
    }
