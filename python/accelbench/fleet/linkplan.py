"""Which links a fleet measures, in which steps, and which link is named slow (no torch).

A *link* is the path a message takes from one rank's device to another's.
Measuring all n(n-1) of them is fine inside a node (8 devices: 56) and
ruinous across a fleet (8,000 devices: 64 million), so:

* **Within a node: all pairs.** Every ordered pair (src, dst) of the node's
  ranks, one pair of a node at a time (pairs inside a node share switches
  and host bridges, so two at once would measure each other), all nodes at
  once. The pairs are cycled ``samples`` times, one sample per visit, so a
  load change during the phase touches every link alike instead of the few
  measured at that moment. A link's time is compared with its peers':
  the same (local src, local dst) pair on the other nodes when there are at
  least 3 nodes (topologies differ between pairs, e.g. across CPU sockets,
  but not between identical nodes), else every intra-node link.
* **Across nodes: a ring, then bisection.** Rank ``i`` of every node forms
  rail ``i``'s ring over the nodes (node k sends to node k+1, as a ring
  all-reduce does). The ring runs with all its links loaded at once; each
  rank sends and receives every message before the next (a ring's pipeline),
  so the ring moves at its slowest link and its bandwidth is reported per
  rail. To name that link the ring is bisected: its links are split into two
  halves (arcs), each measured alone as a chain, and the halves compared
  (:func:`accelbench._core.compare_samples`: bootstrap CI of the ratio of
  medians and a rank test). The slower half is split again, so the link is
  named after ``2 * ceil(log2(nodes))`` measurements per rail, all rails at
  once: 1,000 nodes need 20 steps, not a million pairs. When neither half is
  slower the ring has no single slow segment (healthy, or uniformly slow);
  when the halves of a slow segment are alike, the segment is named
  (``slow_segment``) instead of a link. One slow segment per rail and run
  is followed.

The plan is a generator (:func:`plan_links`) run on rank 0: it yields
:class:`Step` objects, which rank 0 broadcasts and every rank executes
(:mod:`accelbench.fleet.links`), and at the steps marked ``collect`` it
receives every rank's samples and decides the next steps. An intra-node
step travels as its pair index, not as a list of pairs, so a step costs a
few bytes to broadcast however large the fleet.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from accelbench import _core
from accelbench.fleet.verdict import FleetFlag, ratio_cis

__all__ = ["Chain", "LinkKind", "LinkOptions", "Step", "pair_at", "pair_count", "plan_links",
           "rail_rings", "step_chains", "step_count"]

#: Samples of every rank for the steps since the last collect: step id -> rank -> seconds.
Collected = dict[int, dict[int, float]]
Nodes = Sequence[Sequence[int]]


class LinkKind(str, Enum):
    """What a link row measured (the ``kind`` column of ``links.parquet``)."""

    INTRA = "intra"  # one ordered pair of ranks on the same node
    RING = "ring"  # a whole ring of one rail across the nodes
    SEGMENT = "segment"  # an arc of a ring (a bisection step); one link at the end

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class LinkOptions:
    """How links are measured and judged."""

    size: int = 64 << 20  # bytes per message
    samples: int = 9  # samples per link
    messages: int = 4  # messages per sample (after one untimed message)
    threshold: float = 0.10  # flag when the whole CI is this much slower than the peers
    confidence: float = 0.95
    resamples: int = 2000


@dataclass(frozen=True)
class Chain:
    """Ranks a stream of messages passes through: ``ranks[i]`` sends to ``ranks[i+1]``.

    A ring repeats its first rank at the end. ``span`` is the range of ring
    links ``[a, b)`` the chain covers (link k: node k to node k+1).
    """

    ranks: tuple[int, ...]
    rail: int | None = None
    span: tuple[int, int] | None = None

    def roles(self) -> Iterator[tuple[int, int | None, int | None]]:
        """(rank, sends to, receives from) of every rank in the chain."""
        closed = len(self.ranks) > 2 and self.ranks[0] == self.ranks[-1]
        members = self.ranks[:-1] if closed else self.ranks
        for i, rank in enumerate(members):
            to = self.ranks[i + 1] if i + 1 < len(self.ranks) else None
            frm = self.ranks[i - 1] if i > 0 else (self.ranks[-2] if closed else None)
            yield rank, to, frm

    @property
    def text(self) -> str:
        return ">".join(str(r) for r in self.ranks)


@dataclass(frozen=True)
class Step:
    """One measurement step: every chain runs one sample at once.

    ``intra`` is the index of the ordered pair each node measures (its
    chains are computed by :func:`step_chains`); otherwise ``chains`` says.
    """

    id: int
    chains: tuple[Chain, ...] = ()
    intra: int | None = None
    collect: bool = False


def pair_count(node: Sequence[int]) -> int:
    """Ordered pairs of distinct ranks on a node."""
    return len(node) * (len(node) - 1)


def pair_at(node: Sequence[int], index: int) -> tuple[int, int] | None:
    """The ``index``-th ordered pair (src, dst) of a node's ranks (src-major), if any."""
    width = len(node) - 1
    if index >= pair_count(node):
        return None
    i, j = divmod(index, width)
    return node[i], node[j if j < i else j + 1]


