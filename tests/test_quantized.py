"""The quantized family (fp8 scaled matmul, int8 matmul) and the fp8/int8 peaks of the roofline."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import accelbench
from accelbench.analysis.peaks import CpuInfo, cpu_peak, peak_for, peak_kind
from accelbench.analysis.roofline import annotate
from accelbench.devices import CpuDevice
from accelbench.errors import CatalogError, UnsupportedError
from accelbench.numerics.checks import check_case
from accelbench.results.schema import results_frame
from accelbench.workloads.base import Case
from accelbench.workloads.catalog import load_family_file
from accelbench.workloads.quantized import FAMILY, quantize_fp8
from tests.conftest import FAST, Cli

KERNELS = Path(accelbench.__file__).parent / "kernels"
H100 = "NVIDIA H100 80GB HBM3"

TINY_QUANT = """
family = "quantized"
[[case]]
name = "tiny"
tokens = [32]
n = 48
k = 64
scaling = "rowwise"
dtypes = ["fp8_e4m3", "int8"]
"""


def _case(dtype: str, scaling: str = "tensorwise", m: int = 33, n: int = 48,
          k: int = 64) -> Case:
    entry = {"name": "t", "m": m, "n": n, "k": k, "dtypes": [dtype]}
    (case,) = FAMILY.expand(entry | ({} if dtype == "int8" else {"scaling": [scaling]}), "test")
    return case


def test_expansion_names_params_and_errors() -> None:
    cases = FAMILY.expand({"name": "p", "tokens": [16], "n": 32, "k": 64}, "test")
    assert sorted((c.case, c.dtype) for c in cases) == [
        ("p T=16 int_mm", "int8"),
        ("p T=16 rowwise", "fp8_e4m3"), ("p T=16 rowwise", "fp8_e5m2"),
        ("p T=16 tensorwise", "fp8_e4m3"), ("p T=16 tensorwise", "fp8_e5m2"),
    ]
    assert cases[0].params_text.startswith("M=16 N=32 K=64 scaling=")
    with pytest.raises(CatalogError, match="'scaling': 'blockwise' is not one of"):
        FAMILY.expand({"name": "p", "m": 16, "n": 32, "k": 64, "scaling": "blockwise"}, "t")
    with pytest.raises(CatalogError, match="'bf16' is not a dtype of this family"):
        FAMILY.expand({"name": "p", "m": 16, "n": 32, "k": 64, "dtypes": ["bf16"]}, "t")
    with pytest.raises(CatalogError, match="missing field 'n'"):
        FAMILY.expand({"name": "p", "m": 16, "k": 64}, "t")


def test_shapes_are_the_llm_shapes_of_the_matmul_catalog() -> None:
    def shapes(cases: list[Case]) -> set[tuple[str, int, int, int]]:
        return {(" ".join(c.case.split()[:3]), c.param("M"), c.param("N"), c.param("K"))
                for c in cases}

    matmul = {s for s in shapes(load_family_file(KERNELS / "matmul.toml"))
              if not s[0].startswith("square")}
    assert shapes(load_family_file(KERNELS / "quantized.toml")) == matmul


def test_int8_results_are_exact() -> None:
    device = CpuDevice()
    case = _case("int8", m=40, n=56, k=4096)
    prepared = FAMILY.prepare(case, device)
    prepared.fn()
    assert prepared.output is not None and prepared.reference is not None
    out, ref = prepared.output(), prepared.reference()
    assert torch.equal(out, ref)  # integer sums: exactly the float64 product
    assert out.abs().max().item() > 100_000  # full-range int8 inputs, sums of 4096 products
    checked = check_case(case, prepared, device)
    assert checked.mismatch is None and checked.columns["tolerance"] == "rtol=0 atol=0"
    assert checked.columns["max_abs_err"] == 0.0 and checked.columns["deterministic"]
    assert prepared.flops == 2 * 40 * 56 * 4096
    assert prepared.bytes == 40 * 4096 + 4096 * 56 + 4 * 40 * 56


def test_int8_check_catches_one_wrong_element() -> None:
    device = CpuDevice()
    case = _case("int8")
    prepared = FAMILY.prepare(case, device)
    prepared.fn()
    assert prepared.output is not None
    good = prepared.output

    def off_by_one() -> torch.Tensor:
        out = good().clone()
        out[3, 5] += 1
        return out

    prepared.output = off_by_one
    checked = check_case(case, prepared, device)
    assert checked.mismatch is not None and checked.mismatch.startswith("1 of ")


@pytest.mark.parametrize("dtype", ["fp8_e4m3", "fp8_e5m2"])
@pytest.mark.parametrize("scaling", ["tensorwise", "rowwise"])
def test_fp8_agrees_with_the_dequantized_float64_product(dtype: str, scaling: str) -> None:
    device = CpuDevice()
    case = _case(dtype, scaling)
    try:
        prepared = FAMILY.prepare(case, device)
    except UnsupportedError as exc:  # the backend refuses: the reason names the kernel
        assert "torch._scaled_mm" in str(exc)
        return
    prepared.fn()
    checked = check_case(case, prepared, device)
    assert checked.mismatch is None, checked.mismatch
    assert checked.columns["flags"] == ""
    assert prepared.output is not None and prepared.output().dtype == torch.bfloat16


def test_quantization_scales_tensorwise_and_per_row() -> None:
    x = torch.tensor([[1.0, -2.0], [0.5, 0.25]])
    q, scale = quantize_fp8(x, torch.float8_e4m3fn, rowwise=True)
    assert scale.shape == (2, 1)
    assert torch.allclose(scale.reshape(-1), torch.tensor([2.0, 0.5]) / 448.0)
    assert torch.equal(q.float().abs().amax(dim=1), torch.tensor([448.0, 448.0]))
    q, scale = quantize_fp8(x * 1e6, torch.float8_e5m2, rowwise=False)
    assert scale.shape == () and not q.float().isnan().any()  # clamped: no overflow


@pytest.mark.slow
def test_end_to_end_run_of_a_tiny_quantized_suite(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "q.toml").write_text(TINY_QUANT)
    proc = cli("run", "--device", "cpu", "--suite", "q.toml", "--kernels", "quantized",
               "--out", "runs", "--rounds", "1", *FAST)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    frame = accelbench.load(run_dir)
    assert len(frame) == 2 and set(frame["kernel"]) == {"quantized"}
    assert set(frame["status"]) <= {"ok", "unsupported"}, frame[["status", "error"]]
    assert (frame[frame["status"] == "unsupported"]["error"].str.len() > 10).all()
    int8 = frame[frame["dtype"] == "int8"].iloc[0]
    assert int8["status"] == "ok" and int8["max_abs_err"] == 0.0
    assert int8["tflops"] == pytest.approx(2 * 32 * 48 * 64 / int8["median_s"] / 1e12)
    assert "int8 rows: TOP/s" in proc.stdout


def test_fp8_and_int8_peaks() -> None:
    assert peak_kind("fp8_e4m3") == peak_kind("fp8_e5m2") == "fp8"
    assert peak_kind("bf16") == "bf16"
    fp8, int8 = peak_for(H100, "fp8"), peak_for(H100, "int8")
    assert fp8 is not None and (fp8.value, fp8.unit) == (1978.9, "TFLOP/s")
    assert int8 is not None and (int8.value, int8.unit) == (1978.9, "TOP/s")
    a100 = peak_for("NVIDIA A100-SXM4-80GB", "int8")
    assert a100 is not None and a100.value == 624.0
    mi300 = peak_for("AMD Instinct MI300X", "int8")
    assert mi300 is not None and mi300.value == 2614.9
    vnni = CpuInfo("Xeon", "GenuineIntel", 6, 2, 2.0,
                   frozenset({"avx512f", "avx512_vnni", "avx512_bf16"}))
    plain = CpuInfo("Xeon", "GenuineIntel", 6, 2, 2.0, frozenset({"avx2", "fma"}))
    i8, bf16, f8 = cpu_peak("int8", vnni), cpu_peak("bf16", vnni), cpu_peak("fp8", vnni)
    # 2 cores x 2 GHz x 2 ops x 2 units x 64 int8 lanes = 1.024 TOP/s
    assert i8 is not None and i8.value == pytest.approx(1.024) and i8.unit == "TOP/s"
    assert "VNNI" in i8.source and "OP/cycle" in i8.source
    assert f8 is not None and bf16 is not None and f8.value == bf16.value
    assert "no fp8 arithmetic" in f8.source
    slow = cpu_peak("int8", plain)
    assert slow is not None and slow.value == pytest.approx(2 * 2.0 * 2 * 2 * 16 / 1e3)


def test_roofline_puts_fp8_and_int8_rows_against_their_peaks() -> None:
    base = {"run_id": "r", "device": "cuda:0", "device_name": H100, "backend": "cuda",
            "status": "ok", "kernel": "quantized", "case": "c"}
    frame = annotate(results_frame([
        base | {"dtype": "fp8_e4m3", "tflops": 989.45},
        base | {"dtype": "int8", "tflops": 2500.0, "case": "d"},
    ]))
    fp8, int8 = frame.to_dict("records")
    assert fp8["peak_tflops"] == 1978.9 and fp8["pct_of_peak"] == pytest.approx(50.0, rel=1e-3)
    assert int8["peak_tflops"] == 1978.9 and int8["suspect"]  # above the int8 peak
