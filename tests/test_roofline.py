"""Peak table, CPU estimate and the roofline annotation on synthetic frames."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from accelbench.analysis.peaks import CpuInfo, cpu_info, cpu_peak, match_device, peak_for
from accelbench.analysis.roofline import ROOFLINE_COLUMNS, annotate, peak_sources
from accelbench.report.tables import roofline_table
from accelbench.results.schema import COLUMN_NAMES, results_frame

H100 = "NVIDIA H100 80GB HBM3"


@pytest.mark.parametrize(("name", "entry"), [
    ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM"),
    ("NVIDIA H100 PCIe", "NVIDIA H100 PCIe"),
    ("NVIDIA H100 NVL", "NVIDIA H100 NVL"),
    ("NVIDIA H200", "NVIDIA H200 SXM"),
    ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB SXM"),
    ("NVIDIA A100 80GB PCIe", "NVIDIA A100 80GB PCIe"),
    ("NVIDIA A100-PCIE-40GB", "NVIDIA A100 40GB"),
    ("AMD Instinct MI300X", "AMD Instinct MI300X"),
    ("AMD Instinct MI325X", "AMD Instinct MI325X"),
    ("Intel(R) Data Center GPU Max 1100", "Intel Data Center GPU Max 1100"),
    ("Ascend910B2", "Huawei Ascend 910B"),
    ("Apple M2 Max", "Apple M2 Max"),
])
def test_device_names_match_the_right_entry(name: str, entry: str) -> None:
    spec = match_device(name)
    assert spec is not None and spec.name == entry
    assert spec.source


def test_peak_for_values_units_and_unknowns() -> None:
    bf16 = peak_for(H100, "bf16")
    assert bf16 is not None and (bf16.value, bf16.unit, bf16.estimated) == (989.4, "TFLOP/s", False)
    mem = peak_for(H100, "memory")
    assert mem is not None and (mem.value, mem.unit) == (3350.0, "GB/s")
    assert "datasheet" in mem.source
    assert peak_for("NVIDIA A100-SXM4-80GB", "fp8") is None  # A100 has no fp8
    assert peak_for("Some Unknown Accelerator", "bf16") is None
    with pytest.raises(ValueError, match="unknown peak kind"):
        peak_for(H100, "int4")


def test_cpu_estimate_is_cores_times_ghz_times_fma_and_labelled() -> None:
    avx512 = CpuInfo("Xeon", "GenuineIntel", 6, 4, 2.0, frozenset({"avx512f", "avx2", "fma"}))
    p = cpu_peak("fp32", avx512)
    # 4 cores x 2 GHz x (2 FMA x 2 units x 16 lanes) = 512 GFLOP/s
    assert p is not None and p.value == pytest.approx(0.512) and p.estimated
    assert p.source.startswith("estimate:")
    zen4 = CpuInfo("EPYC", "AuthenticAMD", 25, 2, 2.5, frozenset({"avx512f", "avx512_bf16"}))
    fp32, bf16 = cpu_peak("fp32", zen4), cpu_peak("bf16", zen4)
    assert fp32 is not None and fp32.value == pytest.approx(2 * 2.5 * 32 / 1e3)
    assert bf16 is not None and bf16.value == pytest.approx(2 * fp32.value)
    assert cpu_peak("fp32", CpuInfo("x", "", None, 2, None, frozenset())) is None
    local = peak_for(cpu_info().model, "fp32")
    if cpu_info().ghz is not None:
        assert local is not None and local.estimated and "estimate" in local.source
    assert peak_for(cpu_info().model, "memory") is None  # no bandwidth estimate is made


def test_cpu_estimate_uses_the_measured_clock_when_the_os_reports_less() -> None:
    from accelbench.analysis.peaks import measured_ghz

    measured = measured_ghz()
    if measured is None:
        pytest.skip("no clock measurement on this architecture")
    assert 0.2 < measured < 7.0
    info = cpu_info()
    assert info.ghz is not None and info.ghz >= measured
    if info.ghz == measured:
        assert info.ghz_source.startswith("measured")
    peak = cpu_peak("fp32", info)
    assert peak is not None and f"{info.ghz:.2f} GHz ({info.ghz_source})" in peak.source


def _row(**kw: Any) -> dict[str, Any]:
    base = {"run_id": "r", "device": "cuda:0", "device_name": H100, "backend": "cuda",
            "status": "ok", "dtype": "bf16", "kernel": "matmul", "case": "c"}
    return base | kw


def test_annotate_percent_of_peak_best_matmul_and_suspect() -> None:
    frame = results_frame([
        _row(case="mm a", tflops=800.0, gbps=100.0),
        _row(case="mm b", tflops=600.0),
        _row(kernel="attention", case="prefill", tflops=400.0, gbps=50.0),
        _row(kernel="attention", case="decode", tflops=5.0, gbps=2680.0),
        _row(kernel="memory", case="copy 16 MiB", dtype="fp32", gbps=5000.0),
        _row(kernel="attention", case="broken", tflops=1200.0),
        _row(kernel="matmul", case="fp32", dtype="fp32", tflops=50.0),
        _row(kernel="attention", case="failed", status="error", tflops=None),
        _row(device_name="Mystery chip", case="unknown", tflops=3.0),
    ])
    out = annotate(frame).set_index("case")
    assert out.loc["mm a", "pct_of_peak"] == pytest.approx(100 * 800 / 989.4)
    assert out.loc["mm a", "pct_of_best_matmul"] == pytest.approx(100.0)
    assert out.loc["prefill", "pct_of_best_matmul"] == pytest.approx(50.0)
    # decode is judged against bandwidth: 2680 / 3350 = 80% beats 5 / 989 TFLOP/s
    assert out.loc["decode", "pct_of_peak"] == pytest.approx(80.0)
    assert out.loc["decode", "peak_gbps"] == 3350.0
    assert bool(out.loc["copy 16 MiB", "suspect"]) is True  # 5000 GB/s > 3350: cache, not a win
    assert bool(out.loc["broken", "suspect"]) is True  # 1200 > 989.4 TFLOP/s
    assert bool(out.loc["mm a", "suspect"]) is False
    assert out.loc["fp32", "pct_of_best_matmul"] == pytest.approx(100.0)  # best per dtype
    assert out.loc["fp32", "peak_tflops"] == 67.0
    assert pd.isna(out.loc["failed", "pct_of_peak"]) and pd.isna(out.loc["failed", "suspect"])
    assert pd.isna(out.loc["unknown", "suspect"]) and pd.isna(out.loc["unknown", "peak_tflops"])
    for name, dtype in ROOFLINE_COLUMNS.items():
        assert name in COLUMN_NAMES and str(out[name].dtype) == dtype.lower().replace(
            "float64", "float64")
    sources = peak_sources(out.reset_index())
    assert any("H100" in s for s in sources)
    table = roofline_table(out.reset_index())
    assert table is not None and table.row_count == 8


def test_cpu_rows_get_the_labelled_estimate() -> None:
    if cpu_info().ghz is None:
        pytest.skip("the OS reports no CPU frequency here")
    frame = results_frame([_row(device_name=cpu_info().model, backend="cpu", dtype="fp32",
                                tflops=0.001)])
    out = annotate(frame)
    assert bool(out.loc[0, "peak_estimated"]) is True
    assert str(out.loc[0, "peak_source"]).startswith("estimate:")
    assert any(s.endswith("(estimate)") for s in peak_sources(out))
