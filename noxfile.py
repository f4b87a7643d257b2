"""Developer and benchmark sessions: ``nox -s tests``, ``nox -s lint``, ``nox -s bench-cpu``.

Virtualenvs are reused, so PyTorch (a multi-GB wheel) is installed once per
session venv; the package itself is rebuilt (Rust included) on every run.
"""

from __future__ import annotations

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = False

PYTHON = "3"  # whichever python3 runs nox; the wheel is abi3 (CPython >= 3.10)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Build the extension, run the Rust unit tests and the pytest suite."""
    session.install(".[test]")
    session.run("cargo", "test", "-p", "accelbench-core", "--release", external=True)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, mypy (strict) and stubtest on Python; rustfmt and clippy on Rust."""
    session.install(".[lint]")
    session.run("ruff", "check", "python", "tests", "benchmarks", "examples", "noxfile.py")
    session.run("mypy")
    session.run("python", "-m", "mypy.stubtest", "accelbench._core",
                "--allowlist", "stubtest_allowlist.txt")
    session.run("cargo", "fmt", "--all", "--check", external=True)
    session.run("cargo", "clippy", "--all-targets", "--", "-D", "warnings", external=True)


def _bench(session: nox.Session, device: str) -> None:
    session.install(".[plot]")
    session.run("accelbench", "run", "--device", device, "--suite", "standard",
                *session.posargs)


@nox.session(name="bench-cpu", python=PYTHON, default=False)
def bench_cpu(session: nox.Session) -> None:
    """Run the standard suite on the CPU."""
    _bench(session, "cpu")
