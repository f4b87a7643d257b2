"""The testdev backend: importing this module registers the ``testdev`` device.

Importing it does what an out-of-tree backend package
(``torch_npu``, ``torch_mlu``, ``torch_musa``) does when imported: it loads
its library (building it first when the cache has none), renames
PrivateUse1 to ``testdev`` and registers ``torch.testdev``, a device module
with ``device_count``, ``synchronize``, ``get_device_name``,
``get_device_properties``, ``memory_allocated``, ``current_stream`` and
timing events. Its kernels run synchronously on host memory, so an event
records the host clock when the stream reaches it: the device's own
timeline. ``TESTDEV_EVENTS=0`` leaves ``Event`` out (a backend without timing
events), ``TESTDEV_DEVICES`` sets the device count (2).

The library is cached under ``TESTDEV_CACHE`` (set by the tests' fixture to
a directory in the pytest cache), else under ``.pytest_cache`` beside
``tests/``.
"""

from __future__ import annotations

import os
import struct
import time
import types
from collections import namedtuple
from pathlib import Path
from typing import Any

import torch

from tests.testdev.build import build

NAME = "testdev"
__version__ = "0.1"

DEFAULT_CACHE = Path(__file__).resolve().parents[2] / ".pytest_cache" / "d" / "testdev"


def cache_dir() -> Path:
    return Path(os.environ.get("TESTDEV_CACHE", str(DEFAULT_CACHE)))


Properties = namedtuple("Properties", "name total_memory multi_processor_count")


class Stream:
    """The one in-order queue of a device (kernels run when they are launched)."""

    def __init__(self, device: int = 0) -> None:
        self.device = device

    def synchronize(self) -> None:
        return None


class Event:
    """A timing event: the device timeline (the host clock, kernels being synchronous)."""

    def __init__(self, enable_timing: bool = False) -> None:
        self.enable_timing = enable_timing
        self.t: float | None = None

    def record(self, stream: Stream | None = None) -> None:
        self.t = time.perf_counter()

    def synchronize(self) -> None:
        return None

    def query(self) -> bool:
        return True

    def elapsed_time(self, end: Event) -> float:
        if not (self.enable_timing and end.enable_timing):
            raise RuntimeError("testdev: events were created without enable_timing")
        if self.t is None or end.t is None:
            raise RuntimeError("testdev: event not recorded")
        return (end.t - self.t) * 1e3


def _module(ops: Any) -> types.ModuleType:
    mod = types.ModuleType(f"torch.{NAME}")
    state = {"device": 0}
    total = 8 * 2**30

    mod.__version__ = __version__  # type: ignore[attr-defined]
    mod.is_available = lambda: int(ops.device_count()) > 0  # type: ignore[attr-defined]
    mod.device_count = lambda: int(ops.device_count())  # type: ignore[attr-defined]
    mod.current_device = lambda: state["device"]  # type: ignore[attr-defined]
    mod.set_device = lambda i: state.update(device=int(i))  # type: ignore[attr-defined]
    mod.synchronize = lambda device=None: None  # type: ignore[attr-defined]
    mod.is_initialized = lambda: True  # type: ignore[attr-defined]
    mod._is_in_bad_fork = lambda: False  # type: ignore[attr-defined]
    mod.manual_seed_all = lambda seed: None  # type: ignore[attr-defined]
    mod.get_device_name = lambda i=0: "accelbench testdev"  # type: ignore[attr-defined]
    mod.get_device_properties = (  # type: ignore[attr-defined]
        lambda i=0: Properties("accelbench testdev", total, 1))
    mod.memory_allocated = lambda device=None: int(ops.memory_allocated())  # type: ignore[attr-defined]
    mod.driver_version = lambda: f"testdev-driver {__version__}"  # type: ignore[attr-defined]
    mod.Stream = Stream  # type: ignore[attr-defined]
    mod.current_stream = lambda device=None: Stream(state["device"])  # type: ignore[attr-defined]
    if os.environ.get("TESTDEV_EVENTS", "1") != "0":
        mod.Event = Event  # type: ignore[attr-defined]
    return mod


def _register() -> None:
    if torch._C._get_privateuse1_backend_name() == NAME:
        return
    path, _seconds = build(cache_dir())
    torch.ops.load_library(str(path))
    torch.utils.rename_privateuse1_backend(NAME)
    module = _module(torch.ops.testdev)
    torch._register_device_module(NAME, module)
    torch.utils.generate_methods_for_privateuse1_backend(for_storage=True)


_register()
#: The value of a float32 tensor's first element that makes ``mul`` segfault.
CRASH_MAGIC: float = struct.unpack(
    "<f", struct.pack("<i", int(torch.ops.testdev.crash_magic_bits())))[0]
