"""accelbench: speed, stability and numerical agreement of AI accelerators.

The native core (:mod:`accelbench._core`, Rust) owns timing and statistics;
this package drives PyTorch kernels on a device and writes run directories.
Data flows one way through its subpackages: ``workloads`` (catalog, cases)
-> ``devices`` and ``measure`` (timers, sampler, runner; ``distributed`` for
worlds of ranks; ``numerics`` for the checks) -> ``results`` (schema, run
directory) -> ``analysis`` (compare, roofline, support, consistency) ->
``report`` (tables, plots, publish, export); ``cli`` drives them. Importing
``accelbench`` (and reading runs with :func:`load`) needs no torch.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

from accelbench._core import (
    AccelbenchError,
    Analysis,
    InputError,
    Outliers,
    SampleResult,
    Summary,
    analyze,
    bootstrap_ci,
    clock_resolution,
    drift,
    loop_overhead,
    median_ci,
    outliers,
    sample,
    summarize,
)

if TYPE_CHECKING:
    from accelbench.analysis import load
    from accelbench.analysis.support import support_matrix
    from accelbench.results import COLUMNS, load_samples

#: Names whose modules import pandas, loaded on first use: a worker process, which imports
#: this package on its way to its own modules, does not pay for pandas at every start.
_LAZY = {"load": "accelbench.analysis", "support_matrix": "accelbench.analysis.support",
         "COLUMNS": "accelbench.results", "load_samples": "accelbench.results"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'accelbench' has no attribute {name!r}")

try:
    __version__ = metadata.version("accelbench")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+source"

__all__ = [
    "COLUMNS",
    "AccelbenchError",
    "Analysis",
    "InputError",
    "Outliers",
    "SampleResult",
    "Summary",
    "__version__",
    "analyze",
    "bootstrap_ci",
    "clock_resolution",
    "drift",
    "load",
    "load_samples",
    "loop_overhead",
    "median_ci",
    "outliers",
    "sample",
    "summarize",
    "support_matrix",
]
