"""Shared fixtures: tiny catalogs and a helper that runs the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from accelbench.workloads import user

TINY_MATMUL = """
family = "matmul"
[[case]]
name = "tiny"
size = [32, 64]
dtypes = ["fp32", "fp64"]
"""

#: Fast measurement flags for end-to-end runs (a case takes well under a second).
FAST = ["--warmup", "0.02", "--max-case-time", "0.2", "--min-samples", "5"]


@pytest.fixture(autouse=True)
def _own_state_home(tmp_path_factory: pytest.TempPathFactory,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    """accelbench's per-machine state (the stored drift) in a folder of the test's own: the
    developer's never changes a test's result, tests never write to it, and a drift one
    test stores does not reach another."""
    from accelbench.analysis.drift import HOME_ENV

    monkeypatch.setenv(HOME_ENV, str(tmp_path_factory.mktemp("accelbench-home")))


@pytest.fixture
def tiny_suite(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_MATMUL)
    return path


Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """Run ``python -m accelbench ARGS`` in tmp_path; returns the completed process."""

    def run(
        *args: str, timeout: float = 300, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, COLUMNS="200")
        return subprocess.run(
            [sys.executable, "-m", "accelbench", *args],
            capture_output=True, text=True, timeout=timeout, cwd=cwd or tmp_path, env=env,
            check=False,
        )

    return run


TESTS_DIR = Path(__file__).resolve().parent
#: What the testdev fixture did, for the end-of-session summary.
_TESTDEV_BUILD: list[str] = []


@pytest.fixture(scope="session")
def testdev_env(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for processes that load the testdev PrivateUse1 backend (tests/testdev).

    The library is compiled once into the pytest cache (``.pytest_cache/d/testdev``,
    kept between sessions and CI steps that keep the cache) and only rebuilt when
    its source, torch or the flags change. The pytest process itself never loads
    it (renaming PrivateUse1 is process-wide): the CLI and scripts that do are
    subprocesses, given ``--import tests.testdev.backend``.
    """
    from tests.testdev.build import build, compiler

    if compiler() is None:
        pytest.skip("the testdev backend needs a C++ compiler (none on PATH, CXX unset)")
    cache = request.config.cache
    where = cache.mkdir("testdev") if cache is not None else tmp_path_factory.mktemp("testdev")
    path, seconds = build(Path(where))
    how = "cached" if seconds is None else f"built in {seconds:.1f} s"
    _TESTDEV_BUILD.append(f"testdev backend: {how} ({path.name})")
    # The repository root, for ``tests.testdev``; never ``python/``, which would shadow
    # an installed (non-editable) accelbench that holds the compiled ``_core``.
    root = str(TESTS_DIR.parent)
    pythonpath = os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return dict(os.environ, TESTDEV_CACHE=str(where), PYTHONPATH=pythonpath, COLUMNS="200")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _TESTDEV_BUILD:
        terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _user_families_of_this_test_only() -> Iterator[None]:
    """User families a test loads in this process (a per-process registry) end with it."""
    saved = dict(user._LOADED), dict(user._SPECS)
    yield
    user._LOADED.clear(), user._SPECS.clear()
    user._LOADED.update(saved[0]), user._SPECS.update(saved[1])
