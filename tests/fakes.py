"""Fakes of an accelerator runtime (``torch.cuda``-like) and of NVML / amdsmi.

:class:`FakeRuntime` simulates a device on the host's monotonic clock: each
stream has a *tail*, the time its last queued kernel ends; a launch queues a
kernel of a given duration after the tail (or now, if the stream is idle);
an event records ``max(tail, now)`` of the stream it is recorded on; waiting
on an event spins until that time has passed. So event times are exactly the
device times of the simulated kernels, and a timer that records on the wrong
stream, leaves the flush inside its timed region or never waits gives a
wrong answer that a test can catch. Switches make the fake misbehave
(``events_ignore_stream``) or lack features (``events=False``, ``graphs=False``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any


def spin_until(t: float) -> None:
    while time.perf_counter() < t:
        pass


class FakeStream:
    def __init__(self, rt: FakeRuntime) -> None:
        self.rt = rt
        self.tail = 0.0
        rt.streams.append(self)

    def wait_stream(self, other: FakeStream) -> None:
        self.tail = max(self.tail, other.tail)


class FakeEvent:
    def __init__(self, rt: FakeRuntime, enable_timing: bool = False) -> None:
        self.rt = rt
        self.timing = enable_timing
        self.t: float | None = None

    def record(self, stream: FakeStream | None = None) -> None:
        rt = self.rt
        s = rt.default if rt.events_ignore_stream else (stream or rt.current_stream())
        self.t = max(s.tail, time.perf_counter())

    def synchronize(self) -> None:
        assert self.t is not None
        spin_until(self.t)

    def elapsed_time(self, other: FakeEvent) -> float:
        if not self.timing or self.t is None or other.t is None:
            raise RuntimeError("event not recorded with timing")
        return (other.t - self.t) * 1e3


class FakeGraph:
    def __init__(self, rt: FakeRuntime) -> None:
        self.rt = rt
        self.kernels: list[float] = []

    def replay(self) -> None:
        # One launch for the whole graph: kernels back to back, no host cost per kernel.
        self.rt.launch(sum(self.kernels), host=False)


class FakeRuntime:
    """A ``torch.cuda``-like module over a simulated device."""

    def __init__(
        self,
        *,
        name: str = "Fake GPU 80GB",
        l2_bytes: int = 1 << 20,
        rate: float = 1e11,
        host_launch_s: float = 0.0,
        gap_s: float = 0.0,
        events: bool = True,
        graphs: bool = True,
        events_ignore_stream: bool = False,
    ) -> None:
        self.name = name
        self.l2_bytes = l2_bytes
        self.rate = rate
        self.host_launch_s = host_launch_s
        self.gap_s = gap_s
        self.events_ignore_stream = events_ignore_stream
        self.streams: list[FakeStream] = []
        self.default = FakeStream(self)
        self._current = self.default
        self.capturing: FakeGraph | None = None
        self.allocated = 0
        self.launches = 0
        if events:
            self.Event = lambda enable_timing=False: FakeEvent(self, enable_timing)
        if graphs:
            self.CUDAGraph = lambda: FakeGraph(self)
            self.graph = self._graph

    # device discovery
    def device_count(self) -> int:
        return 1

    def get_device_name(self, idx: int = 0) -> str:
        return self.name

    def get_device_properties(self, idx: int = 0) -> Any:
        return SimpleNamespace(
            name=self.name, total_memory=80 * 2**30, major=9, minor=0,
            multi_processor_count=132, L2_cache_size=self.l2_bytes, clock_rate=1_980_000,
            uuid="9447b8f5-0808-44e0-d0df-55ec060ed869", pci_bus_id=0x1b, pci_device_id=0,
            pci_domain_id=0, gcnArchName="gfx942:sramecc+:xnack-",
        )

    # streams
    def current_stream(self, device: Any = None) -> FakeStream:
        return self._current

    def Stream(self) -> FakeStream:
        return FakeStream(self)

    @contextmanager
    def stream(self, s: FakeStream) -> Iterator[None]:
        prev, self._current = self._current, s
        try:
            yield
        finally:
            self._current = prev

    def synchronize(self) -> None:
        spin_until(max(s.tail for s in self.streams))

    # work
    def launch(self, seconds: float, host: bool = True) -> None:
        """Queue a kernel of ``seconds`` on the current stream."""
        if self.capturing is not None:
            self.capturing.kernels.append(seconds + self.gap_s)
            return
        if host and self.host_launch_s:
            spin_until(time.perf_counter() + self.host_launch_s)
        s = self._current
        start = max(s.tail, time.perf_counter())
        s.tail = start + seconds + (self.gap_s if host else 0.0)
        self.launches += 1

    def _sleep(self, cycles: int) -> None:
        self.launch(cycles / self.rate)

    def memory_allocated(self, device: Any = None) -> int:
        return self.allocated

    @contextmanager
    def _graph(self, g: FakeGraph, pool: Any = None) -> Iterator[None]:
        self.capturing = g
        try:
            yield
        finally:
            self.capturing = None


class FakeNvml:
    """pynvml-like: clocks, temperature, power (mW) and a cycle of clock-event reasons."""

    def __init__(self, reasons: list[int], sm: int = 1980, uuid: str | None = None) -> None:
        self.reasons = reasons
        self.sm = sm
        self.uuid = uuid
        self.reads = 0
        self.lookups: list[str] = []

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> str:
        self.lookups.append(uuid)
        if uuid != self.uuid:
            raise RuntimeError("NVML_ERROR_NOT_FOUND")
        return "by-uuid"

    def nvmlDeviceGetHandleByPciBusId(self, bus: str) -> str:
        raise RuntimeError("NVML_ERROR_NOT_FOUND")

    def nvmlDeviceGetHandleByIndex(self, idx: int) -> str:
        return f"index-{idx}"

    def nvmlDeviceGetClockInfo(self, h: str, kind: int) -> int:
        return self.sm if kind == 1 else 2619

    def nvmlDeviceGetTemperature(self, h: str, kind: int) -> int:
        return 40 + self.reads % 5

    def nvmlDeviceGetPowerUsage(self, h: str) -> int:
        return 350_000

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: str) -> int:
        value = self.reasons[self.reads % len(self.reasons)]
        self.reads += 1
        return value
