"""Running suites: the runner, the supervised worker that runs each case, and its process.

Above the measurement core (:mod:`accelbench.measure`) and the worlds of
ranks (:mod:`accelbench.distributed`): the runner hands ordinary cases to a
worker (:mod:`~accelbench.runner.isolation`, :mod:`~accelbench.runner.worker`)
and world cases to :mod:`accelbench.distributed.lead`, and records each as it
ends (:mod:`~accelbench.runner.suite`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accelbench.measure.case import measure_case
    from accelbench.measure.core import Outcome, Settings
    from accelbench.runner.suite import ProgressHook, Runner, deaths_in_flight, needs_world

#: Loaded on first use: the worker (``accelbench.runner.worker``) imports this package but
#: none of the runner's own modules, which import pandas and the distributed launcher.
_LAZY = {"measure_case": "accelbench.measure.case", "Outcome": "accelbench.measure.core",
         "Settings": "accelbench.measure.core", "ProgressHook": "accelbench.runner.suite",
         "Runner": "accelbench.runner.suite", "deaths_in_flight": "accelbench.runner.suite",
         "needs_world": "accelbench.runner.suite"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'accelbench.runner' has no attribute {name!r}")

__all__ = ["Outcome", "ProgressHook", "Runner", "Settings", "deaths_in_flight", "measure_case",
           "needs_world"]
