"""Training faults: MLflow down or failing, disk full; one line each, and model/ left as it was."""

import errno
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from {{ cookiecutter.__package_name }} import train
from {{ cookiecutter.__package_name }}.settings import CONTRACT_FILE, get_settings

PREVIOUS = '{"model_version": "previous"}'


@pytest.fixture
def previous_model(monkeypatch, tmp_path) -> Path:
    """A model/ from an earlier training, which a failed one must leave as it was."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / CONTRACT_FILE).write_text(PREVIOUS)
    monkeypatch.setenv("ML_MODEL_DIR", str(model_dir))
    get_settings.cache_clear()
    return model_dir


def assert_left_as_it_was(model_dir: Path) -> None:
    assert [p.name for p in model_dir.parent.iterdir() if p.name.startswith(".model")] == []
    assert [p.name for p in model_dir.iterdir()] == [CONTRACT_FILE]
    assert (model_dir / CONTRACT_FILE).read_text() == PREVIOUS


def failed_training() -> str:
    """The message training stops with (SystemExit: printed alone, exit status 1)."""
    with pytest.raises(SystemExit) as stopped:
        train.train(get_settings())
    assert isinstance(stopped.value.code, str)  # a message, so the exit status is 1
    [line] = stopped.value.code.splitlines()
    return line


class Failing(BaseHTTPRequestHandler):
    """An MLflow server that answers 500 to everything, or only after a healthy /health."""

    healthy = False

    def answer(self):
        ok = self.healthy and self.path == "/health"
        self.send_response(200 if ok else 500)
        self.end_headers()
        self.wfile.write(b"OK" if ok else b"Internal Server Error")

    do_GET = do_POST = answer

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def failing_mlflow(monkeypatch, request):
    """The URL of a local server answering 500; healthy=True keeps its /health at 200."""
    handler = type("Handler", (Failing,), {"healthy": getattr(request, "param", False)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # else minutes of back-off
    get_settings.cache_clear()
    yield url
    server.shutdown()
    server.server_close()
    thread.join()


def test_an_unreachable_mlflow_server_stops_training(previous_model, monkeypatch):
    with ThreadingHTTPServer(("127.0.0.1", 0), Failing) as server:
        url = f"http://127.0.0.1:{server.server_port}"  # a port nobody listens on once closed
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    get_settings.cache_clear()
    line = failed_training()
    assert line.startswith(f"train: the MLflow tracking server at {url} is not reachable"), line
    assert "Connection refused" in line
    assert_left_as_it_was(previous_model)


def test_an_mlflow_server_answering_500_stops_training(previous_model, failing_mlflow):
    line = failed_training()
    assert line.startswith(f"train: the MLflow tracking server at {failing_mlflow} is not"), line
    assert "500" in line
    assert_left_as_it_was(previous_model)


@pytest.mark.parametrize("failing_mlflow", [True], indirect=True)
def test_mlflow_failing_during_training_leaves_model_as_it_was(previous_model, failing_mlflow):
    line = failed_training()
    assert line.startswith(f"train: MLflow at {failing_mlflow} failed: "), line
    assert line.endswith(f"{previous_model}/ is left as it was")
    assert_left_as_it_was(previous_model)


def test_a_full_disk_stops_training_and_leaves_model_as_it_was(previous_model, monkeypatch):
    def fill_the_disk(pipeline, path):
        Path(path).write_bytes(b"half a model")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(train.joblib, "dump", fill_the_disk)
    line = failed_training()
    assert line.startswith("train: cannot write "), line
    assert line.endswith(f"No space left on device; {previous_model}/ is left as it was")
    assert_left_as_it_was(previous_model)
