"""Self-test of a backend's timer: time work of known duration, report the error.

A timer is trusted only after it has measured work whose duration is known
from an independent clock (``accelbench info --selftest``).

CUDA / ROCm
    The known work is ``torch.cuda._sleep(cycles)``, a one-thread kernel that
    spins until its cycle counter has advanced by ``cycles``. Cycles become
    seconds through a rate *measured* with the host monotonic clock: the
    slope of host time (launch + synchronise) between a 20 M and a 200 M
    cycle sleep (fastest of five each), so fixed launch costs cancel. Every spin kernel also costs a
    fixed per-launch time (launch, prologue, the gap to the next dependent
    kernel); a *null launch* (``_sleep(0)``) measures it with the same timer.
    The check is ``error = (T(d) - T(0) - d) / d``: the timer must see the
    known ``d`` on top of the null launch. Batches are preceded by a lead-in
    spin kernel outside the timed region, long enough for the host to enqueue
    the whole batch before the device reaches it, so the device never waits
    for the host (nvbench's "blocking kernel" plays the same role). The same
    is done with the graph timer, and once on a side stream: a timer that
    recorded its events on another stream than the work's would fail it.
    The rate is measured again at the end; a change means the clock moved.
Other accelerators (XPU, MPS, PrivateUse1 backends such as NPU)
    The known work is a float32 matmul whose per-launch time is measured by
    the host clock over a long synchronised run (≥ 0.2 s, so the host's
    synchronisation costs < 0.1%); the backend's timer (its events, or
    synchronised host timing) must agree. Inputs are drawn on the CPU, so a
    backend without a random-number kernel can be tested.
CPU
    The known work is a busy-wait on the host monotonic clock that records
    its own length; the Rust sampler's host timing, less a zero-length spin
    (the null launch), must agree.

Checks with work of at least :data:`STRICT_FROM_S` must be within
:data:`TOLERANCE`; shorter ones are reported for information.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from accelbench.devices import AcceleratorDevice, Device
from accelbench.devices.timers import EventTimer, GraphTimer
from accelbench.measure.measurement import SamplingSpec, sample

__all__ = ["STRICT_FROM_S", "TOLERANCE", "Check", "selftest"]

TOLERANCE = 0.02
STRICT_FROM_S = 10e-6
DURATIONS_S = (1e-6, 10e-6, 100e-6, 1e-3)
#: Matmul sizes of the events-vs-host-clock check; sizes after the first are
#: skipped once a launch takes longer than :data:`MATMUL_MAX_LAUNCH_S` (a slow
#: backend would otherwise spend minutes on its reference runs).
MATMUL_SIZES = (256, 1024, 2048)
MATMUL_MAX_LAUNCH_S = 0.05


@dataclass(frozen=True)
class Check:
    """One self-test line: what was timed, the known and the measured time, the error."""

    name: str
    expected_s: float | None
    measured_s: float
    error: float | None = None
    tolerance: float | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.tolerance is None or self.error is None or abs(self.error) <= self.tolerance


def _median_time(timer: Any, batch: bool, budget_s: float) -> float:
    spec = SamplingSpec(warmup_s=min(0.05, budget_s / 4), max_time_s=budget_s,
                        target_rel_ci=0.002, min_samples=10)
    return sample(timer, batch, spec).median_s


def _tolerance(d: float) -> float | None:
    return TOLERANCE if d >= STRICT_FROM_S else None


# ------------------------------------------------------------------ CUDA / ROCm
def _sleep_rate(module: Any, small: int = 20_000_000, large: int = 200_000_000) -> float:
    """Spin-kernel cycles per second, from the host-clock slope between two sleeps.

    The host can only be late (descheduled while waiting), never early, so
    the fastest of five tries of each size is used.
    """

    def host(cycles: int) -> float:
        module.synchronize()
        t0 = time.perf_counter()
        module._sleep(cycles)
        module.synchronize()
        return time.perf_counter() - t0

    host(small // 10)
    a = min(host(small) for _ in range(5))
    b = min(host(large) for _ in range(5))
    return (large - small) / (b - a)


def _submit_cost(module: Any) -> float:
    """Host cost per launch, to size the lead-in so the host always runs ahead."""
    module.synchronize()
    t0 = time.perf_counter()
    for _ in range(200):
        module._sleep(0)
    submit = (time.perf_counter() - t0) / 200
    module.synchronize()
    return submit


def _sleep_checks(device: AcceleratorDevice, module: Any, budget_s: float) -> list[Check]:
    api = device._events
    assert api is not None
    rate = _sleep_rate(module)
    checks = [Check("spin clock (host-calibrated)", None, 1.0 / rate,
                    note=f"{rate / 1e6:.1f} M cycles/s")]
    submit = _submit_cost(module)

    def kernel(d: float) -> Callable[[], object]:
        cycles = round(d * rate)
        return lambda: module._sleep(cycles)

    class Lead:
        """Lead-in spin sized from the batch the timer is about to run."""

        def __init__(self) -> None:
            self.k = 1

        def __call__(self) -> object:
            return module._sleep(round((3 * self.k * submit + 200e-6) * rate))

    def eager(d: float) -> float:
        lead = Lead()
        timer = EventTimer(kernel(d), api, before=lead)

        def batch(k: int) -> float:
            lead.k = k
            return timer(k)

        return _median_time(batch, True, budget_s)

    null = eager(0.0)
    checks.append(Check("null launch (device-bound)", None, null,
                        note=f"host submit {submit * 1e6:.2f} us/launch"))
    plain = _median_time(EventTimer(kernel(0.0), api), True, budget_s)
    checks.append(Check("null launch (back-to-back)", None, plain,
                        note="launch rate the host sustains"))
    for d in DURATIONS_S:
        measured = eager(d)
        checks.append(Check(f"spin {d * 1e6:g} us", null + d, measured,
                            (measured - null - d) / d, _tolerance(d)))
    side_stream = getattr(module, "Stream", None)
    if side_stream is not None:
        side = side_stream()
        with module.stream(side):
            measured = eager(100e-6)
        module.synchronize()
        checks.append(Check("spin 100 us on a side stream", null + 100e-6, measured,
                            (measured - null - 100e-6) / 100e-6, TOLERANCE,
                            "events must follow the work's stream"))
    if api.capture is not None:
        checks += _graph_checks(kernel, api, budget_s)
    again = _sleep_rate(module)
    checks.append(Check("spin clock drift", None, 1.0 / again, (again - rate) / rate, None,
                        "change of the calibrated rate during the test"))
    return checks


def _graph_checks(kernel: Callable[[float], Callable[[], object]], api: Any,
                  budget_s: float) -> list[Check]:
    """Spins of known length replayed from a device graph, against the graph's null launch."""
    gnull = _median_time(GraphTimer([kernel(0.0)], api), True, budget_s)
    checks = [Check("graph null launch", None, gnull)]
    for d in DURATIONS_S:
        measured = _median_time(GraphTimer([kernel(d)], api), True, budget_s)
        checks.append(Check(f"graph spin {d * 1e6:g} us", gnull + d, measured,
                            (measured - gnull - d) / d, _tolerance(d)))
    return checks


