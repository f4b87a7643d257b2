"""Batch timers: "run the kernel k times and tell me the elapsed device seconds".

The Rust sampler calls a batch timer with ``k`` and divides the returned time
by ``k``. Every timer here also keeps a log of its batches (host begin/end
times, ``k``, host submit time) so that the runner can report the host submit
time per launch beside the device time and flag samples taken while the
device reported throttling.

Methods (the ``timing_method`` column):

``device-events``
    One event pair around ``k`` back-to-back launches, recorded on the stream
    that is current *when the batch runs* (the stream the launches go to;
    recording on another stream measured a 250 µs kernel as ~5 µs in one
    harness), then one synchronisation on the end event. Per launch time
    includes the device's own gap between dependent launches; when the host
    cannot enqueue launches as fast as the device runs them, it is the launch
    rate, which ``host_submit_s`` makes visible.
``device-events-per-iter`` (cold cache)
    Each launch gets its own event pair; between pairs, *outside* the timed
    region, a flush writes a buffer of at least twice the last-level cache.
    The flush also keeps the device busy while the host enqueues the timed
    launch, so the pair does not catch host latency. The batch time is the
    sum of the k pairs.
``graph-events``
    The k launches are captured once into a device graph (CUDA/HIP graphs,
    capped at :data:`GRAPH_MAX_ITERS` launches) and replayed between an event
    pair: launch overhead is removed. Replays cover ``ceil(k/G)`` graphs of
    ``G`` launches and the time is scaled to ``k`` (per-launch time times k).
    With cold cache, the graph rotates over input copies whose measured total
    is at least twice the cache (checked, never assumed).
``host-synchronized``
    For backends without timing events: synchronise, launch k times,
    synchronise, read the host monotonic clock.
``host-monotonic-per-iter`` (CPU, cold cache)
    The host clock around each launch, the flush between launches.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from accelbench.errors import UnsupportedError
from accelbench.kinds import CacheState, TimingMethod

__all__ = [
    "CACHE_STATES",
    "GRAPH_MAX_ITERS",
    "GRAPH_TARGET_S",
    "Batch",
    "BatchTimer",
    "ColdEventTimer",
    "EventApi",
    "EventTimer",
    "GraphTimer",
    "HostColdTimer",
    "HostSyncTimer",
    "timer_columns",
    "timer_intervals",
]

#: Values of the ``cache_state`` column / ``--cache`` flag.
CACHE_STATES: tuple[str, ...] = CacheState.values()

#: Most launches captured in one graph (graphs are capped in size).
GRAPH_MAX_ITERS = 1024
#: Most launches of a cold-cache graph (one per input copy in the rotation).
GRAPH_MAX_COPIES = 8192
#: Device time one graph replay aims at: long enough that the replay's own
#: launch (a few µs) is < 1% of it.
GRAPH_TARGET_S = 1e-3

Kernel = Callable[[], object]


@dataclass
class EventApi:
    """What a backend offers for device timing (a torch module, or a fake in tests).

    ``new_event()`` returns an event with timing enabled (``record(stream)``,
    ``synchronize()``, ``elapsed_time(other)`` in milliseconds, as
    ``torch.cuda.Event``). ``current_stream`` is None for backends with a
    single queue (MPS: events are recorded without a stream). ``full_sync``
    asks for a device-wide synchronisation after the end event as well
    (MPS, where an unsynchronised timer reported 23 µs for 245 µs of work).
    ``capture`` turns a body of launches into a replay callable (device
    graphs), None when the backend has no graphs. ``memory_allocated``
    measures the bytes of input copies for cold graph mode.
    """

    new_event: Callable[[], Any]
    synchronize: Callable[[], None]
    current_stream: Callable[[], Any] | None = None
    full_sync: bool = False
    capture: Callable[[Callable[[], None]], Callable[[], None]] | None = None
    memory_allocated: Callable[[], int] | None = None

    def record(self, event: Any) -> None:
        """Record ``event`` on the stream that is current now."""
        if self.current_stream is None:
            event.record()
        else:
            event.record(self.current_stream())

    def wait(self, end: Any) -> None:
        end.synchronize()
        if self.full_sync:
            self.synchronize()


@dataclass(frozen=True)
class Batch:
    """One timed batch: host clock at begin and end, launches, host submit and device time."""

    begin: float
    end: float
    k: int
    submit_s: float
    device_s: float


@dataclass
class BatchTimer:
    """Base of the batch timers: the callable the sampler drives plus its log."""

    method: TimingMethod = TimingMethod.DEVICE_EVENTS
    cache_state: CacheState = CacheState.WARM
    graph: bool = False
    cold_bytes: float | None = None
    log: list[Batch] = field(default_factory=list)

    def __call__(self, k: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _note(self, begin: float, k: int, submit: float, device_s: float) -> float:
        self.log.append(Batch(begin, time.perf_counter(), k, submit, device_s))
        return device_s

    def columns(self, n_samples: int) -> dict[str, Any]:
        """Result columns of the last ``n_samples`` batches (the sampler's samples)."""
        last = self.log[-n_samples:] if n_samples > 0 else []
        submit = [b.submit_s / b.k for b in last if b.k > 0]
        return {
            "timing_method": self.method,
            "cache_state": self.cache_state,
            "graph": self.graph,
            "cold_bytes": self.cold_bytes,
            "host_submit_s": statistics.median(submit) if submit else None,
        }


class EventTimer(BatchTimer):
    """Warm cache: one event pair around k launches on the current stream.

    ``before`` (optional) is enqueued ahead of the start event, outside the
    timed region; the self-test uses it to queue a lead-in kernel so that the
    host runs ahead of the device and the pair measures device time only.
    """

    def __init__(self, fn: Kernel, api: EventApi, before: Kernel | None = None) -> None:
        super().__init__(TimingMethod.DEVICE_EVENTS, CacheState.WARM, False)
        self.fn, self.api, self.before = fn, api, before
        self.start, self.end = api.new_event(), api.new_event()

    def __call__(self, k: int) -> float:
        fn, api = self.fn, self.api
        begin = time.perf_counter()
        if self.before is not None:
            self.before()
        api.record(self.start)
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        submit = time.perf_counter() - t0
        api.record(self.end)
        api.wait(self.end)
        seconds = float(self.start.elapsed_time(self.end)) * 1e-3
        return self._note(begin, k, submit, seconds)


class ColdEventTimer(BatchTimer):
    """Cold cache: flush, then an event pair around each single launch; sum of the pairs."""

    def __init__(self, fn: Kernel, api: EventApi, flush: Kernel, flush_bytes: float) -> None:
        super().__init__(TimingMethod.DEVICE_EVENTS_PER_ITER, CacheState.COLD, False,
                         float(flush_bytes))
        self.fn, self.api, self.flush = fn, api, flush
        self.pairs: list[tuple[Any, Any]] = []

    def __call__(self, k: int) -> float:
        fn, api, flush = self.fn, self.api, self.flush
        while len(self.pairs) < k:
            self.pairs.append((api.new_event(), api.new_event()))
        begin = time.perf_counter()
        submit = 0.0
        for i in range(k):
            flush()
            start, end = self.pairs[i]
            api.record(start)
            t0 = time.perf_counter()
            fn()
            submit += time.perf_counter() - t0
            api.record(end)
        api.wait(self.pairs[k - 1][1])
        ms = math.fsum(float(s.elapsed_time(e)) for s, e in self.pairs[:k])
        return self._note(begin, k, submit, ms * 1e-3)


class GraphTimer(BatchTimer):
    """Graph replay between one event pair; launches per graph chosen once, capped.

    ``fns`` holds one launch function per input copy (one for warm cache);
    launch ``i`` of the graph uses copy ``i % len(fns)``, and a graph holds a
    whole number of rotations so replays cycle over every copy.
    """

    def __init__(
        self,
        fns: Sequence[Kernel],
        api: EventApi,
        cache_state: CacheState = CacheState.WARM,
        cold_bytes: float | None = None,
        target_s: float = GRAPH_TARGET_S,
    ) -> None:
        super().__init__(TimingMethod.GRAPH_EVENTS, cache_state, True, cold_bytes)
        if api.capture is None:
            raise UnsupportedError("graph mode: this backend has no device graphs")
        if not fns:
            raise ValueError("GraphTimer needs at least one launch function")
        self.api = api
        self.start, self.end = api.new_event(), api.new_event()
        per_iter = self._eager_time(fns)
        n = len(fns)
        if n > GRAPH_MAX_COPIES:
            raise UnsupportedError(f"graph mode: {n} input copies exceed the cap of "
                                   f"{GRAPH_MAX_COPIES}")
        want = math.ceil(target_s / per_iter) if per_iter > 0 else GRAPH_MAX_ITERS
        iters = max(1, min(want, GRAPH_MAX_ITERS))
        self.iters = max(n, math.ceil(iters / n) * n)  # whole rotations

        def body() -> None:
            for i in range(self.iters):
                fns[i % n]()

        self.replay = api.capture(body)

    def _eager_time(self, fns: Sequence[Kernel]) -> float:
        """Per-launch time of a short eager run (chooses the graph's size)."""
        for fn in fns[:3]:
            fn()
        self.api.record(self.start)
        reps = min(len(fns), 8)
        for fn in fns[:reps]:
            fn()
        self.api.record(self.end)
        self.api.wait(self.end)
        return float(self.start.elapsed_time(self.end)) * 1e-3 / reps

    def __call__(self, k: int) -> float:
        replays = max(1, math.ceil(k / self.iters))
        begin = time.perf_counter()
        self.api.record(self.start)
        t0 = time.perf_counter()
        for _ in range(replays):
            self.replay()
        submit = time.perf_counter() - t0
        self.api.record(self.end)
        self.api.wait(self.end)
        launches = replays * self.iters
        per_launch = float(self.start.elapsed_time(self.end)) * 1e-3 / launches
        self.log.append(Batch(begin, time.perf_counter(), launches, submit, per_launch * launches))
        return per_launch * k


def _nothing() -> None:
    return None


class HostSyncTimer(BatchTimer):
    """The host batch loop: synchronise, launch k times, synchronise; host monotonic clock.

    The one Python loop over launches: backends without events, cases that
    ask for the host's view of a launch (``method`` host-monotonic), and any
    plain kernel that must be driven in batches (``synchronize`` omitted on
    the CPU). The closing synchronize is inside the timed region, so queued
    work is never left uncounted; with k launches its cost is spread over k.
    With a ``flush`` (cold cache) each launch is timed alone between two
    synchronisations, the flush outside the timed region.
    """

    def __init__(
        self, fn: Kernel, synchronize: Callable[[], None] = _nothing,
        flush: Kernel | None = None, flush_bytes: float | None = None,
        method: TimingMethod = TimingMethod.HOST_SYNCHRONIZED,
    ) -> None:
        cold = flush is not None
        super().__init__(method, CacheState.COLD if cold else CacheState.WARM, False,
                         flush_bytes if cold else None)
        self.fn, self.sync, self.flush = fn, synchronize, flush

    def __call__(self, k: int) -> float:
        fn, sync = self.fn, self.sync
        begin = time.perf_counter()
        if self.flush is None:
            sync()
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            submit = time.perf_counter() - t0
            sync()
            return self._note(begin, k, submit, time.perf_counter() - t0)
        total = submit = 0.0
        for _ in range(k):
            self.flush()
            sync()
            t0 = time.perf_counter()
            fn()
            t1 = time.perf_counter()
            sync()
            total += time.perf_counter() - t0
            submit += t1 - t0
        return self._note(begin, k, submit, total)


class HostColdTimer(BatchTimer):
    """CPU cold cache: flush the last-level cache, then time one launch with the host clock."""

    def __init__(self, fn: Kernel, flush: Kernel, flush_bytes: float) -> None:
        super().__init__(TimingMethod.HOST_MONOTONIC_PER_ITER, CacheState.COLD, False,
                         float(flush_bytes))
        self.fn, self.flush = fn, flush

    def __call__(self, k: int) -> float:
        fn, flush, clock = self.fn, self.flush, time.perf_counter_ns
        begin = time.perf_counter()
        total = 0
        for _ in range(k):
            flush()
            t0 = clock()
            fn()
            total += clock() - t0
        seconds = total * 1e-9
        return self._note(begin, k, seconds, seconds)

    def columns(self, n_samples: int) -> dict[str, Any]:
        cols = super().columns(n_samples)
        cols["host_submit_s"] = None  # on the CPU, submitting is running
        return cols


def timer_columns(timer: object, n_samples: int) -> dict[str, Any]:
    """Result columns a timer reports (empty for the Rust sampler's plain host loop)."""
    if isinstance(timer, BatchTimer):
        return timer.columns(n_samples)
    return {}


def timer_intervals(timer: object, n_samples: int) -> list[tuple[float, float]]:
    """Host (begin, end) of the batches that became the last ``n_samples`` samples."""
    if not isinstance(timer, BatchTimer) or n_samples <= 0:
        return []
    return [(b.begin, b.end) for b in timer.log[-n_samples:]]
