"""MoE token dispatch between ranks: ``all_to_all_single`` with uneven splits (``all_to_allv``).

In expert parallelism the E experts are split over the n ranks (rank d owns
experts ``[d*E//n, (d+1)*E//n)``). Every rank routes its own T tokens
(:mod:`accelbench.workloads.routing`, seeded per rank) and sends each token
slot, one row of ``hidden`` elements per (token, expert) pair, to the rank
that owns the expert: the rows are sorted by expert, so rank r's input splits
are ``S[r][d]`` = its slots routed to rank d's experts, and rank r receives
``S[s][r]`` rows from every rank s. A rank's input splits sum to ``T*topk``.
This is the plain all-to-all dispatcher (a token routed to two experts of one
rank is sent twice; DeepEP-style deduplication and fp8 payloads are not
modelled).

**Bytes.** ``bytes`` is the send buffer of one rank, ``T * topk * hidden *
itemsize``, the same on every rank (nccl-tests' "size"); ``algbw = bytes /
time``. The bus bandwidth counts the bytes actually sent: a rank's off-rank
traffic is what it sends to or receives from other ranks (its own slice stays
local), and the case ends when the busiest rank is done, so ``busbw = max
over ranks of max(sent, received off-rank) / time`` (:meth:`Dispatch.bus_factor`).
With even splits this is nccl-tests' all_to_all factor ``(n-1)/n``.

**Data check.** The input of rank r is the usual integer pattern over its
flat send buffer; rank r must receive, from each rank s in order, the rows of
s's buffer that s routed to r (:meth:`Dispatch.expected`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from accelbench.errors import CatalogError
from accelbench.kinds import Routing
from accelbench.workloads.base import (
    Case,
    check_fields,
    dtypes_of,
    positive_ints,
    sweep,
    torch_dtype,
    variant_seed,
)
from accelbench.workloads.routing import expert_counts

__all__ = ["Dispatch", "expand_dispatch", "owner_splits"]

_FIELDS = ("op", "name", "hidden", "experts", "topk", "tokens", "routing", "dtypes",
           "description")


def owner_splits(counts: torch.Tensor, world_size: int) -> tuple[int, ...]:
    """Token slots per destination rank from the slots per expert (contiguous expert blocks)."""
    experts = counts.numel()
    owner = torch.arange(experts) * world_size // experts
    per_rank = torch.zeros(world_size, dtype=torch.int64).index_add_(0, owner, counts)
    return tuple(int(v) for v in per_rank)


@dataclass(frozen=True)
class Dispatch:
    """One dispatch case: T tokens per rank, hidden size, E experts, top-k, routing."""

    tokens: int
    hidden: int
    experts: int
    topk: int
    routing: Routing
    seed: int
    dtype: str

    @classmethod
    def of(cls, case: Case) -> Dispatch:
        p = dict(case.params)
        return cls(int(p["T"]), int(p["H"]), int(p["E"]), int(p["topk"]), Routing(p["routing"]),
                   variant_seed(f"{case.kernel}|{case.case}"), case.dtype)

    @property
    def itemsize(self) -> int:
        return torch.empty((), dtype=torch_dtype(self.dtype)).element_size()

    def splits(self, world_size: int) -> tuple[tuple[int, ...], ...]:
        """``S[r][d]``: rows rank r sends to rank d (each row sums to ``T * topk``)."""
        return _splits(self.tokens, self.experts, self.topk, self.routing, self.seed,
                       world_size)

    def send_rows(self) -> int:
        return self.tokens * self.topk

    def nbytes(self) -> int:
        """Bytes of one rank's send buffer (the same on every rank)."""
        return self.send_rows() * self.hidden * self.itemsize

    def buffer_bytes(self, world_size: int) -> int:
        """Device bytes of the largest rank's send and receive buffers."""
        s = self.splits(world_size)
        recv = max(sum(s[src][r] for src in range(world_size)) for r in range(world_size))
        return (self.send_rows() + recv) * self.hidden * self.itemsize

    def bus_factor(self, world_size: int) -> float:
        """Busiest rank's off-rank bytes (sent or received) over the send buffer's bytes."""
        s = self.splits(world_size)
        busiest = 0
        for r in range(world_size):
            sent = sum(s[r][d] for d in range(world_size) if d != r)
            received = sum(s[src][r] for src in range(world_size) if src != r)
            busiest = max(busiest, sent, received)
        return busiest / self.send_rows()

    def expected(self, rank: int, world_size: int, spread: int,
                 pattern: Callable[[int, torch.Tensor, int], torch.Tensor]) -> torch.Tensor:
        """What ``rank`` receives (int64, flat): each sender's rows for it, in sender order.

        ``pattern(rank, index, spread)`` is the collectives' input pattern (passed in:
        the collectives module builds on this one, not the other way round).
        """
        s, h = self.splits(world_size), self.hidden
        parts = []
        for src in range(world_size):
            start = sum(s[src][:rank])
            parts.append(pattern(src, torch.arange(start * h, (start + s[src][rank]) * h),
                                 spread))
        return torch.cat(parts)


@lru_cache(maxsize=32)
def _splits(tokens: int, experts: int, topk: int, routing: Routing, seed: int,
            world_size: int) -> tuple[tuple[int, ...], ...]:
    return tuple(owner_splits(expert_counts(tokens, experts, topk, routing,
                                            variant_seed(f"{seed}|rank={r}")), world_size)
                 for r in range(world_size))


def expand_dispatch(entry: Mapping[str, Any], where: str, kernel: str,
                    default_dtypes: tuple[str, ...]) -> list[Case]:
    """Cases of an ``op = "all_to_allv"`` entry: ``all_to_allv dispatch NAME T=.. ROUTING``."""
    check_fields(entry, _FIELDS, where, required=("op", "name", "hidden", "experts", "topk",
                                                  "tokens"))
    hidden, experts, topk = (positive_ints(entry, f, where)[0]
                             for f in ("hidden", "experts", "topk"))
    if topk > experts:
        raise CatalogError(f"{where}: field 'topk': {topk} exceeds the {experts} experts")
    raw = entry.get("routing", list(Routing.values()))
    routings = raw if isinstance(raw, list) else [raw]
    if not routings or any(r not in Routing.values() for r in routings):
        raise CatalogError(f"{where}: field 'routing': choose from {', '.join(Routing.values())}")
    dtypes = dtypes_of(entry, default_dtypes, where)
    cases = []
    for combo in sweep({"tokens": positive_ints(entry, "tokens", where), "routing": routings}):
        name = f"all_to_allv dispatch {entry['name']} T={combo['tokens']} {combo['routing']}"
        params = (("op", "all_to_allv"), ("T", combo["tokens"]), ("H", hidden), ("E", experts),
                  ("topk", topk), ("routing", combo["routing"]))
        cases += [Case(kernel=kernel, case=name, dtype=d, params=params, source=where)
                  for d in dtypes]
    return cases
