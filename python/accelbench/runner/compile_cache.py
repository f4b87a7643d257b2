"""A compile cache private to one run, so that no run's compile times depend on another's.

``torch.compile`` (inductor) keeps compiled graphs and kernels in an on-disk
cache, by default one per user in the system's temporary directory, shared by
every process. A compiled case's ``compile_s`` would then depend on what ran
before, on this machine, in other runs. :func:`private_compile_cache` points
``TORCHINDUCTOR_CACHE_DIR`` (read by inductor whenever it needs the cache)
at a fresh temporary directory for the duration of a run, which its worker
processes inherit, and removes the directory at the end, so the first
compile of each graph in a run is a cold one. The variable is set even when
the user set it: independence of runs is the point. Inductor's compiled
headers (``precompiled_headers``) stay in its default location; they do not
hold compiled graphs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["CACHE_ENV", "private_compile_cache"]

#: The environment variable inductor reads for its cache directory.
CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"


@contextmanager
def private_compile_cache(run_id: str) -> Iterator[Path]:
    """A fresh compile-cache directory in ``CACHE_ENV`` while the block runs; removed after."""
    saved = os.environ.get(CACHE_ENV)
    with tempfile.TemporaryDirectory(prefix=f"accelbench-compile-{run_id}-",
                                     ignore_cleanup_errors=True) as path:
        os.environ[CACHE_ENV] = path
        try:
            yield Path(path)
        finally:
            if saved is None:
                os.environ.pop(CACHE_ENV, None)
            else:
                os.environ[CACHE_ENV] = saved
