"""The exception hierarchy of accelbench.

Every error accelbench raises derives from :class:`AccelbenchError`, which is
created by the native module so that Rust-side failures (bad samples) and
Python-side failures share one root. The CLI maps :class:`UsageError` to exit
code 2 with a one-line message, never a traceback.
"""

from __future__ import annotations

from accelbench._core import AccelbenchError, InputError

__all__ = [
    "AccelbenchError",
    "CatalogError",
    "CompileError",
    "DeviceError",
    "InputError",
    "UnsupportedError",
    "UsageError",
]


class UsageError(AccelbenchError):
    """Bad command-line usage or input: the CLI exits with code 2."""


class CatalogError(UsageError):
    """A catalog or suite file is malformed; the message names the file and field."""


class DeviceError(UsageError):
    """The requested device does not exist or its backend is not installed."""


class UnsupportedError(AccelbenchError):
    """A case cannot run on this device (dtype, backend or size); recorded as `unsupported`."""


class CompileError(AccelbenchError):
    """``torch.compile`` failed on a case's function; recorded as ``compile_error``."""
