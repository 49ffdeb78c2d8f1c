"""Shared fixtures: one training run per session in a temporary folder, and the API on it."""

import contextlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import httpx
import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.__package_name }} import api, train
from {{ cookiecutter.__package_name }}.data import Data, load_data
from {{ cookiecutter.__package_name }}.settings import CONTRACT_FILE, Settings, get_settings

# The table ML_DATA_PATH names by default, wherever the tests run from.
DATA_PATH = Path(__file__).resolve().parents[1] / Settings.model_fields["data_path"].default


@dataclass
class Trained:
    """What the session's training run wrote, and where."""

    model_dir: Path
    tracking_uri: str
    metrics: dict
    contract: dict
    output: str

    @property
    def features(self) -> list[str]:
        return [feature["name"] for feature in self.contract["features"]]

    @property
    def numbers(self) -> list[str]:
        return [f["name"] for f in self.contract["features"] if f["kind"] == "number"]

    @property
    def categories(self) -> list[str]:
        return [f["name"] for f in self.contract["features"] if f["kind"] == "category"]

    def default_row(self) -> dict:
        """One valid row: every feature at its default (median number, most frequent category)."""
        return {feature["name"]: feature["default"] for feature in self.contract["features"]}

    def held_out(self) -> Data:
        """The split the model was trained and scored on."""
        trained_with = {"dataset", "data_path", "target", "seed", "test_size"}
        update = {k: v for k, v in self.metrics.items() if k in trained_with}
        return load_data(get_settings().model_copy(update=update))


def forget_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop the shell's ML_* and MLFLOW_* variables: tests see the defaults (table by full path)."""
    for name in list(os.environ):
        if name.startswith(("ML_", "MLFLOW_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ML_DATA_PATH", str(DATA_PATH))


def use_model(monkeypatch: pytest.MonkeyPatch, model_dir: Path, tracking_uri: str) -> None:
    monkeypatch.setenv("ML_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Trained:
    """Train once for the whole session (MLflow makes it take seconds), in a temporary folder."""
    root = tmp_path_factory.mktemp("trained")
    model_dir = root / "model"
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    output = io.StringIO()
    with pytest.MonkeyPatch.context() as monkeypatch:
        forget_outside_settings(monkeypatch)
        monkeypatch.chdir(root)  # MLflow keeps its artifacts next to the working directory
        use_model(monkeypatch, model_dir, tracking_uri)
        with contextlib.redirect_stdout(output):
            metrics = train.train(get_settings())
    get_settings.cache_clear()
    contract = json.loads((model_dir / CONTRACT_FILE).read_text())
    return Trained(model_dir, tracking_uri, metrics, contract, output.getvalue())


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Each test runs in its own folder (reports/ lands there) and sees only its own settings."""
    forget_outside_settings(monkeypatch)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def model_env(trained, monkeypatch) -> Trained:
    """Settings point at the session's trained model and MLflow store."""
    use_model(monkeypatch, trained.model_dir, trained.tracking_uri)
    return trained


@pytest.fixture
def client(model_env):
    """The API with the trained model loaded by its own lifespan; a crash answers 500."""
    with TestClient(api.app, raise_server_exceptions=False) as client:
        yield client


def without_timeout(call):
    """The TestClient warns about timeouts: it has no network to wait for."""
    return lambda url, timeout=None, **kwargs: call(url, **kwargs)


@pytest.fixture
def api_behind_httpx(client, monkeypatch):
    """httpx.get and httpx.post, which the UI calls, reach the in-process API at ML_API_URL."""
    monkeypatch.setenv("ML_API_URL", str(client.base_url))
    get_settings.cache_clear()
    with (
        mock.patch("httpx.get", side_effect=without_timeout(client.get)) as get,
        mock.patch("httpx.post", side_effect=without_timeout(client.post)) as post,
    ):
        yield get, post


class ApiAndHealthyUi(TestClient):
    """The API in this process at http://testserver, whose /_stcore/health answers like a UI's."""

    def get(self, url, timeout=None, **kwargs):
        if httpx.URL(url).host != "testserver":
            raise httpx.ConnectError(f"[Errno 111] Connection refused: {url}")
        if httpx.URL(url).path == "/_stcore/health":
            return httpx.Response(200, text="ok", request=httpx.Request("GET", url))
        return super().get(url, **kwargs)


@pytest.fixture
def in_process_services(model_env, monkeypatch):
    """httpx.Client() gives a client on the in-process API and a healthy UI: no server needed."""
    monkeypatch.setattr(httpx, "Client", lambda **kwargs: ApiAndHealthyUi(api.app))
    return "http://testserver"
