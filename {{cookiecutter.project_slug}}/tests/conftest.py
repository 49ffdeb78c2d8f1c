"""Shared fixtures: who owns which tests, one training run per session for the training owner's
tests, a fixture model for everyone else's, and the API on it."""

import contextlib
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import httpx
import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.__package_name }}.data import MISSING, Data, describe, load_data
from {{ cookiecutter.__package_name }}.settings import (
    CONTRACT_FILE,
    METRICS_FILE,
    ONNX_FILE,
    RUNTIME,
    SKLEARN_FILE,
    Settings,
    get_settings,
)

# Whose tests are whose, by file name (.github/CODEOWNERS and .gitlab/CODEOWNERS name the same
# files). `make test-OWNER` runs `pytest --owner OWNER`: that owner's tests plus the shared ones
# (files no owner claims, e.g. test_report.py). Only the training owner's tests train: the others
# get a fixture model, so a broken train.py turns only the training owner's check red.
OWNERS = {
    "train": (
        "test_train",
        "test_data",
        "test_export",
        "test_gate",
        "test_promote",
        "test_champion",
    ),
    "api": ("test_api", "test_smoke"),
    "ui": ("test_ui",),
}

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


def owner_of(path: Path) -> str | None:
    """The owner of a test file, or None for a shared one."""
    return next((o for o, names in OWNERS.items() if path.name.startswith(names)), None)


def pytest_addoption(parser):
    parser.addoption(
        "--owner", choices=list(OWNERS), help="only this owner's tests and the shared ones"
    )


def pytest_ignore_collect(collection_path: Path, config):
    """With --owner, other owners' files are not even imported: their code may be broken."""
    owner = config.getoption("--owner")
    if owner and collection_path.suffix == ".py" and owner_of(collection_path) not in (owner, None):
        return True
    return None


@pytest.fixture(scope="session")
def training_run(tmp_path_factory) -> Trained:
    """Train once for the whole session (MLflow makes it take seconds), in a temporary folder."""
    from {{ cookiecutter.__package_name }} import train  # the training owner's code, only here

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


def write_fixture_model(settings: Settings) -> tuple[dict, dict]:
    """A small logistic regression written to model/ straight from scikit-learn and skl2onnx, in
    the files and contract `make train` writes; train.py is not used. tests/test_train_fixture.py
    keeps its contract in the shape of the trained one."""
    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    data = load_data(settings)
    parts = []
    if data.numbers:
        scaled = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
        parts.append(("numbers", scaled, data.numbers))
    if data.categories:
        one_hot = make_pipeline(
            SimpleImputer(missing_values=MISSING, strategy="most_frequent"),
            OneHotEncoder(handle_unknown="ignore"),
        )
        parts.append(("categories", one_hot, list(data.categories)))
    model = Pipeline(
        [("prepare", ColumnTransformer(parts)), ("classifier", LogisticRegression(max_iter=1000))]
    ).fit(data.X_train, data.y_train)

    features = [describe(name, data.X_train[name], data.categories) for name in data.features]
    row = {feature["name"]: feature["default"] for feature in features}
    [code] = model.predict(data.X_train.head(1).assign(**row))
    contract = {
        "model_name": settings.registered_model_name,
        "model_version": "fixture",
        "run_id": "fixture",
        "runtime": RUNTIME,
        "dataset": settings.dataset,
        "model": "logistic_regression",
        "features": features,
        "classes": data.classes,
        "example": {"row": row, "label": data.classes[code]},
    }
    average = "binary" if len(data.classes) == 2 else "macro"
    metrics = {
        "f1": float(f1_score(data.y_test, model.predict(data.X_test), average=average)),
        "f1_average": average,
        "model_version": "fixture",
        "runtime": RUNTIME,
        **settings.model_dump(
            include={"dataset", "data_path", "target", "model", "seed", "test_size"}, mode="json"
        ),
    }
    settings.model_dir.mkdir(parents=True)
    joblib.dump(model, settings.model_dir / SKLEARN_FILE)
    if RUNTIME == "onnx":
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType, StringTensorType

        kinds = {name: StringTensorType([None, 1]) for name in data.categories}
        inputs = [(name, kinds.get(name, FloatTensorType([None, 1]))) for name in data.features]
        onx = to_onnx(model, initial_types=inputs, options={"zipmap": False}, target_opset=17)
        (settings.model_dir / ONNX_FILE).write_bytes(onx.SerializeToString())
    (settings.model_dir / CONTRACT_FILE).write_text(json.dumps(contract, indent=2))
    (settings.model_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    return contract, metrics


@pytest.fixture(scope="session")
def fixture_model(tmp_path_factory) -> Trained:
    """The API and UI owners' model: built in about a second, without the training code path."""
    root = tmp_path_factory.mktemp("fixture_model")
    model_dir, tracking_uri = root / "model", f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as monkeypatch:
        forget_outside_settings(monkeypatch)
        use_model(monkeypatch, model_dir, tracking_uri)
        contract, metrics = write_fixture_model(get_settings())
    get_settings.cache_clear()
    return Trained(model_dir, tracking_uri, metrics, contract, output="")


@pytest.fixture
def trained(request) -> Trained:
    """The training owner's tests get the session's training run; every other test gets the
    fixture model, and so does not depend on train.py."""
    real = owner_of(Path(request.node.path)) == "train"
    return request.getfixturevalue("training_run" if real else "fixture_model")


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
    """Settings point at the test's model (see `trained`) and its MLflow store."""
    use_model(monkeypatch, trained.model_dir, trained.tracking_uri)
    return trained


@pytest.fixture
def model_copy(trained, monkeypatch, tmp_path) -> Path:
    """A copy of the model/ that a test may damage; the settings point at it."""
    model_dir = tmp_path / "model"
    shutil.copytree(trained.model_dir, model_dir)
    monkeypatch.setenv("ML_MODEL_DIR", str(model_dir))
    get_settings.cache_clear()
    return model_dir


@pytest.fixture
def registry(model_env, monkeypatch, tmp_path):
    """The session's trained model in a registry of this test's own (a copy of the sqlite store)."""
    from mlflow import MlflowClient  # here: the API and UI owners' tests never load MLflow

    db = tmp_path / "mlflow.db"
    shutil.copy(model_env.tracking_uri.removeprefix("sqlite:///"), db)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    get_settings.cache_clear()
    return MlflowClient(tracking_uri=f"sqlite:///{db}")


@pytest.fixture
def older_champion(model_env, registry) -> str:
    """Another registered version of the same files (so, as good), carrying the alias champion.
    Registered from where the files are stored: a `models:/` source would be looked up among the
    logged models, which other tests' training runs replace."""
    name, trained = model_env.contract["model_name"], model_env.contract["model_version"]
    source = registry.get_model_version_download_uri(name, trained)
    run = registry.get_model_version(name, trained).run_id
    version = registry.create_model_version(name, source, run).version
    registry.set_registered_model_alias(name, "champion", version)
    return str(version)


@pytest.fixture
def client(model_env):
    """The API with the model loaded by its own lifespan; a crash answers 500."""
    from {{ cookiecutter.__package_name }} import api

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
    from {{ cookiecutter.__package_name }} import api

    monkeypatch.setattr(httpx, "Client", lambda **kwargs: ApiAndHealthyUi(api.app))
    return "http://testserver"
