"""Shared helpers: bake, run commands in a bake, free ports, broken copies, skip-or-fail for tools."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
IN_CI = bool(os.environ.get("CI"))
# `make install` puts the generated project's dev requirements into this very virtualenv.
PROJECT_VENV = Path(sys.prefix)
# npm tools (gitlab-ci-local, node 22, the CircleCI parser), installed by `make tools`.
NODE_BIN = PROJECT_VENV / "node" / "node_modules" / ".bin"


def skip_or_fail(reason: str):
    """Skip locally; in CI (CI=true) no test may skip, so fail with the same reason."""
    if IN_CI:
        pytest.fail(f"{reason}; in CI no test may skip")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """Path of a command-line tool (the venv and its node tools first, then PATH)."""
    path = shutil.which(name, path=os.pathsep.join([str(PROJECT_VENV / "bin"), str(NODE_BIN)]))
    path = path or shutil.which(name)
    if not path:
        skip_or_fail(f"{name} is not installed (`make tools` installs it)")
    return path


def run(cmd, cwd, env=None, check=True, timeout=900) -> subprocess.CompletedProcess:
    """Run a command, capture its output, and show that output when it fails unexpectedly."""
    result = subprocess.run(
        cmd,
        cwd=cwd,
        env={**os.environ, **(env or {})},
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
    command = ["make", "--no-print-directory", *targets, f"VENV={PROJECT_VENV}"]
    return run(command, cwd=project, env=env, check=check, timeout=timeout)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def broken_copy(project: Path, tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of the project with one deliberate mistake in the file `name` (first `old` only)."""
    copy = tmp_path / "broken" / project.name
    shutil.copytree(project, copy)
    text = (copy / name).read_text()
    assert old in text, f"{old!r} is not in {name}: update the broken case"
    (copy / name).write_text(text.replace(old, new, 1))
    return copy


@pytest.fixture(scope="session")
def pristine_bake(tmp_path_factory):
    """The one way to bake: answers -> an untouched bake, baked once per session (and worker)."""
    cache = {}

    def bake(answers: dict) -> Path:
        key = json.dumps(answers, sort_keys=True)
        if key not in cache:
            out = tmp_path_factory.mktemp("pristine")
            cache[key] = Path(
                cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=out)
            )
        return cache[key]

    return bake


@pytest.fixture(scope="session")
def bake_session(pristine_bake, tmp_path_factory):
    """bake_session(**answers) -> one shared copy per answer set: read it, or run targets that
    only add files (train, gate); never break it."""
    shared = {}

    def bake(**answers) -> Path:
        key = json.dumps(answers, sort_keys=True)
        if key not in shared:
            source = pristine_bake(answers)
            shared[key] = Path(
                shutil.copytree(source, tmp_path_factory.mktemp("bake") / source.name)
            )
        return shared[key]

    return bake


@pytest.fixture
def bake(pristine_bake, tmp_path):
    """bake(**answers) -> a fresh copy of the bake, this test's own to change."""
    count = iter(range(1_000))

    def bake(**answers) -> Path:
        source = pristine_bake(answers)
        return Path(shutil.copytree(source, tmp_path / f"bake{next(count)}" / source.name))

    return bake


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups in its own hook of this name
def pytest_collection_modifyitems(items):
    """Docker tests each start a dockerd, and two engines share one bridge: run them one by one."""
    for item in items:
        if item.get_closest_marker("docker"):
            item.add_marker(pytest.mark.xdist_group("docker"))
