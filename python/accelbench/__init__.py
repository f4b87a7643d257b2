"""accelbench: speed, stability and numerical agreement of AI accelerators.

The native core (:mod:`accelbench._core`, Rust) owns timing and statistics;
this package drives PyTorch kernels on a device and writes run directories.
"""

from __future__ import annotations

from importlib import metadata

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
from accelbench.results import COLUMNS, load, load_samples
from accelbench.support import support_matrix

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
