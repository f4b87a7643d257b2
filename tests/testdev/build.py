"""Build the testdev backend (testdev.cpp) into a shared library, once per cache directory.

The compile uses the compiler and flags that ``torch.utils.cpp_extension``
would use (its include and library paths, the C++ ABI of the installed
torch), called directly so that no ninja is needed. The output is keyed by
a hash of the source, the torch version and the flags, so an unchanged
source is never rebuilt; a file lock makes concurrent builders wait for one
build.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

SOURCE = Path(__file__).with_name("testdev.cpp")


def _flags() -> list[str]:
    import torch
    from torch.utils import cpp_extension

    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    flags = ["-shared", "-fPIC", "-std=c++20", "-O1", "-w", f"-D_GLIBCXX_USE_CXX11_ABI={abi}"]
    flags += [f"-I{p}" for p in cpp_extension.include_paths()]
    lib = str(Path(torch.__file__).resolve().parent / "lib")  # libc10, libtorch_cpu, libtorch
    flags += [f"-L{lib}", f"-Wl,-rpath,{lib}"]
    flags += ["-lc10", "-ltorch_cpu", "-ltorch"]
    return flags


def compiler() -> str | None:
    """The C++ compiler to use (``$CXX``, Python's, ``c++``, ``g++``), None if there is none."""
    for name in (os.environ.get("CXX"), sysconfig.get_config_var("CXX"), "c++", "g++"):
        if name and shutil.which(str(name).split()[0]):
            return str(name).split()[0]
    return None


def library_path(cache_dir: Path) -> Path:
    """Where the library for this source, torch and flags lives under ``cache_dir``."""
    import torch

    key = hashlib.sha256()
    key.update(SOURCE.read_bytes())
    key.update(torch.__version__.encode())
    key.update(" ".join(_flags()).encode())
    return cache_dir / f"testdev-{key.hexdigest()[:16]}.so"


def build(cache_dir: Path) -> tuple[Path, float | None]:
    """The library path and its build time in seconds (None when it was cached)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = library_path(cache_dir)
    with open(cache_dir / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target, None
        cxx = compiler()
        if cxx is None:
            raise RuntimeError("building testdev needs a C++ compiler (set CXX)")
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        started = time.perf_counter()
        cmd = [cxx, str(SOURCE), "-o", str(tmp), *_flags()]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"building testdev failed:\n{done.stderr[-4000:]}")
        tmp.replace(target)
        return target, time.perf_counter() - started


if __name__ == "__main__":
    path, seconds = build(Path(sys.argv[1]))
    print(path, "cached" if seconds is None else f"built in {seconds:.1f} s")
