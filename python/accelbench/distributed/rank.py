"""What every rank of a world does to measure one collective case, and the row it yields.

**Lock-step plan.** The adaptive sampler (Rust, :func:`accelbench._core.sample`)
runs on rank 0 only; it drives a *batch function* that first broadcasts the
batch size ``k`` to all ranks on a small gloo control group, then every rank
(rank 0 included) runs the same batch, and the elapsed times are combined
with an all-reduce(max) so the sampler sees the time of the slowest rank
(a collective finishes when its last rank does). The other ranks loop on the
broadcast; ``k = 0`` ends the loop and carries the number of samples and
their ``k``. So every rank runs exactly the batches rank 0's plan asks for,
in the same order, and no rank can wait for a collective the others never
start: the ranks cannot deadlock by disagreeing on ``k`` or on the number of
samples.

**One batch** on one rank: a barrier on the measured group (so every sample
starts together), then ``k`` back-to-back collectives timed by the timer the
run's options ask for (:func:`accelbench.measure.measurement.make_timer`:
device events and one synchronisation on accelerators, the host monotonic
clock on CPU, where gloo collectives return when they are done; ``--cache
cold`` flushes before each launch, as for every other case).

**Per-rank samples** are every rank's own times of the sampling batches
(warm-up and calibration batches are dropped), gathered on rank 0. The case
time is the median of the slowest rank (largest median); ``rank_skew`` is the
slowest over the fastest rank's median.

**Agreement before timing.** Each rank builds its buffers and runs the
collective once; the outcome (ok, or the reason it is unsupported, or an
error) is all-gathered, so all ranks skip an unsupported case together.

**Repeated data check** (``--check-repeats K``, nccl-tests' ``-c``): after
timing, the collective runs K more times on fresh known inputs and every
output is compared exactly; a fault that shows once in K launches (a flaky
link or device) makes the case a ``mismatch`` naming the ranks whose output
was wrong and the check in which it first was.

**Fault injection (tests only).** ``ACCELBENCH_FAULT=ACTION:RANK:CASE``
(several joined by ``;``) makes ``RANK`` misbehave in the case whose name
contains ``CASE``: ``kill``
(SIGKILL itself from a timer thread while it is inside the collectives of a
sampling batch), ``hang`` (sleep inside a batch while its peers wait in the
collective), ``corrupt`` (alter one output element before the data check) or
``flaky`` (alter it in the second data check only: one check misses it).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from accelbench import _core
from accelbench.devices import Device
from accelbench.devices.timers import timer_columns
from accelbench.errors import UnsupportedError
from accelbench.kinds import Status, StopReason
from accelbench.measure.core import Outcome, Row, Settings
from accelbench.measure.measurement import (
    Measurement,
    SamplingSpec,
    Timing,
    as_batch,
    make_timer,
    sample,
)
from accelbench.numerics.agreement import comparison_columns, worst_of
from accelbench.numerics.tensors import as_numpy
from accelbench.numerics.tolerance import tolerance_for
from accelbench.workloads.base import Case
from accelbench.workloads.collectives import (
    CollectiveOp,
    CollectiveSpec,
    count_wrong,
    expected_output,
)

__all__ = ["RankContext", "collective_row", "measure_on_rank"]

FAULT_ENV = "ACCELBENCH_FAULT"


@dataclass
class RankContext:
    """One rank of an initialised world: its device, the measured group and the control group."""

    rank: int
    world_size: int
    device: Device  # this rank's device
    backend: str  # torch.distributed backend of the measured group (gloo, nccl, ...)
    group: Any = None  # measured process group (None: the default group)
    ctrl: Any = None  # gloo group for control messages (None: the default group)


def _fault(case: Case, rank: int) -> str | None:
    """The injected fault for this rank and case, if any (see the module docs)."""
    for spec in os.environ.get(FAULT_ENV, "").split(";"):
        action, _, rest = spec.partition(":")
        target, _, name = rest.partition(":")
        if target.strip() == str(rank) and name and name in case.case:
            return action.strip()
    return None


def _classify(exc: BaseException) -> tuple[Status, str]:
    """(status, message) of a failure while setting a case up."""
    text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    if isinstance(exc, UnsupportedError):
        return Status.UNSUPPORTED, text
    low = text.lower()
    if any(w in low for w in ("not supported", "unsupported", "invalid scalar type",
                              "does not support")):
        return Status.UNSUPPORTED, text
    return Status.ERROR, f"{type(exc).__name__}: {text}"


def _setup(case: Case, ctx: RankContext,
           settings: Settings) -> tuple[CollectiveOp | None, tuple[Status, str] | None]:
    """Build and probe the collective; returns (op, None) or (None, (status, message))."""
    spec = CollectiveSpec.of(case)
    try:
        if ctx.world_size < 2:
            raise UnsupportedError("a collective needs at least 2 ranks (see --world-size)")
        if settings.graph:
            raise UnsupportedError("graph mode: collectives are not captured in device graphs")
        need = spec.buffer_bytes(ctx.world_size)
        capacity = ctx.device.memory_bytes()
        # CPU ranks share the host's memory; accelerator ranks have a device each.
        share = ctx.world_size if ctx.device.backend == "cpu" else 1
        if capacity is not None and need * share > 0.5 * capacity:
            raise UnsupportedError(f"needs {need * share / 2**30:.1f} GiB of buffers, "
                                   f"device has {capacity / 2**30:.1f} GiB")
        op = CollectiveOp(spec, ctx.rank, ctx.world_size, ctx.device.torch_device, ctx.group)
        op.launch()
        ctx.device.synchronize()
        return op, None
    except Exception as exc:  # recorded as the case's status once all ranks agree
        return None, _classify(exc)


def _batch_timer(op: CollectiveOp, ctx: RankContext, settings: Settings,
                 fault: str | None) -> tuple[Callable[[int], float], object]:
    """barrier, then k collectives timed as the run's options say; (batch function, timer)."""
    timer, is_batch = make_timer(ctx.device, op.launch, Timing.of(settings))
    timed = as_batch(timer, is_batch)
    calls = [0]

    def run(k: int) -> float:
        dist.barrier(group=ctx.group)
        calls[0] += 1
        if fault == "kill" and calls[0] >= 3:
            threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGKILL)).start()
        elif fault == "hang" and calls[0] >= 3:
            time.sleep(3600)
        return float(timed(k))

    return run, timer


