"""``accelbench ops --time``: a quick timing of each operator with the Rust sampler.

One sample input (the first that ran) per operator, through the measurement
step every family uses (:mod:`accelbench.measure.measurement`), on a short
budget: a figure to spot an operator that is orders of magnitude slow, not a
benchmark (``accelbench run`` measures kernels properly).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accelbench.devices import Device
from accelbench.measure.measurement import SamplingSpec, Timing, make_timer, sample

__all__ = ["QUICK", "time_sample"]

#: The short budget of ``--time``: 20 ms of warm-up, up to 100 ms of samples.
QUICK = SamplingSpec(warmup_s=0.02, max_time_s=0.1, target_rel_ci=0.05, min_samples=5)


def time_sample(fn: Callable[..., Any], sample_input: Any, device: Device,
                spec: SamplingSpec = QUICK) -> tuple[dict[str, Any], list[float]]:
    """Timing columns of ``fn`` on one sample input, and the raw samples (seconds)."""
    args, kwargs = (sample_input.input, *sample_input.args), sample_input.kwargs

    def launch() -> object:
        return fn(*args, **kwargs)

    timer, batch = make_timer(device, launch, Timing())
    measurement = sample(timer, batch, spec)
    device.synchronize()
    columns = measurement.columns()
    columns.pop("status", None)
    return columns, list(measurement.samples)