def step_chains(step: Step, nodes: Nodes) -> tuple[Chain, ...]:
    """The chains of a step (an intra step: each node's pair number ``step.intra``)."""
    if step.intra is None:
        return step.chains
    pairs = (pair_at(node, step.intra) for node in nodes)
    return tuple(Chain(p) for p in pairs if p is not None)


def rail_rings(nodes: Nodes) -> list[list[int]]:
    """Rail ``i``'s ring: rank ``i`` of every node that has one (at least 2 nodes)."""
    width = max((len(n) for n in nodes), default=0)
    rings = [[n[i] for n in nodes if len(n) > i] for i in range(width)]
    return [r for r in rings if len(r) >= 2]


def _arc(ring: Sequence[int], span: tuple[int, int], rail: int) -> Chain:
    a, b = span
    return Chain(tuple(ring[k % len(ring)] for k in range(a, b + 1)), rail, span)


def step_count(nodes: Nodes, opts: LinkOptions) -> int:
    """Most steps :func:`plan_links` can take (for the run's time limit)."""
    pairs = max((pair_count(n) for n in nodes), default=0)
    levels = math.ceil(math.log2(len(nodes))) if len(nodes) > 1 else 0
    return opts.samples * (pairs + 1 + 2 * levels)


def _chain_samples(step: Step, nodes: Nodes, got: dict[int, float]) -> dict[Chain, float]:
    """One sample per chain: its slowest receiver (the chain moves at its slowest link)."""
    out = {}
    for chain in step_chains(step, nodes):
        if len(chain.ranks) == 2:  # one link: its receiver's sample
            if chain.ranks[1] in got:
                out[chain] = got[chain.ranks[1]]
            continue
        times = [got[r] for r, _, frm in chain.roles() if frm is not None and r in got]
        if times:
            out[chain] = max(times)
    return out


def _measure(ids: Iterator[int], groups: Sequence[Step], nodes: Nodes,
             samples: int) -> Generator[Step, Collected, dict[Chain, list[float]]]:
    """Cycle through ``groups`` ``samples`` times (one sample each), then collect."""
    steps = [Step(next(ids), g.chains, g.intra) for _ in range(samples) for g in groups]
    if not steps:
        return {}
    for st in steps[:-1]:
        yield st
    last = steps[-1]
    got = yield Step(last.id, last.chains, last.intra, collect=True)
    out: dict[Chain, list[float]] = {}
    for st in steps:
        for chain, t in _chain_samples(st, nodes, got.get(st.id, {})).items():
            out.setdefault(chain, []).append(t)
    return out


def _row(kind: LinkKind, chain: Chain, seconds: Sequence[float], opts: LinkOptions,
         node_of: dict[int, str]) -> dict[str, Any]:
    med = statistics.median(seconds) if len(seconds) else None
    single = len(chain.ranks) == 2
    return {
        "kind": str(kind), "src": chain.ranks[0] if single else None,
        "dst": chain.ranks[1] if single else None,
        "src_node": node_of.get(chain.ranks[0]) if single else None,
        "dst_node": node_of.get(chain.ranks[1]) if single else None,
        "rail": chain.rail, "chain": chain.text, "bytes": float(opts.size),
        "n_samples": len(seconds), "median_s": med,
        "gbps": opts.size / med / 1e9 if med else None,
        "ratio": None, "ratio_ci_low": None, "ratio_ci_high": None, "flag": None,
        "detail": None,
    }