# ------------------------------------------------------------ other accelerators
def _matmul_checks(device: Device, budget_s: float) -> list[Check]:
    checks = []
    tdev = device.torch_device
    for n in MATMUL_SIZES:
        gen = torch.Generator().manual_seed(n)  # inputs made on the CPU: no device RNG needed
        a = torch.randn(n, n, generator=gen).to(tdev)
        b = torch.randn(n, n, generator=gen).to(tdev)
        c = torch.empty(n, n, device=tdev)

        def fn(a: torch.Tensor = a, b: torch.Tensor = b, c: torch.Tensor = c) -> object:
            return torch.matmul(a, b, out=c)

        device.synchronize()
        t0 = time.perf_counter()
        fn()
        device.synchronize()
        if n != MATMUL_SIZES[0] and time.perf_counter() - t0 > MATMUL_MAX_LAUNCH_S:
            checks.append(Check(f"matmul fp32 {n}", None, time.perf_counter() - t0,
                                note="skipped: one launch exceeds the self-test's budget"))
            break
        reps = 8
        while True:  # host reference over a long synchronised run
            device.synchronize()
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            device.synchronize()
            total = time.perf_counter() - t0
            if total >= 0.2:
                break
            reps *= 2
        expected = total / reps
        timer, batch = device.timer(fn)
        measured = _median_time(timer, batch, budget_s)
        checks.append(Check(f"matmul fp32 {n} (host-clock reference)", expected, measured,
                            (measured - expected) / expected, _tolerance(expected)))
    x = torch.zeros(1, device=tdev)
    timer, batch = device.timer(lambda: x.add_(0))
    checks.append(Check("null launch (1-element add)", None, _median_time(timer, batch, budget_s)))
    return checks


# --------------------------------------------------------------------------- CPU
class _Spin:
    """Busy-wait of ``d`` seconds that records how long it actually spun.

    The spin ends at the first clock read past ``d``, so it overshoots by up
    to one poll; the recorded spin time (first to last clock read) is the
    known work, independent of the sampler that times the launches.
    """

    def __init__(self, d: float) -> None:
        self.d = d
        self.lengths: list[float] = []

    def __call__(self) -> None:
        clock = time.perf_counter
        t0 = t = clock()
        end = t0 + self.d
        while t < end:
            t = clock()
        self.lengths.append(t - t0)

    @property
    def median(self) -> float:
        """Median spin length (robust to a spin the OS descheduled)."""
        return statistics.median(self.lengths) if self.lengths else 0.0


def _cpu_checks(device: Device, budget_s: float) -> list[Check]:
    zero = _Spin(0.0)
    timer, batch = device.timer(zero)
    null = _median_time(timer, batch, budget_s)
    checks = [Check("null launch (zero-length spin)", None, null)]
    for d in DURATIONS_S:
        spin = _Spin(d)
        timer, batch = device.timer(spin)
        measured = _median_time(timer, batch, budget_s)
        work = spin.median - zero.median
        expected = null + work
        checks.append(Check(f"busy-wait {d * 1e6:g} us", expected, measured,
                            (measured - expected) / work, _tolerance(d),
                            "spin length read inside the work"))
    return checks


def selftest(device: Device, budget_s: float = 0.5) -> list[Check]:
    """Run the self-test of ``device``'s timer (``budget_s`` of sampling per check)."""
    if isinstance(device, AcceleratorDevice):
        module = device._module
        if device._events is not None and hasattr(module, "_sleep"):
            return _sleep_checks(device, module, budget_s)
        return _matmul_checks(device, budget_s)
    return _cpu_checks(device, budget_s)
