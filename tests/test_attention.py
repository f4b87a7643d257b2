"""Attention family: FLOP/byte formulas, catalog, and outputs of every backend vs references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from accelbench.devices import CpuDevice
from accelbench.errors import CatalogError, UnsupportedError
from accelbench.workloads import attention
from accelbench.workloads.attention import (
    FAMILY,
    AttnShape,
    attention_bytes,
    attention_flops,
    causal_pairs,
)
from accelbench.workloads.base import Case
from accelbench.workloads.catalog import load_family_file

CATALOG = Path(__file__).resolve().parents[1] / "python" / "accelbench" / "kernels"


def test_causal_pairs_match_pytorchs_top_left_mask() -> None:
    for sq, skv in [(1, 1), (8, 8), (5, 3), (3, 5), (1, 7), (7, 1), (64, 100), (100, 64)]:
        mask = torch.ones(sq, skv, dtype=torch.bool).tril()  # what is_causal=True keeps
        assert causal_pairs(sq, skv) == int(mask.sum())


def test_forward_flops_hand_computed() -> None:
    # 4*B*H*S*S*D without a mask: 4*2*4*8*8*16
    assert attention_flops(AttnShape(2, 4, 4, 8, 8, 16, 16, False)) == 32768
    # causal s=8 keeps 36 pairs: 2*B*H*36*(D+D) = 2*2*4*36*32
    assert attention_flops(AttnShape(2, 4, 4, 8, 8, 16, 16, True)) == 18432
    # MLA dims (192 / 128): 2*1*2*(4*4)*(192+128)
    assert attention_flops(AttnShape(1, 2, 2, 4, 4, 192, 128, False)) == 20480
    # Sq > Skv causal: rows keep 1,2,3,3,3 keys = 12 pairs; 2*1*1*12*(2+2)
    assert attention_flops(AttnShape(1, 1, 1, 5, 3, 2, 2, True)) == 96
    # decode (Sq=1) with GQA counts the query heads: 2*4*32*1*8192*256
    assert attention_flops(AttnShape(4, 32, 8, 1, 8192, 128, 128, False)) == 536870912


def test_backward_is_two_and_a_half_forward() -> None:
    shape = AttnShape(1, 2, 2, 16, 16, 8, 8, True)
    fwd = attention_flops(shape)
    assert attention_flops(shape, backward=True) == fwd + 5 * fwd // 2


def test_decode_bytes_read_q_k_v_write_o() -> None:
    # B=2, Hq=8, Hkv=2, L=16, D=4, 2-byte dtype: Q 64 + K 256 + V 256 + O 64 elements
    shape = AttnShape(2, 8, 2, 1, 16, 4, 4, False)
    assert attention_bytes(shape, 2) == (64 + 256 + 256 + 64) * 2
    # MLA-style dims: K uses Dqk, V and O use Dv
    mla = AttnShape(1, 2, 1, 1, 10, 6, 4, False)
    assert attention_bytes(mla, 4) == (2 * 6 + 10 * 6 + 10 * 4 + 2 * 4) * 4
    assert attention_bytes(shape, 2, backward=True) == 3 * attention_bytes(shape, 2)


def _case(params: dict[str, Any], dtype: str = "fp32") -> Case:
    order = ("B", "Hq", "Hkv", "Sq", "Skv", "Dqk", "Dv", "causal", "sdpa", "pass")
    return Case("attention", f"test {sorted(params.items())}", dtype,
                tuple((k, params[k]) for k in order))


VARIANTS = {
    "prefill causal gqa": dict(B=2, Hq=4, Hkv=2, Sq=48, Skv=48, Dqk=64, Dv=64, causal=1),
    "prefill non-causal": dict(B=1, Hq=3, Hkv=3, Sq=40, Skv=40, Dqk=64, Dv=64, causal=0),
    "decode gqa": dict(B=3, Hq=8, Hkv=2, Sq=1, Skv=77, Dqk=128, Dv=128, causal=0),
    "mla dims": dict(B=1, Hq=2, Hkv=2, Sq=32, Skv=32, Dqk=192, Dv=128, causal=1),
}


def _prepare(params: dict[str, Any], backend: str, pas: str = "fwd", dtype: str = "fp32") -> Any:
    return FAMILY.prepare(_case({**params, "sdpa": backend, "pass": pas}, dtype), CpuDevice())


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("pas", ["fwd", "fwd+bwd"])
def test_every_available_backend_matches_math_and_float64(variant: str, pas: str) -> None:
    params = VARIANTS[variant]
    math = _prepare(params, "math", pas)
    math.fn()
    ref = math.reference()
    out_math = math.output()[math.reference_slice]
    assert (out_math.double() - ref).abs().max().item() < 1e-5
    ran = 0
    for backend in attention.BACKENDS:
        try:
            prep = _prepare(params, backend, pas)
        except UnsupportedError as exc:
            assert backend in str(exc) or "PyTorch" in str(exc)
            continue
        result = prep.fn()
        ran += 1
        assert torch.allclose(prep.output(), math.output(), atol=2e-5, rtol=1e-4), backend
        if pas == "fwd+bwd":  # the gradients of every backend agree with the math backend's
            for got, want in zip(result, math.fn(), strict=True):  # type: ignore[call-overload]
                assert torch.allclose(got, want, atol=1e-4, rtol=1e-3), backend
    assert ran >= 1


def test_flash_runs_on_cpu_and_efficient_is_unsupported_with_reason() -> None:
    params = VARIANTS["prefill causal gqa"]
    prep = _prepare(params, "flash", dtype="bf16")
    prep.fn()
    err = (prep.output()[prep.reference_slice].double() - prep.reference()).abs().max()
    assert err.item() < 3e-2  # bf16 inputs, bf16 output
    with pytest.raises(UnsupportedError, match="'efficient' has no kernel"):
        _prepare(params, "efficient")


def test_flash_refuses_mla_dims_on_cpu_with_pytorchs_reason() -> None:
    with pytest.raises(UnsupportedError, match="same last dimension"):
        _prepare(VARIANTS["mla dims"], "flash")


def test_reference_slice_bounds_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attention, "REF_BUDGET", 2 * 64 * 10)
    params = dict(B=2, Hq=4, Hkv=2, Sq=64, Skv=64, Dqk=32, Dv=32, causal=1)
    prep = _prepare(params, "math")
    prep.fn()
    ref = prep.reference()
    assert ref.shape == (1, 2, 10, 32)  # batch 0, KV group 0's two heads, the last 10 rows
    got = prep.output()[prep.reference_slice]
    assert got.shape == ref.shape
    assert (got.double() - ref).abs().max().item() < 1e-5


def test_too_large_case_is_unsupported_not_an_error() -> None:
    params = dict(B=64, Hq=128, Hkv=8, Sq=131072, Skv=131072, Dqk=128, Dv=128, causal=1)
    with pytest.raises(UnsupportedError, match="math backend materialises"):
        _prepare(params, "math")


def test_catalog_names_carry_model_and_variant() -> None:
    cases = load_family_file(CATALOG / "attention.toml")
    by_name = {(c.case, c.dtype): c for c in cases}
    c = by_name[("llama3-70b decode L=8192 b=16 flash fwd", "bf16")]
    assert c.model == "Llama-3.1-70B"
    assert dict(c.params) | {} == {"B": 16, "Hq": 64, "Hkv": 8, "Sq": 1, "Skv": 8192, "Dqk": 128,
                                   "Dv": 128, "causal": 0, "sdpa": "flash", "pass": "fwd"}
    assert ("llama3-8b prefill causal s=4096 cudnn fwd+bwd", "bf16") in by_name
    assert ("llama3-8b prefill non-causal s=512 math fwd", "fp32") in by_name
    mla = by_name[("deepseek-v3 prefill causal s=2048 efficient fwd", "bf16")]
    assert (mla.param("Dqk"), mla.param("Dv")) == (192, 128)
    models = {c.model for c in cases}
    assert {"Llama-3.1-8B", "Llama-3.1-70B", "Llama-3.1-405B", "Qwen2.5-7B", "DeepSeek-V3",
            "Mixtral-8x7B"} <= models
    assert all(c.case.split()[0] in {"llama3-8b", "llama3-70b", "llama3-405b", "qwen2.5-0.5b",
                                     "qwen2.5-7b", "mixtral-8x7b", "deepseek-v3"} for c in cases)


@pytest.mark.parametrize(("entry", "message"), [
    ({"mode": "decode", "heads_q": 8, "head_dim": 64, "kv_len": 16, "causal": True},
     "never causal"),
    ({"mode": "prefill", "heads_q": 6, "heads_kv": 4, "head_dim": 64, "seq": 16}, "multiple"),
    ({"mode": "prefill", "heads_q": 8, "head_dim": 64, "kv_len": 16}, "not 'kv_len'"),
    ({"mode": "prefill", "heads_q": 8, "head_dim": 64, "seq": 16, "backends": ["fast"]},
     "'fast' is not one of"),
    ({"mode": "train", "heads_q": 8, "head_dim": 64, "seq": 16}, "'mode'"),
    ({"mode": "prefill", "heads_q": [8, 16], "head_dim": 64, "seq": 16}, "one value"),
    ({"mode": "prefill", "heads_q": 8, "head_dim_qk": 64, "seq": 16}, "head_dim"),
])
def test_bad_catalog_entries_are_rejected(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        FAMILY.expand({"name": "x", **entry}, "f.toml: case[0]")
