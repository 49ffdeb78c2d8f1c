"""The shared contract: every setting, its default and its ML_ environment variable."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# "csv": your own table (ML_DATA_PATH, ML_TARGET, its schema in schema.py); the others ship with
# scikit-learn. The model choices are the table MODELS in train.py.
Dataset = Literal["csv", "breast_cancer", "wine"]
Runtime = Literal["onnx", "sklearn"]

# The project name as answered (any text on one line: backslashes doubled, quotes as \u0022).
PROJECT_NAME = "{{ cookiecutter.project_name | replace('\\', '\\\\') | replace('"', '\\u0022') }}"  # fmt: skip # noqa: E501

# Files written by `make train` inside `model_dir` and read by the gate and the API.
CONTRACT_FILE = "contract.json"
METRICS_FILE = "metrics.json"
SKLEARN_FILE = "model.joblib"
ONNX_FILE = "model.onnx"

# The MLflow registry alias of the model version in production (`make promote-model` moves it).
CHAMPION_ALIAS = "champion"

# The serving runtime, chosen when the project was generated. requirements/api.txt and
# .dockerignore were written for it, so it is fixed here rather than read from the environment:
# to switch, generate the project again with the other `serving_runtime` answer.
RUNTIME: Runtime = {{ cookiecutter.serving_runtime | tojson }}


class Settings(BaseSettings):
    """Read from ML_* environment variables (and a .env file), else these defaults."""

    model_config = SettingsConfigDict(env_prefix="ML_", env_file=".env", extra="ignore")

    # training (the training owner)
    dataset: Dataset = {{ cookiecutter.dataset | tojson }}
    data_path: Path = Path("data/penguins.csv")  # CSV or Parquet, read when dataset is "csv"
    target: str = "species"  # the column to predict, anywhere in the table
    model: str = {{ cookiecutter.model | tojson }}
    seed: int = 42
    test_size: float = Field(0.2, gt=0, lt=1)
    model_dir: Path = Path("model")
    registered_model_name: str = {{ cookiecutter.project_slug | tojson }}
    mlflow_tracking_uri: str = Field(
        "sqlite:///mlflow.db",
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "ML_MLFLOW_TRACKING_URI"),
    )
    experiment_name: str = {{ cookiecutter.project_slug | tojson }}

    # serving (the API owner)
    max_batch: int = Field(256, ge=1)
    max_body_bytes: int = Field(1_000_000, ge=1)  # larger bodies get a 413 before being parsed

    # user interface (the UI owner)
    api_url: str = "http://127.0.0.1:8000"
    ui_url: str = "http://127.0.0.1:8501"

    # gates (CI)
    min_f1: float = Field({{ cookiecutter.min_f1 | float }}, gt=0, le=1)
    max_latency_ms: float = Field({{ cookiecutter.max_latency_ms | float }}, gt=0)
    max_parity_diff: float = Field(1e-5, gt=0)
    # how far the candidate's held-out F1 may trail the champion's (`make challenge`)
    champion_margin: float = Field({{ cookiecutter.champion_margin | float }}, ge=0, lt=1)


@lru_cache
def get_settings() -> Settings:
    """One Settings per process; tests call get_settings.cache_clear() after monkeypatching env."""
    return Settings()
