"""Out-of-tree accelerators: loading their packages and finding the PrivateUse1 backend.

Most accelerators that are not NVIDIA, AMD, Intel or Apple reach PyTorch as
an out-of-tree package that registers PyTorch's *PrivateUse1* dispatch key
under its own device name: Huawei Ascend (``torch_npu``, device ``npu``),
Cambricon (``torch_mlu``, ``mlu``), Moore Threads (``torch_musa``,
``musa``) and others that follow the same pattern. Importing the package
renames PrivateUse1 (``torch._C._get_privateuse1_backend_name()`` stops
being ``privateuseone``) and registers the device module ``torch.<name>``.

Loading the package is the user's choice, never a list kept here:

* ``--import PACKAGE`` on the command line (:func:`import_backends`), passed
  on to every worker process;
* an entry point in the group :data:`ENTRY_POINT_GROUP`
  (``[project.entry-points."accelbench.backends"] musa = "torch_musa"``),
  loaded by :func:`load_entry_points` when ``--device`` is ``auto`` or names
  a device that is not registered yet; a value naming a callable is called;
* PyTorch's own autoloading of the ``torch.backends`` entry point group
  (``TORCH_DEVICE_BACKEND_AUTOLOAD``), which some packages use.
"""

from __future__ import annotations

import importlib
from importlib import metadata

import torch

from accelbench.errors import DeviceError

__all__ = [
    "ENTRY_POINT_GROUP",
    "KNOWN_PACKAGES",
    "import_backends",
    "imported_backends",
    "load_entry_points",
    "privateuse1_backend",
]

#: Entry point group through which a package makes its backend loadable.
ENTRY_POINT_GROUP = "accelbench.backends"

#: PrivateUse1's name before a package renames it.
UNREGISTERED = "privateuseone"

#: Package to suggest in an error for device names known to come from one
#: (a hint only: nothing here is imported unless the user asks).
KNOWN_PACKAGES: dict[str, str] = {"npu": "torch_npu", "mlu": "torch_mlu", "musa": "torch_musa"}

_imported: list[str] = []
_entry_points_loaded = False


def import_backends(modules: list[str] | tuple[str, ...]) -> list[str]:
    """Import each backend package in ``modules`` (``--import``); returns those imported now."""
    done = []
    for name in modules:
        name = name.strip()
        if not name or name in _imported:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # an ImportError or the package's own failure
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise DeviceError(
                f"--import {name}: {type(exc).__name__}: {first}"
            ) from None
        _imported.append(name)
        done.append(name)
    return done


def imported_backends() -> tuple[str, ...]:
    """Packages imported with :func:`import_backends` (worker processes import them too)."""
    return tuple(_imported)


def load_entry_points() -> list[str]:
    """Load the backends of the :data:`ENTRY_POINT_GROUP` entry points (once); their names."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return []
    _entry_points_loaded = True
    loaded = []
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = entry.load()
            if callable(target):
                target()
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise DeviceError(f"backend entry point {entry.name!r} ({entry.value}) failed: "
                              f"{type(exc).__name__}: {first}") from None
        loaded.append(entry.name)
    return loaded


def privateuse1_backend() -> str | None:
    """The device name a package gave PrivateUse1, or None when none is registered."""
    name = str(torch._C._get_privateuse1_backend_name())
    return None if name == UNREGISTERED else name


def not_registered(backend: str) -> DeviceError:
    """The error for a device name no loaded package registered."""
    loaded = privateuse1_backend()
    package = KNOWN_PACKAGES.get(backend, "PACKAGE")
    have = f"the PrivateUse1 backend loaded is {loaded!r}" if loaded else \
        "no PrivateUse1 backend is loaded"
    return DeviceError(f"unknown device {backend!r}: not an in-tree backend and {have} "
                       f"(load its package with --import {package})")
