"""MoE dispatch in the collectives family: all_to_all_single with uneven splits from a routing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import accelbench
from accelbench.errors import CatalogError
from accelbench.workloads.collectives import (
    FAMILY,
    CollectiveSpec,
    count_wrong,
    expected_output,
    pattern,
)
from accelbench.workloads.dispatch import owner_splits
from tests.conftest import FAST

TINY = """
family = "collectives"
[[case]]
op = "all_to_allv"
name = "tiny"
hidden = 24
experts = 16
topk = 4
tokens = [40]
routing = "skewed"
dtypes = ["bf16"]
"""


def _spec(routing: str = "skewed", tokens: int = 64, experts: int = 32, topk: int = 4,
          hidden: int = 8, name: str = "m") -> CollectiveSpec:
    entry = {"op": "all_to_allv", "name": name, "hidden": hidden, "experts": experts,
             "topk": topk, "tokens": tokens, "routing": routing, "dtypes": ["bf16"]}
    (case,) = FAMILY.expand(entry, "test")
    return CollectiveSpec.of(case)


def test_expansion_names_params_and_errors() -> None:
    entry = {"op": "all_to_allv", "name": "deepseek-v3", "hidden": 7168, "experts": 256,
             "topk": 8, "tokens": [16, 128]}
    cases = FAMILY.expand(entry, "test")
    assert len(cases) == 2 * 2 * 2  # T x routing x (fp32, bf16)
    c = cases[-1]
    assert c.case == "all_to_allv dispatch deepseek-v3 T=128 skewed" and c.dtype == "bf16"
    assert c.params_text == "op=all_to_allv T=128 H=7168 E=256 topk=8 routing=skewed"
    spec = CollectiveSpec.of(c)
    assert spec.nbytes(4) == 128 * 8 * 7168 * 2 == spec.size
    with pytest.raises(CatalogError, match="'routing': choose from balanced, skewed"):
        FAMILY.expand(entry | {"routing": "hot"}, "test")
    with pytest.raises(CatalogError, match="missing field 'hidden'"):
        FAMILY.expand({k: v for k, v in entry.items() if k != "hidden"}, "test")


@pytest.mark.parametrize("routing", ["balanced", "skewed"])
@pytest.mark.parametrize("n", [2, 3, 4, 8])
def test_split_sizes_sum_to_tokens_times_topk(routing: str, n: int) -> None:
    spec = _spec(routing)
    assert spec.dispatch is not None
    splits = spec.dispatch.splits(n)
    assert len(splits) == n and all(len(row) == n for row in splits)
    assert all(sum(row) == 64 * 4 for row in splits)  # every rank sends T x topk rows
    received = [sum(splits[s][r] for s in range(n)) for r in range(n)]
    assert sum(received) == n * 64 * 4
    if routing == "skewed":
        assert max(received) > min(received)  # uneven: where the hot experts live gets more


def test_owner_splits_follow_contiguous_expert_blocks() -> None:
    counts = torch.tensor([5, 0, 1, 2, 7, 1])
    assert owner_splits(counts, 2) == (6, 10)
    assert owner_splits(counts, 3) == (5, 3, 8)
    assert owner_splits(counts, 4) == (5, 1, 9, 1)  # experts 0,1 | 2 | 3,4 | 5


def _emulate(spec: CollectiveSpec, n: int) -> list[torch.Tensor]:
    """Each rank's output by slicing every rank's input buffer as all_to_all_single does."""
    assert spec.dispatch is not None
    h, s = spec.dispatch.hidden, spec.dispatch.splits(n)
    inputs = [pattern(r, torch.arange(sum(s[r]) * h), 251).view(-1, h) for r in range(n)]
    pieces = [list(torch.split(inputs[r], list(s[r]))) for r in range(n)]
    return [torch.cat([pieces[src][dst] for src in range(n)]).reshape(-1) for dst in range(n)]


@pytest.mark.parametrize("n", [2, 3, 4])
def test_expected_output_matches_an_emulated_world(n: int) -> None:
    spec = _spec()
    for rank, want in enumerate(_emulate(spec, n)):
        got = expected_output(spec, rank, n)
        assert torch.equal(got, want)
        assert count_wrong(got.float(), want) == (0, "")


def test_bus_factor_counts_the_bytes_actually_sent() -> None:
    even = _spec("balanced", tokens=64, experts=32)
    assert even.bus_factor(4) == pytest.approx(3 / 4)  # even splits: nccl-tests' (n-1)/n
    skewed = _spec("skewed", tokens=64, experts=32)
    assert skewed.dispatch is not None
    s = skewed.dispatch.splits(4)
    busiest = max(max(sum(s[r]) - s[r][r], sum(s[x][r] for x in range(4)) - s[r][r])
                  for r in range(4))
    assert skewed.bus_factor(4) == pytest.approx(busiest / (64 * 4))
    assert skewed.bus_factor(4) > 3 / 4  # the hot rank receives more than an even share
    assert skewed.buffer_bytes(4) > 2 * skewed.nbytes(4)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_rank_dispatch_world_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "a2av.toml").write_text(TINY)
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "SLURM_PROCID", "ACCELBENCH_FAULT")}
    proc = subprocess.run(
        [sys.executable, "-m", "accelbench", "run", "--device", "cpu", "--suite", "a2av.toml",
         "--world-size", "2", "--out", "out", *FAST],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=dict(env, COLUMNS="200"),
        check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = (tmp_path / "out").iterdir()
    frame = accelbench.load(run).set_index("case")
    assert set(frame["status"]) == {"ok"}, frame[["status", "error"]]
    assert (frame["mismatch_frac"] == 0).all()
    for name, row in frame.iterrows():
        spec = _spec(str(name).split()[-1], tokens=40, experts=16, topk=4, hidden=24,
                     name="tiny")
        assert row["bytes"] == 40 * 4 * 24 * 2
        assert row["algbw_gbps"] == pytest.approx(row["bytes"] / row["median_s"] / 1e9)
        assert row["busbw_gbps"] == pytest.approx(row["algbw_gbps"] * spec.bus_factor(2))
    assert "all_to_allv dispatch tiny T=40 skewed" in proc.stdout