def _sample_in_lockstep(op: CollectiveOp, ctx: RankContext, settings: Settings,
                        fault: str | None) -> tuple[list[float], dict[str, Any]]:
    """Run rank 0's adaptive plan on every rank; returns this rank's samples and the plan."""
    local, timer = _batch_timer(op, ctx, settings, fault)
    log: list[tuple[int, float]] = []
    cmd = torch.zeros(3, dtype=torch.int64)
    slowest = torch.zeros(1, dtype=torch.float64)

    def one(k: int) -> float:
        elapsed = local(k)
        log.append((k, elapsed))
        slowest[0] = elapsed
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX, group=ctx.ctrl)
        return float(slowest[0])

    plan: dict[str, Any] = {}
    if ctx.rank == 0:
        def batch(k: int) -> float:
            cmd[0] = k
            dist.broadcast(cmd, 0, group=ctx.ctrl)
            return one(k)

        plan_of_rank0 = sample(batch, True, SamplingSpec.of(settings))
        cmd[0], cmd[1], cmd[2] = 0, len(plan_of_rank0.samples), plan_of_rank0.k
        dist.broadcast(cmd, 0, group=ctx.ctrl)
        plan = {"converged": plan_of_rank0.converged, "stop_reason": plan_of_rank0.stop_reason,
                "warmup_s": plan_of_rank0.warmup_s,
                "timer": timer_columns(timer, len(plan_of_rank0.samples))}
    else:
        while True:
            dist.broadcast(cmd, 0, group=ctx.ctrl)
            if int(cmd[0]) == 0:
                break
            one(int(cmd[0]))
    n, k = int(cmd[1]), int(cmd[2])
    tail = log[-n:] if n else []
    if len(tail) != n or any(kk != k for kk, _ in tail):
        raise RuntimeError(f"rank {ctx.rank}: sampling batches out of step with rank 0")
    plan.update(n=n, k=k)
    return [t / k for _, t in tail], plan


def measure_on_rank(case: Case, ctx: RankContext, settings: Settings) -> dict[str, Any] | None:
    """Measure ``case`` on this rank (every rank calls it); rank 0 returns the payload.

    The payload holds the status, the per-rank samples, the sampler's plan
    and the data check's counts; :func:`collective_row` turns it into a row.
    """
    fault = _fault(case, ctx.rank)
    op, failure = _setup(case, ctx, settings)
    failures: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(failures, failure, group=ctx.ctrl)
    bad = [(r, f) for r, f in enumerate(failures) if f is not None]
    if bad:
        # An unsupported case is unsupported everywhere; otherwise name the failing rank.
        rank, (status, message) = min(bad, key=lambda rf: rf[1][0] != Status.UNSUPPORTED)
        if ctx.rank != 0:
            return None
        where = "" if status == Status.UNSUPPORTED else f"rank {rank}: "
        return {"status": status, "error": where + message, "world_size": ctx.world_size}
    assert op is not None
    seconds, plan = _sample_in_lockstep(op, ctx, settings, fault)
    wrong, checked, note = _data_check(op, settings.check_repeats, fault)
    agreement = _agreement(op)
    counts = torch.tensor([wrong, checked], dtype=torch.int64)
    dist.all_reduce(counts, group=ctx.ctrl)
    notes: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(notes, (seconds, note, wrong, agreement), group=ctx.ctrl)
    if ctx.rank != 0:
        return None
    status = Status.MISMATCH if int(counts[0]) else Status.OK
    return {
        "status": status, "error": _wrong_text(notes, int(counts[0]), int(counts[1])),
        "world_size": ctx.world_size, "bytes": op.spec.nbytes(ctx.world_size),
        "ranks": [{"rank": r, "seconds": n[0]} for r, n in enumerate(notes)],
        "agreement": worst_of([n[3] for n in notes]),
        "iters": plan["k"], "converged": plan["converged"], "stop_reason": plan["stop_reason"],
        "warmup_s": plan["warmup_s"], "wrong": int(counts[0]), "checked": int(counts[1]),
        "timer": plan["timer"], "check_repeats": settings.check_repeats,
    }


