"""The moe family and its routings: counts, FLOPs, grouped GEMM vs loop, agreement, statuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import accelbench
from accelbench.devices import CpuDevice
from accelbench.errors import CatalogError, UnsupportedError
from accelbench.kinds import Routing
from accelbench.numerics.checks import check_case
from accelbench.workloads.base import Case
from accelbench.workloads.catalog import load_family_file
from accelbench.workloads.moe import FAMILY, MoeSpec, moe_flops
from accelbench.workloads.routing import ZIPF_S, expert_counts, route
from tests.conftest import FAST, Cli

TINY_MOE = """
family = "moe"
[[case]]
name = "tiny"
hidden = 64
inter = 32
experts = 16
topk = 4
tokens = 24
proj = "gate_up"
routing = "skewed"
dtypes = ["fp32"]

[[case]]
name = "tiny64"
hidden = 64
inter = 32
experts = 16
topk = 4
tokens = 8
proj = "down"
routing = "balanced"
dtypes = ["fp64"]
"""


def _cases(**over: object) -> list[Case]:
    entry: dict[str, object] = {"name": "t", "hidden": 64, "inter": 48, "experts": 16,
                                "topk": 4, "tokens": 40}
    return FAMILY.expand(entry | over, "test")


def _one(proj: str, routing: str, impl: str, **over: object) -> Case:
    return next(c for c in _cases(**over)
                if c.case.split()[1] == proj and routing in c.case and c.case.endswith(impl))


@pytest.mark.parametrize("routing", list(Routing))
@pytest.mark.parametrize(("tokens", "experts", "topk"), [(1, 256, 8), (37, 8, 2), (500, 384, 8)])
def test_routing_counts_sum_to_tokens_times_topk(routing: Routing, tokens: int, experts: int,
                                                 topk: int) -> None:
    choice = route(tokens, experts, topk, routing, seed=7)
    assert choice.shape == (tokens, topk)
    # a token's k experts are distinct
    assert all(len(set(row)) == topk for row in choice.tolist())
    counts = expert_counts(tokens, experts, topk, routing, seed=7)
    assert int(counts.sum()) == tokens * topk
    assert torch.equal(counts, expert_counts(tokens, experts, topk, routing, seed=7))


def test_balanced_is_even_and_skewed_has_hot_experts() -> None:
    balanced = expert_counts(4096, 256, 8, Routing.BALANCED, seed=1)
    assert int(balanced.max() - balanced.min()) <= 1
    skewed = expert_counts(4096, 256, 8, Routing.SKEWED, seed=1)
    ordered = skewed.sort(descending=True).values
    # Zipf s=1.2: the hottest expert takes most tokens (even share: 128 slots)
    assert ZIPF_S == 1.2
    assert int(ordered[0]) > 0.8 * 4096
    assert int(ordered[-1]) < 128 // 4
    # another seed: other hot experts, the same shape of skew
    other = expert_counts(4096, 256, 8, Routing.SKEWED, seed=2)
    assert int(other.argmax()) != int(skewed.argmax()) or not torch.equal(other, skewed)


def test_catalog_expansion_names_params_and_errors() -> None:
    cases = _cases()
    assert len(cases) == 2 * 2 * 2  # proj x routing x impl, one T, bf16
    c = _one("gate_up", "skewed", "grouped_mm")
    assert c.case == "t gate_up T=40 skewed grouped_mm" and c.dtype == "bf16"
    assert c.params_text == "T=40 E=16 topk=4 K=64 N=96 routing=skewed impl=grouped_mm"
    down = MoeSpec.of(_one("down", "balanced", "loop"))
    assert (down.k, down.n, down.routing, down.impl) == (48, 64, Routing.BALANCED, "loop")
    with pytest.raises(CatalogError, match="'topk': 20 exceeds the 16 experts"):
        _cases(topk=20)
    with pytest.raises(CatalogError, match="'routing': 'zipf' is not one of balanced, skewed"):
        _cases(routing="zipf")
    with pytest.raises(CatalogError, match="'int8' is not a dtype of this family"):
        _cases(dtypes=["int8"])
    shipped = load_family_file(Path(accelbench.__file__).parent / "kernels" / "moe.toml")
    names = {c.case for c in shipped}
    assert "deepseek-v3 gate_up T=4096 skewed grouped_mm" in names
    assert "mixtral-8x7b down T=1 balanced loop" in names
    kimi = next(c for c in shipped if c.case.startswith("kimi-k2 gate_up"))
    assert dict(kimi.params)["E"] == 384 and dict(kimi.params)["N"] == 4096


@pytest.mark.parametrize("routing", ["balanced", "skewed"])
def test_flops_are_exact_for_the_routed_tokens(routing: str) -> None:
    case = _one("gate_up", routing, "grouped_mm")
    spec = MoeSpec.of(case)
    counts = spec.counts()
    assert int(counts.sum()) == 40 * 4
    prepared = FAMILY.prepare(case, CpuDevice())
    assert prepared.flops == moe_flops(40, 4, 64, 96) == 2 * int(counts.sum()) * 64 * 96
    active = int((counts > 0).sum())
    assert prepared.bytes == (160 * 64 + active * 64 * 96 + 160 * 96) * 2
    if routing == "skewed":
        assert int(counts.max()) > 2 * 160 / 16  # a hot expert: over twice its even share


def test_grouped_mm_and_loop_agree_with_float64_and_each_other() -> None:
    device = CpuDevice()
    outs = {}
    for impl in ("grouped_mm", "loop"):
        case = _one("down", "skewed", impl)
        prepared = FAMILY.prepare(case, device)
        prepared.fn()
        checked = check_case(case, prepared, device)
        assert checked.mismatch is None, checked.mismatch
        assert checked.columns["ref_elements"] == 160 * 64
        assert checked.columns["flags"] == "" and checked.columns["deterministic"]
        assert prepared.output is not None
        outs[impl] = prepared.output().double()
    # the same inputs: both implementations round the same float32 sums to bf16
    diff = (outs["grouped_mm"] - outs["loop"]).abs().max().item()
    assert diff <= 0.02 * outs["loop"].abs().max().item()
    assert outs["loop"].std().item() > 1.0  # real products of normal inputs, not zeros


def test_reference_covers_a_subset_of_rows_for_large_cases(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    from accelbench.workloads import matmul

    monkeypatch.setattr(matmul, "REFERENCE_MAX_MACS", 160 * 64 * 96 // 8)
    case = _one("gate_up", "balanced", "loop")
    prepared = FAMILY.prepare(case, CpuDevice())
    prepared.fn()
    assert prepared.reference_slice is not None and 10 <= len(prepared.reference_slice) <= 20
    checked = check_case(case, prepared, CpuDevice())
    assert checked.mismatch is None
    assert checked.columns["ref_elements"] == len(prepared.reference_slice) * 96


def test_a_kernel_the_backend_refuses_is_unsupported_with_its_reason() -> None:
    # PyTorch's CPU grouped GEMM takes fp32, bf16 and fp16, not float64; the loop runs
    case = _one("down", "balanced", "grouped_mm", dtypes=["fp64"])
    with pytest.raises(UnsupportedError, match=r"torch\._grouped_mm: Expected mat_a .* Double"):
        FAMILY.prepare(case, CpuDevice())
    loop = FAMILY.prepare(_one("down", "balanced", "loop", dtypes=["fp64"]), CpuDevice())
    loop.fn()
    assert loop.output is not None and loop.output().dtype == torch.float64


@pytest.mark.slow
def test_end_to_end_run_of_a_tiny_moe_suite(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "moe.toml").write_text(TINY_MOE)
    proc = cli("run", "--device", "cpu", "--suite", "moe.toml", "--kernels", "moe",
               "--out", "runs", "--rounds", "1", *FAST)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    frame = accelbench.load(run_dir).set_index("case")
    assert len(frame) == 4  # grouped_mm and loop of each entry
    refused = frame.loc["tiny64 down T=8 balanced grouped_mm"]
    assert refused["status"] == "unsupported"
    assert refused["error"].startswith("torch._grouped_mm: Expected mat_a")
    frame = frame.drop(index="tiny64 down T=8 balanced grouped_mm")
    assert set(frame["status"]) == {"ok"}, frame[["status", "error"]]
    row = frame.loc["tiny gate_up T=24 skewed grouped_mm"]
    assert row["params"] == "T=24 E=16 topk=4 K=64 N=64 routing=skewed impl=grouped_mm"
    assert row["flops"] == 2 * 24 * 4 * 64 * 64
    assert row["tflops"] == pytest.approx(row["flops"] / row["median_s"] / 1e12)
    assert (frame["mismatch_frac"] == 0).all() and frame["deterministic"].all()
    assert "tiny gate_up T=24 skewed loop" in proc.stdout