def _judge_intra(links: dict[Chain, list[float]], nodes: Nodes, opts: LinkOptions,
                 node_of: dict[int, str]) -> list[dict[str, Any]]:
    local = {r: i for node in nodes for i, r in enumerate(node)}
    by_pair = len(nodes) >= 3
    groups: dict[Any, list[Chain]] = {}
    for chain in links:
        key = (local[chain.ranks[0]], local[chain.ranks[1]]) if by_pair else "all"
        groups.setdefault(key, []).append(chain)
    rows = []
    for seed, members in enumerate(groups.values()):
        _, cis = ratio_cis([links[c] for c in members], opts.threshold, opts.confidence,
                           opts.resamples, seed)
        for chain, (ratio, lo, hi) in zip(members, cis, strict=True):
            row = _row(LinkKind.INTRA, chain, links[chain], opts, node_of)
            if len(members) >= 3 and np.isfinite(ratio):
                row.update(ratio=ratio, ratio_ci_low=lo, ratio_ci_high=hi)
                if lo > 1.0 + opts.threshold:
                    row["flag"] = str(FleetFlag.SLOW_LINK)
                    row["detail"] = (f"{ratio:.2f}x the median time of {len(members)} "
                                     f"{'same-position ' if by_pair else ''}intra-node links")
            rows.append(row)
    return rows


def _compare(a: Sequence[float], b: Sequence[float], opts: LinkOptions,
             seed: int) -> tuple[float, float, float, str]:
    """b against a: (ratio of medians, CI low, CI high, verdict)."""
    c = _core.compare_samples(list(a), list(b), threshold=opts.threshold,
                              confidence=opts.confidence, resamples=opts.resamples, seed=seed)
    return c.ratio, c.ci_low, c.ci_high, c.verdict


def _bisect(rings: list[list[int]], nodes: Nodes, opts: LinkOptions, ids: Iterator[int],
            node_of: dict[int, str]) -> Generator[Step, Collected, list[dict[str, Any]]]:
    """Follow the slower half of every rail's ring down to one link (see the module docs)."""
    rows: list[dict[str, Any]] = []
    active = {rail: (0, len(ring)) for rail, ring in enumerate(rings)}
    parent: dict[int, dict[str, Any]] = {}  # the slow segment row being split, per rail
    for level in itertools.count():
        if not active:
            return rows
        halves = {}
        for rail, (a, b) in active.items():
            mid = a + (b - a) // 2
            halves[rail] = (_arc(rings[rail], (a, mid), rail), _arc(rings[rail], (mid, b), rail))
        firsts = Step(0, tuple(h[0] for h in halves.values()))
        seconds = Step(0, tuple(h[1] for h in halves.values()))
        got = yield from _measure(ids, [firsts, seconds], nodes, opts.samples)
        active = {}
        for rail, (first, second) in halves.items():
            ratio, lo, hi, verdict = _compare(got[first], got[second], opts, level)
            slow = None
            for chain, r, rlo, rhi, is_slow in (
                    (first, 1 / ratio, 1 / hi, 1 / lo, verdict == "faster"),
                    (second, ratio, lo, hi, verdict == "slower")):
                row = _row(LinkKind.SEGMENT, chain, got[chain], opts, node_of)
                row.update(ratio=r, ratio_ci_low=rlo, ratio_ci_high=rhi)
                rows.append(row)
                slow = (chain, row) if is_slow else slow
            if slow is None:
                if rail in parent:  # slower than its sibling, but its halves are alike
                    parent[rail]["flag"] = str(FleetFlag.SLOW_SEGMENT)
                continue
            chain, row = slow
            row["detail"] = f"{row['ratio']:.2f}x the time of the other half of rail {rail}"
            if len(chain.ranks) == 2:
                row["flag"] = str(FleetFlag.SLOW_LINK)
            elif chain.span is not None:
                active[rail], parent[rail] = chain.span, row
    return rows


def plan_links(nodes: Nodes, opts: LinkOptions,
               node_names: Sequence[str]) -> Generator[Step, Collected, list[dict[str, Any]]]:
    """The link plan on rank 0: yields steps, gets samples at ``collect`` steps, returns rows.

    ``nodes`` lists each node's ranks; ``node_names`` names each node.
    """
    ids = itertools.count()
    node_of = {r: name for node, name in zip(nodes, node_names, strict=True) for r in node}
    rows: list[dict[str, Any]] = []
    pairs = max((pair_count(n) for n in nodes), default=0)
    if pairs:
        intra = [Step(0, intra=s) for s in range(pairs)]
        links = yield from _measure(ids, intra, nodes, opts.samples)
        rows += _judge_intra(links, nodes, opts, node_of)
    rings = rail_rings(nodes)
    if rings:
        closed = Step(0, tuple(_arc(ring, (0, len(ring)), rail)
                               for rail, ring in enumerate(rings)))
        got = yield from _measure(ids, [closed], nodes, opts.samples)
        rows += [_row(LinkKind.RING, chain, got.get(chain, []), opts, node_of)
                 for chain in closed.chains]
        rows += yield from _bisect(rings, nodes, opts, ids, node_of)
    return rows
