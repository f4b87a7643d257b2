"""Real-GPU checks (marker ``gpu``): skipped where no CUDA/ROCm device is present."""

from __future__ import annotations

import pytest
import torch

from accelbench.devices import resolve_device
from accelbench.measure.case import measure_case
from accelbench.measure.core import Settings
from accelbench.measure.selftest import selftest
from accelbench.workloads.base import Case

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA/ROCm device"),
]

FAST = Settings(warmup=0.2, max_case_time=1.0, target_rel_ci=0.01)


def _case(m: int, n: int, k: int) -> Case:
    return Case("matmul", f"gpu {m}x{n}x{k}", "bf16", (("M", m), ("N", n), ("K", k)))


def _median(case: Case, **kw: object) -> dict[str, object]:
    settings = Settings(**{**FAST.as_dict(), **kw})
    out = measure_case(case, resolve_device("cuda"), settings, "gpu-test")
    assert out.status == "ok", out.row.get("error")
    return out.row


def test_selftest_passes_on_the_real_device() -> None:
    checks = selftest(resolve_device("cuda"), budget_s=0.3)
    bad = [(c.name, c.error) for c in checks if not c.ok]
    assert not bad
    assert sum(c.tolerance is not None for c in checks) >= 7


def test_cold_cache_is_slower_than_warm_for_a_gemv_that_fits_l2() -> None:
    case = _case(1, 4096, 4096)  # 32 MiB weight
    # Graph replay, so that warm launches are not limited by the host's launch rate.
    warm, cold = _median(case, graph=True), _median(case, cache="cold", graph=True)
    assert cold["cache_state"] == "cold" and cold["timing_method"] == "graph-events"
    assert float(cold["median_s"]) > 1.1 * float(warm["median_s"])  # type: ignore[arg-type]
    eager_cold = _median(case, cache="cold")
    assert eager_cold["timing_method"] == "device-events-per-iter"
    assert float(eager_cold["median_s"]) > 1.1 * float(warm["median_s"])  # type: ignore[arg-type]


def test_graph_replay_beats_eager_launches_of_a_tiny_kernel() -> None:
    case = _case(64, 64, 64)
    eager, graph = _median(case), _median(case, graph=True)
    assert graph["timing_method"] == "graph-events"
    assert float(graph["median_s"]) < 0.8 * float(eager["median_s"])  # type: ignore[arg-type]


def test_cold_graph_copies_cover_twice_the_l2() -> None:
    device = resolve_device("cuda")
    row = _median(_case(1, 1024, 1024), cache="cold", graph=True)
    assert float(row["cold_bytes"]) >= 2 * device.llc_bytes()  # type: ignore[arg-type]


def test_telemetry_columns_are_filled_on_nvidia() -> None:
    pytest.importorskip("pynvml")
    device = resolve_device("cuda")
    if device.facts.get("vendor") != "nvidia":
        pytest.skip("NVML is NVIDIA only")
    row = _median(_case(4096, 4096, 4096))
    assert float(row["sm_clock_mhz"]) > 100  # type: ignore[arg-type]
    assert float(row["power_w"]) > 10  # type: ignore[arg-type]
    assert 0.0 <= float(row["throttled_frac"]) <= 1.0  # type: ignore[arg-type]
    assert float(row["host_submit_s"]) > 0  # type: ignore[arg-type]
