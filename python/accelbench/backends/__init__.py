"""Backend internals behind :mod:`accelbench.devices`.

* :mod:`~accelbench.backends.timers`: the batch timers the Rust sampler
  drives (device events on the work's stream, cold cache, graph replay,
  synchronised host timing), each recording its host submit time;
* :mod:`~accelbench.backends.facts`: what each backend says about a device
  (name, memory, versions, architecture, UUID, last-level cache);
* :mod:`~accelbench.backends.telemetry`: clocks, temperature, power and
  throttle reasons sampled in a background thread while a case runs.

Everything here takes the backend's torch module (``torch.cuda``,
``torch.xpu``, ...) as an argument, so the logic is exercised on a CPU-only
machine with fake modules whose events report known times.
"""
