"""The measurement core: settings and row helpers, the one measurement step, one case.

* :mod:`~accelbench.measure.core`: settings, the outcome of a case, the row
  helpers (no torch);
* :mod:`~accelbench.measure.measurement`: timer choice, the sampler, the
  summary columns, used by every path that times a kernel;
* :mod:`~accelbench.measure.case`: one case start to end (prepare, time,
  check); :mod:`~accelbench.measure.sustain`: a case under sustained load;
  :mod:`~accelbench.measure.selftest`: the timer's self-test.
"""
