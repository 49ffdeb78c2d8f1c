"""Serving faults: no model/, a damaged model file, a model that does not fit its contract."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.__package_name }} import api, serving
from {{ cookiecutter.__package_name }}.settings import CONTRACT_FILE, RUNTIME

PROJECT = Path(api.__file__).resolve().parents[1]
MODEL_FILE = serving.RUNTIMES[RUNTIME][0]


def startup_error() -> str:
    """The message the API refuses to start with."""
    with pytest.raises(serving.ModelError) as error:
        with TestClient(api.app):
            pass
    [line] = str(error.value).splitlines()
    return line


def test_without_model_the_server_exits_and_says_why_before_any_traceback(tmp_path):
    missing = tmp_path / "no-model-here"
    command = [sys.executable, "-m", "uvicorn", f"{api.__name__}:app", "--port", "0"]
    result = subprocess.run(
        command,
        cwd=PROJECT,
        env=os.environ | {"ML_MODEL_DIR": str(missing)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    first_error = next(i for i, line in enumerate(lines) if line.startswith("ERROR"))
    assert lines[first_error].startswith(
        f"ERROR:    api: cannot start: No model file at {missing.resolve() / CONTRACT_FILE}"
    ), result.stderr
    assert "make train" in lines[first_error]
    assert not any("Traceback" in line for line in lines[:first_error]), result.stderr


def test_a_damaged_model_file_is_named_in_one_line(model_copy):
    (model_copy / MODEL_FILE).write_bytes(b"\x00 not a model")
    line = startup_error()
    assert line.startswith(f"cannot load {(model_copy / MODEL_FILE).resolve()} (")
    assert "damaged" in line and "make train" in line


def test_a_damaged_contract_is_named_in_one_line(model_copy):
    (model_copy / CONTRACT_FILE).write_text('{"features": [')
    line = startup_error()
    assert line.startswith(f"cannot load {(model_copy / CONTRACT_FILE).resolve()} (JSONDecodeError")


def test_refuses_a_model_trained_on_other_features_than_the_contract(model_copy):
    contract = json.loads((model_copy / CONTRACT_FILE).read_text())
    contract["features"][0]["name"] = "not a feature of the model"
    (model_copy / CONTRACT_FILE).write_text(json.dumps(contract))
    line = startup_error()
    assert line.startswith(f"{MODEL_FILE} was trained on other features than {CONTRACT_FILE}")
    assert "only in the contract: ['not_a_feature_of_the_model']" in line
    assert "make train" in line


def test_refuses_a_contract_listing_the_features_in_another_order(model_copy):
    contract = json.loads((model_copy / CONTRACT_FILE).read_text())
    contract["features"].reverse()
    (model_copy / CONTRACT_FILE).write_text(json.dumps(contract))
    line = startup_error()
    assert "only in the model: none; only in the contract: none; else the order differs" in line
