"""Seeded routings of an MoE layer: which top-k of E experts each of T tokens goes to.

The expert GEMMs (``moe``) and the token dispatch between ranks
(``collectives``' ``all_to_allv``) take their sizes from the same routings,
drawn on the CPU from a seed, so every device sees the same per-expert token
counts. Two shapes (:class:`~accelbench.kinds.Routing`):

* ``balanced``: the T x top-k token slots are dealt round-robin over a seeded
  permutation of the experts: every expert gets ``T*topk // E`` or one more,
  and a token's k experts are k consecutive entries of the permutation, so
  they are distinct (``topk <= E``).
* ``skewed``: expert at position r (1-based) of a seeded permutation has
  weight ``r ** -1.2`` (a Zipf law, s = :data:`ZIPF_S`), and each token draws
  its k distinct experts without replacement with those weights
  (``torch.multinomial``). A stress shape: with DeepSeek-V3's 256 experts,
  top-8 and T = 4096, the hottest expert receives about 93% of the tokens
  (30x its even share of 128 slots), the next ones 70%, 55%, ..., the coldest
  a handful: the load imbalance that auxiliary-loss-free balancing and
  expert replication exist to fight, well beyond what a balanced model shows.

A token's k slots are counted separately (the top-k rows of the dispatched
activations): the counts sum to exactly ``T * topk``, whatever the routing.
"""

from __future__ import annotations

import torch

from accelbench.kinds import Routing

__all__ = ["ZIPF_S", "expert_counts", "route"]

#: Exponent of the Zipf law of the skewed routing.
ZIPF_S = 1.2


def route(tokens: int, experts: int, topk: int, routing: Routing, seed: int) -> torch.Tensor:
    """Expert ids ``[tokens, topk]`` (int64, CPU): each token's k distinct experts."""
    if not 0 < topk <= experts:
        raise ValueError(f"top-k must be in 1..{experts} (the experts), got {topk}")
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(experts, generator=gen)
    if routing == Routing.BALANCED:
        slots = torch.arange(tokens * topk).view(tokens, topk) % experts
        return order[slots]
    weights = torch.arange(1, experts + 1, dtype=torch.float64) ** -ZIPF_S
    picks = torch.multinomial(weights.expand(tokens, experts), topk, replacement=False,
                              generator=gen)
    return order[picks]


def expert_counts(tokens: int, experts: int, topk: int, routing: Routing,
                  seed: int) -> torch.Tensor:
    """Token slots per expert ``[experts]`` (int64): sums to ``tokens * topk``."""
    choice = route(tokens, experts, topk, routing, seed)
    return torch.bincount(choice.reshape(-1), minlength=experts)
