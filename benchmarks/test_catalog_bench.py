"""pytest-benchmark files over the catalog: the quick suite's matmul cases.

Run: ``pytest benchmarks/ --benchmark-autosave`` (add ``-p accelbench.pytest_plugin``
from a source tree for the ``--accel-*`` options), then ``pytest-benchmark compare``.
Each test is timed by the accelbench sampler on ``--accel-device`` (default
``$ACCELBENCH_DEVICE`` or the best device present) and records TFLOP/s, GB/s and
the CI of the median in ``extra_info``.
"""

from __future__ import annotations

import pytest

from accelbench.pytest_plugin import AccelBenchmark
from accelbench.workloads.base import Case
from accelbench.workloads.catalog import load_suite

CASES = [c for c in load_suite("quick").cases if c.kernel == "matmul"]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.case}-{c.dtype}".replace(" ", "_")
                                             for c in CASES])
def test_matmul(accel_benchmark: AccelBenchmark, case: Case) -> None:
    result = accel_benchmark.case(case)
    if result is not None:  # None under --benchmark-disable
        assert result.median_s > 0
        assert accel_benchmark.extra_info["tflops"] > 0
