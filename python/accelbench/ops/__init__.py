"""The operator sweep: which PyTorch operators a device runs, and whether it agrees.

PyTorch's own operator database, OpInfo
(``torch.testing._internal.common_methods_invocations.op_db``), describes each
operator with sample inputs and the dtypes it declares per device type. The
sweep runs every sample of every selected (operator, dtype) on one device and
records one row per pair (``kernel = "ops"``, ``case`` = the operator's full
name):

* :mod:`~accelbench.ops.sets` reads the named operator sets of the catalog
  (``kernels/ops/*.toml``, e.g. ``llm``) and matches ``--ops`` globs;
* :mod:`~accelbench.ops.opinfo` indexes op_db (imported once per worker);
* :mod:`~accelbench.ops.execute` runs one (operator, dtype) in the worker:
  agreement with the float64 result on the CPU, determinism, fingerprint,
  optionally ``torch.compile`` and a quick timing, and the defects it found;
* :mod:`~accelbench.ops.repro` writes the few lines of Python that reproduce
  a defect.

The supervision (a worker per device, crash and hang isolation, resume) is
the runner's (:mod:`accelbench.runner.isolation`, :mod:`accelbench.runner.suite`).
"""

from __future__ import annotations

__all__ = ["COMPILE_OP_TIMEOUT", "OP_TIMEOUT"]

#: Seconds one operator (all its samples, one dtype) may take before it is a hang.
OP_TIMEOUT = 120.0
#: The same under ``--compile`` (every sample shape compiles).
COMPILE_OP_TIMEOUT = 600.0