def _data_check(op: CollectiveOp, repeats: int, fault: str | None) -> tuple[int, int, str]:
    """Fresh known inputs, one collective, exact comparison; ``repeats`` times.

    Returns (wrong elements, elements checked, note on the first wrong one).
    """
    wrong = checked = 0
    first = ""
    for i in range(max(1, repeats)):
        bad, n, note = op.check()
        if fault == "corrupt" or (fault == "flaky" and i == 1):
            op.output().view(-1)[0] += 1
            bad, note = _recount(op)
        if bad and not first:
            first = f"check {i + 1} of {repeats}, {note}" if repeats > 1 else note
        wrong, checked = wrong + bad, checked + n
    return wrong, checked, first


def _wrong_text(notes: Sequence[tuple[Any, ...]], wrong: int, checked: int) -> str | None:
    """The error of a case whose data check failed on some ranks, naming them.

    ``notes`` holds each rank's (seconds, note on the first wrong element, wrong count, ...).
    """
    first = next(((r, n[1]) for r, n in enumerate(notes) if n[1]), None)
    if first is None:
        return None
    ranks = ", ".join(str(r) for r, n in enumerate(notes) if n[2])
    return (f"{wrong} of {checked} elements wrong on rank(s) {ranks} "
            f"(first: rank {first[0]}, {first[1]})")


def _agreement(op: CollectiveOp) -> dict[str, Any]:
    """This rank's agreement columns: its output against the exact expected one (tolerance 0).

    Empty for dtypes the native comparison does not take (fp8, integers) and for an
    output of the wrong size (the data check reports both)."""
    try:
        out, name = as_numpy(op.output())
    except ValueError:
        return {}
    expected = expected_output(op.spec, op.rank, op.world_size)
    if expected.numel() != out.size:
        return {}  # the data check reports the wrong size
    ref_np = expected.to(torch.float64).reshape(out.shape).numpy()
    tol = tolerance_for(name, override=(0.0, 0.0))
    cmp = _core.compare_to_reference(
        out, ref_np, dtype=name, rtol=tol.rtol, atol=tol.atol, small_threshold=tol.small,
        small_atol=tol.small_atol, ulp_threshold=tol.ulp,
    )
    return comparison_columns(cmp, tol)


def _recount(op: CollectiveOp) -> tuple[int, str]:
    return count_wrong(op.output(), expected_output(op.spec, op.rank, op.world_size))


def collective_row(row: Row, case: Case, payload: dict[str, Any],
                   confidence: float = 0.95) -> Outcome:
    """Fill a result row from rank 0's payload; the outcome to record in the run directory.

    Statistics come from the slowest rank's samples (the rank with the
    largest median; a collective finishes when its last rank does), summarised
    by the shared
    :class:`~accelbench.measure.measurement.Measurement`. ``algbw = bytes /
    median``; ``busbw = algbw * bus_factor(op, world_size)`` (for ``all_to_allv``
    the busiest rank's off-rank bytes over ``bytes``: :meth:`CollectiveSpec.bus_factor`).
    The per-rank distribution is summarised by the fastest rank's median
    (``rank_min_s``, ``fastest_rank``), the median of the rank medians
    (``rank_median_s``) and the slowest (``median_s``, ``slowest_rank``); every
    rank's samples are kept.
    """
    n = payload.get("world_size")
    row.update(status=Status(payload["status"]), error=payload.get("error"), world_size=n)
    ranks: Sequence[dict[str, Any]] = payload.get("ranks") or []
    if not ranks or not all(r["seconds"] for r in ranks):
        return Outcome(row, {})
    medians = [float(_core.summarize(r["seconds"]).median) for r in ranks]
    slow = max(range(len(ranks)), key=lambda i: medians[i])
    fast = min(range(len(ranks)), key=lambda i: medians[i])
    measurement = Measurement(
        ranks[slow]["seconds"], payload["iters"], payload["converged"],
        StopReason(payload["stop_reason"]), payload["warmup_s"], confidence,
        payload.get("timer") or {})
    nbytes = float(payload["bytes"])
    columns = measurement.columns(None, nbytes)
    del columns["status"]  # the status is the data check's verdict, set above
    row.update(columns)
    algbw = row["gbps"]
    spec = CollectiveSpec.of(case)
    row.update(payload.get("agreement") or {})
    row.update(
        algbw_gbps=algbw,
        busbw_gbps=None if algbw is None else algbw * spec.bus_factor(int(n or 1)),
        mismatch_frac=payload["wrong"] / payload["checked"] if payload["checked"] else None,
        rank_skew=max(medians) / min(medians) if min(medians) > 0 else None,
        slowest_rank=slow, fastest_rank=fast, rank_min_s=medians[fast],
        rank_median_s=float(np.median(medians)),
        check_repeats=payload.get("check_repeats", 1),
    )
    return Outcome(row, {"ranks": list(ranks), "iters": payload["iters"]})
