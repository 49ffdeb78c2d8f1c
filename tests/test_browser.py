"""The UI in a real browser: a baked project's `make smoke` drives headless Chromium (Debian's
`chromium` package, as CHROMIUM) through its Streamlit page, submits the default row and reads the
class shown; it fails in one line, keeping a screenshot, when ui.py raises while rendering and when
the UI cannot reach the API. One bake, trained once, one API; a UI per case."""

import json
import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import PROJECT_VENV, free_port, make, require_tool

pytestmark = [pytest.mark.baked, pytest.mark.slow]

SCREENSHOT = Path("reports/ui.png")


@contextmanager
def running(project: Path, *args: str, env: dict | None = None):
    """`python -m ARGS` with the project's virtualenv, in the project; stopped by its PID."""
    server = subprocess.Popen(
        [str(PROJECT_VENV / "bin" / "python"), "-m", *args],
        cwd=project,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def project(bake_session) -> Path:
    require_tool("chromium")  # before training: skip (or, in CI, fail) at once without it
    project = bake_session()
    if not (project / "model" / "contract.json").is_file():
        make(project, "train")
    return project


@pytest.fixture(scope="module")
def api_port(project):
    port = free_port()
    app = f"{project.name}.api:app"  # the default bake's package is named like its folder
    with running(project, "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)):
        yield port


def smoke_against_ui(project: Path, api_port: int, ui_script: Path, ui_api_url: str):
    """Start the UI from `ui_script`, calling the API at `ui_api_url`; `make smoke` against it."""
    chromium = require_tool("chromium")
    ui_port = free_port()
    (project / SCREENSHOT).unlink(missing_ok=True)
    streamlit = ["streamlit", "run", str(ui_script), "--server.address", "127.0.0.1"]
    streamlit += ["--server.port", str(ui_port), "--server.headless", "true"]
    with running(project, *streamlit, env={"ML_API_URL": ui_api_url}):
        started = time.monotonic()
        result = make(
            project,
            "smoke",
            f"API_PORT={api_port}",
            f"UI_PORT={ui_port}",
            check=False,
            env={"CHROMIUM": chromium},
        )
    seconds = time.monotonic() - started
    failures = [line for line in result.stderr.splitlines() if line.startswith("smoke: FAILED")]
    print(f"{ui_script.name}: exit {result.returncode} in {seconds:.1f} s: {failures}")
    return result, failures, f"http://127.0.0.1:{ui_port}"


def test_the_ui_in_chromium_shows_the_trained_label_for_the_default_row(project, api_port):
    ui = project / project.name / "ui.py"
    result, failures, _ = smoke_against_ui(project, api_port, ui, f"http://127.0.0.1:{api_port}")
    assert result.returncode == 0 and not failures, result.stdout + result.stderr
    example = json.loads((project / "model" / "contract.json").read_text())["example"]
    assert f"the UI in Chromium shows {example['label']!r}" in result.stdout
    assert (project / SCREENSHOT).read_bytes().startswith(b"\x89PNG")


def test_fails_in_one_line_with_a_screenshot_when_ui_py_raises(project, api_port, tmp_path):
    broken = tmp_path / "ui.py"
    source = (project / project.name / "ui.py").read_text()
    broken.write_text(
        source.replace("st.title(", "raise RuntimeError('no page today')\nst.title(", 1)
    )
    result, failures, ui_url = smoke_against_ui(
        project, api_port, broken, f"http://127.0.0.1:{api_port}"
    )
    assert result.returncode != 0
    assert failures == [
        f"smoke: FAILED: the UI at {ui_url} shows an exception: RuntimeError: no page today "
        f"(see {SCREENSHOT})"
    ]
    assert (project / SCREENSHOT).read_bytes().startswith(b"\x89PNG")


def test_fails_in_one_line_with_a_screenshot_when_the_ui_cannot_reach_the_api(project, api_port):
    ui = project / project.name / "ui.py"
    nowhere = f"http://127.0.0.1:{free_port()}"
    result, failures, ui_url = smoke_against_ui(project, api_port, ui, nowhere)
    assert result.returncode != 0
    [failure] = failures
    assert failure.startswith(
        f"smoke: FAILED: the UI at {ui_url} shows an error: The API at {nowhere} cannot be reached"
    )
    assert failure.endswith(f"(see {SCREENSHOT})")
    assert (project / SCREENSHOT).read_bytes().startswith(b"\x89PNG")
