"""Make ``accel_benchmark`` available when the plugin is not installed (source checkout).

Installed, accelbench registers it as a ``pytest11`` plugin (with its
``--accel-*`` options); from a source tree run ``pytest -p accelbench.pytest_plugin
benchmarks/`` to get the options too.
"""

from accelbench.pytest_plugin import accel_benchmark

__all__ = ["accel_benchmark"]
