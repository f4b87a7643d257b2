"""Running suites: the runner, the supervised worker that runs each case, and its process.

Above the measurement core (:mod:`accelbench.measure`) and the worlds of
ranks (:mod:`accelbench.distributed`): the runner hands ordinary cases to a
worker (:mod:`~accelbench.runner.isolation`, :mod:`~accelbench.runner.worker`)
and world cases to :mod:`accelbench.distributed.lead`, and records each as it
ends (:mod:`~accelbench.runner.suite`).
"""

from __future__ import annotations

from accelbench.measure.case import measure_case
from accelbench.measure.core import Outcome, Settings
from accelbench.runner.suite import ProgressHook, Runner, deaths_in_flight, needs_world

__all__ = ["Outcome", "ProgressHook", "Runner", "Settings", "deaths_in_flight", "measure_case",
           "needs_world"]
