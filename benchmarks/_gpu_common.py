"""Shared helpers of the GPU benchmark scripts: accelbench's own measurement of one case."""

from __future__ import annotations

from typing import Any

from accelbench.devices import Device
from accelbench.runner import Settings, measure_case
from accelbench.workloads.base import Case


def matmul_case(m: int, n: int, k: int, dtype: str = "bf16") -> Case:
    return Case("matmul", f"bench M={m} N={n} K={k}", dtype, (("M", m), ("N", n), ("K", k)))


def accelbench_row(case: Case, device: Device, **settings: Any) -> dict[str, Any]:
    """The result row accelbench records for ``case`` (same path as ``accelbench run``)."""
    base = {"warmup": 0.5, "max_case_time": 3.0, "target_rel_ci": 0.005}
    outcome = measure_case(case, device, Settings(**{**base, **settings}), "bench")
    if outcome.status != "ok":
        raise RuntimeError(f"{case.case}: {outcome.row.get('error')}")
    return outcome.row
