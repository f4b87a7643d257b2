"""Measuring links on every rank of a fleet: the steps of :mod:`~accelbench.fleet.linkplan`.

Every rank runs the same loop. Rank 0 runs the plan and broadcasts each
step on the control group (gloo); every rank finds its role in the step's
chains (sends to, receives from, or idle), and after a barrier the ranks of
each chain exchange one untimed message (it connects the pair and lines the
ranks up), then ``messages`` timed ones of ``size`` bytes on the measured
group (gloo on CPU, NCCL/RCCL, XCCL, HCCL on devices). A rank in the middle
of a chain sends and receives each message at once
(``batch_isend_irecv``) and waits for both before the next, as a ring's
pipeline does. A receiver's sample is its elapsed host time over the timed
messages (after a device synchronisation) divided by their number: seconds
per message on the link into it. At the plan's ``collect`` steps every
rank's samples since the last collect are gathered on rank 0.

**Fault injection (tests only).** ``ACCELBENCH_LINK_DELAY="SRC>DST:SECONDS"``
(several joined by ``;``) makes the rank whose ``RANK`` is SRC sleep SECONDS
before every message it sends to DST, as a link that delivers late would.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import torch
import torch.distributed as dist

from accelbench.distributed.rank import RankContext
from accelbench.fleet.linkplan import (
    Collected,
    LinkOptions,
    Step,
    pair_at,
    plan_links,
    step_chains,
)

__all__ = ["LINK_DELAY_ENV", "NODES_ENV", "node_name", "run_links", "world_nodes"]

LINK_DELAY_ENV = "ACCELBENCH_LINK_DELAY"
#: Tests only: ranks per simulated node in a local world (every rank is on this host).
NODES_ENV = "ACCELBENCH_FLEET_RANKS_PER_NODE"


def _delays(rank: int) -> dict[int, float]:
    """Destination -> seconds this rank waits before each message to it (tests only)."""
    out = {}
    for spec in os.environ.get(LINK_DELAY_ENV, "").split(";"):
        pair, _, seconds = spec.partition(":")
        src, _, dst = pair.partition(">")
        if seconds and src.strip() == str(rank):
            out[int(dst)] = float(seconds)
    return out


def node_name(rank: int) -> str:
    """The node this rank is on: its host, plus the launcher's node rank when it has one.

    torchrun's ``GROUP_RANK`` and Slurm's ``SLURM_NODEID`` tell nodes apart
    even when several "nodes" run on one host (a two-node torchrun world on
    localhost).
    """
    host = socket.gethostname()
    per_node = os.environ.get(NODES_ENV)
    if per_node:
        return f"{host}#{rank // int(per_node)}"
    for var in ("GROUP_RANK", "SLURM_NODEID"):
        if os.environ.get(var) and not os.environ.get("ACCELBENCH_LOCAL_WORLD"):
            return f"{host}#{os.environ[var]}"
    return host


def world_nodes(ctx: RankContext) -> tuple[list[list[int]], list[str]]:
    """Every node's ranks (nodes ordered by their lowest rank) and the nodes' names."""
    names: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(names, node_name(ctx.rank), group=ctx.ctrl)
    nodes: dict[str, list[int]] = {}
    for rank, name in enumerate(names):
        nodes.setdefault(str(name), []).append(rank)
    return list(nodes.values()), list(nodes)


class _Link:
    """This rank's buffers and the exchange of one message with its chain neighbours."""

    def __init__(self, ctx: RankContext, size: int) -> None:
        self.ctx = ctx
        device = ctx.device.torch_device
        self.out = torch.full((size,), ctx.rank % 251, dtype=torch.uint8, device=device)
        self.inp = torch.empty(size, dtype=torch.uint8, device=device)
        self.delays = _delays(ctx.rank)

    def exchange(self, to: int | None, frm: int | None) -> None:
        ops = []
        if to is not None:
            wait = self.delays.get(to, 0.0)
            if wait:
                time.sleep(wait)
            ops.append(dist.P2POp(dist.isend, self.out, to, group=self.ctx.group))
        if frm is not None:
            ops.append(dist.P2POp(dist.irecv, self.inp, frm, group=self.ctx.group))
        for work in dist.batch_isend_irecv(ops) or []:
            work.wait()

    def sample(self, to: int | None, frm: int | None, messages: int) -> float | None:
        """One untimed message, then ``messages`` timed; seconds per message as receiver."""
        self.exchange(to, frm)
        self.ctx.device.synchronize()
        t0 = time.perf_counter()
        for _ in range(messages):
            self.exchange(to, frm)
        self.ctx.device.synchronize()
        elapsed = time.perf_counter() - t0
        return elapsed / messages if frm is not None else None


def _role(step: Step, nodes: list[list[int]], node: list[int],
          rank: int) -> tuple[int | None, int | None] | None:
    """(sends to, receives from) of this rank in the step, or None when it is idle."""
    if step.intra is not None:  # only this rank's node matters
        pair = pair_at(node, step.intra)
        if pair is None or rank not in pair:
            return None
        return (pair[1], None) if pair[0] == rank else (None, pair[0])
    for chain in step_chains(step, nodes):
        for member, to, frm in chain.roles():
            if member == rank:
                return to, frm
    return None


def _next(plan: Any, got: Collected | None) -> tuple[Step | None, list[dict[str, Any]]]:
    """Rank 0: the plan's next step (None and its rows when it is done)."""
    try:
        return (next(plan) if got is None else plan.send(got)), []
    except StopIteration as stop:
        return None, list(stop.value)


def run_links(ctx: RankContext, opts: LinkOptions) -> list[dict[str, Any]] | None:
    """Measure the links of the world (every rank calls it); rank 0 returns the link rows."""
    nodes, names = world_nodes(ctx)
    plan = plan_links(nodes, opts, names) if ctx.rank == 0 else None
    link = _Link(ctx, opts.size)
    mine = next(n for n in nodes if ctx.rank in n)
    # one collective on the measured group first: its communicator is up before any pair
    # talks (NCCL wants every rank in the first call on a group)
    dist.all_reduce(link.inp[:1].clone(), group=ctx.group)
    ctx.device.synchronize()
    pending: dict[int, float] = {}
    got: Collected | None = None
    rows: list[dict[str, Any]] = []
    while True:
        step: Step | None = None
        if plan is not None:
            step, rows = _next(plan, got)
        box: list[Any] = [step]
        dist.broadcast_object_list(box, src=0, group=ctx.ctrl)
        step = box[0]
        if step is None:
            return rows if ctx.rank == 0 else None
        role = _role(step, nodes, mine, ctx.rank)
        dist.barrier(group=ctx.ctrl)
        if role is not None:
            seconds = link.sample(role[0], role[1], opts.messages)
            if seconds is not None:
                pending[step.id] = seconds
        got = {}
        if step.collect:
            gathered: list[Any] = [None] * ctx.world_size
            dist.gather_object(pending, gathered if ctx.rank == 0 else None, dst=0,
                               group=ctx.ctrl)
            pending = {}
            for rank, samples in enumerate(gathered if ctx.rank == 0 else []):
                for sid, seconds in (samples or {}).items():
                    got.setdefault(int(sid), {})[rank] = float(seconds)
