"""Shared fixtures: bake a project, run commands in it, and demand tools when CI is set."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[1]
IN_CI = bool(os.environ.get("CI"))
# `make install` puts the generated project's dev requirements into this very virtualenv.
PROJECT_VENV = Path(sys.prefix)


def require_tool(name: str) -> str:
    """Path of a command-line tool; skip without it locally, fail without it in CI."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (`make tools` installs it)"
    if IN_CI:
        pytest.fail(f"{message}; in CI no test may skip")
    pytest.skip(message)


def run(cmd, cwd, env=None, check=True, timeout=900) -> subprocess.CompletedProcess:
    """Run a command, capture its output, and show that output when it fails unexpectedly."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(
        cmd,
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        shell=isinstance(cmd, str),
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{cmd} exited {result.returncode}\n--- stdout\n{result.stdout}\n"
            f"--- stderr\n{result.stderr}"
        )
    return result


def make(project: Path, *targets: str, check=True, env=None, timeout=900):
    """`make TARGET` in a baked project, with the prebuilt virtualenv (nothing reinstalls)."""
    return run(
        ["make", "--no-print-directory", *targets, f"VENV={PROJECT_VENV}"],
        cwd=project,
        env=env,
        check=check,
        timeout=timeout,
    )


def _bake(cookies, answers: dict) -> Path:
    result = cookies.bake(extra_context=answers)
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    return Path(result.project_path)


@pytest.fixture
def bake(cookies):
    """bake(**answers) -> path of a freshly baked project (function scope)."""
    return lambda **answers: _bake(cookies, answers)


@pytest.fixture(scope="session")
def bake_session(cookies_session):
    """bake_session(**answers) -> path of a baked project, one bake per answer set per session."""
    cache = {}

    def bake(**answers):
        key = tuple(sorted(answers.items()))
        if key not in cache:
            cache[key] = _bake(cookies_session, answers)
        return cache[key]

    return bake


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups in its own hook of this name
def pytest_collection_modifyitems(items):
    """Docker tests each start a dockerd, and two engines share one bridge: run them one by one."""
    for item in items:
        if item.get_closest_marker("docker"):
            item.add_marker(pytest.mark.xdist_group("docker"))
