"""The API: predictions from the trained contract, and a 422 naming the field for every bad body."""

import json

import joblib
import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.__package_name }} import api, serving
from {{ cookiecutter.__package_name }}.data import as_columns
from {{ cookiecutter.__package_name }}.settings import SKLEARN_FILE, get_settings


def assert_refused(response, field: str) -> None:
    """A 422 (never a 500) whose detail names the field."""
    assert response.status_code == 422, response.text
    locations = [[str(part) for part in error["loc"]] for error in response.json()["detail"]]
    assert any(field in location for location in locations), locations


def post_raw(client, text: str):
    """Send JSON text as it is: json= would refuse NaN and Infinity before the API sees them."""
    return client.post("/predict", content=text, headers={"content-type": "application/json"})


def assert_valid_prediction(prediction: dict, classes: list[str]) -> None:
    assert prediction["label"] in classes
    assert list(prediction["probabilities"]) == classes
    assert sum(prediction["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    best = max(prediction["probabilities"], key=prediction["probabilities"].get)
    assert prediction["label"] == best


def test_predicts_one_row(client, trained):
    response = client.post("/predict", json={"rows": [trained.default_row()]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == trained.contract["model_version"]
    [prediction] = body["predictions"]
    assert_valid_prediction(prediction, trained.contract["classes"])


def test_predicts_a_batch_in_order(client, trained):
    numbers = [feature for feature in trained.contract["features"] if feature["kind"] == "number"]
    lowest = trained.default_row() | {feature["name"]: feature["min"] for feature in numbers}
    highest = trained.default_row() | {feature["name"]: feature["max"] for feature in numbers}
    rows = [trained.default_row(), lowest, highest]
    response = client.post("/predict", json={"rows": rows})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == len(rows)
    for prediction in predictions:
        assert_valid_prediction(prediction, trained.contract["classes"])
    alone = client.post("/predict", json={"rows": [highest]}).json()["predictions"][0]
    assert alone["label"] == predictions[2]["label"]
    # float32 ONNX sums a batch in another order than one row: equal to ~1e-10, not bit for bit
    assert alone["probabilities"] == pytest.approx(predictions[2]["probabilities"], abs=1e-6)


def test_health_answers_without_looking_at_the_model(client):
    assert client.get("/health").json() == {"status": "ok"}


def test_ready_names_the_loaded_model_version(client, trained):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["model_version"] == trained.contract["model_version"]
    assert response.json()["runtime"] == trained.contract["runtime"]


def test_model_returns_the_request_contract(client, trained):
    assert client.get("/model").json() == trained.contract


def test_openapi_example_is_a_body_the_api_accepts(client, trained):
    schema = client.get("/openapi.json").json()
    example = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"][
        "example"
    ]
    assert list(example["rows"][0]) == trained.features
    assert client.post("/predict", json=example).status_code == 200


def test_rejects_a_row_with_a_missing_feature(client, trained):
    row = trained.default_row()
    missing = trained.features[0]
    del row[missing]
    response = client.post("/predict", json={"rows": [row]})
    assert_refused(response, missing)
    assert "Field required" in response.text


def test_rejects_a_row_with_an_unknown_feature(client, trained):
    row = trained.default_row() | {"not a feature": 1.0}
    response = client.post("/predict", json={"rows": [row]})
    assert_refused(response, "not a feature")
    assert "Extra inputs are not permitted" in response.text


@pytest.mark.parametrize(
    "value",
    ["twelve", None, [1.0], True, False, "12.5", "1e3"],
    ids=["string", "null", "list", "true", "false", "numeric-string", "exponent-string"],
)
def test_rejects_a_value_that_is_not_a_json_number_for_a_number(client, trained, value):
    name = trained.numbers[-1]
    response = client.post("/predict", json={"rows": [trained.default_row() | {name: value}]})
    assert_refused(response, name)
    assert "valid number" in response.text


def test_takes_an_integer_for_a_number(client, trained):
    name = trained.numbers[0]
    row = trained.default_row() | {name: round(trained.default_row()[name])}
    assert client.post("/predict", json={"rows": [row]}).status_code == 200


def test_openapi_types_every_feature(client, trained):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    row = schemas["Row"]
    assert row["required"] == trained.features
    assert row["additionalProperties"] is False
    for feature in trained.contract["features"]:
        prop = row["properties"][feature["name"]]
        if feature["kind"] == "number":
            assert prop["type"] == "number"
        else:
            assert prop["type"] == "string" and prop["enum"] == feature["values"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_rejects_nan_and_infinity(client, trained, literal):
    name = trained.numbers[0]
    text = json.dumps({"rows": [trained.default_row() | {name: "__value__"}]})
    response = post_raw(client, text.replace('"__value__"', literal))
    assert_refused(response, name)
    assert "finite" in response.text


def test_rejects_an_empty_batch(client):
    assert_refused(client.post("/predict", json={"rows": []}), "rows")


@pytest.mark.parametrize("body", [{}, {"row": {"x": 1.0}}], ids=["empty", "misnamed"])
def test_rejects_a_body_without_rows(client, body):
    assert_refused(client.post("/predict", json=body), "rows")


def test_rejects_a_bare_list_of_rows(client, trained):
    assert_refused(client.post("/predict", json=[trained.default_row()]), "body")


def test_rejects_a_body_that_is_not_json(client):
    response = post_raw(client, "rows: all of them")
    assert response.status_code == 422, response.text
    assert "JSON" in response.text


def test_rejects_a_batch_larger_than_ml_max_batch(model_env, monkeypatch):
    monkeypatch.setenv("ML_MAX_BATCH", "2")
    get_settings.cache_clear()
    with TestClient(api.app, raise_server_exceptions=False) as client:
        response = client.post("/predict", json={"rows": [model_env.default_row()] * 3})
        assert_refused(response, "rows")
        assert "at most 2 rows" in response.text
        assert client.post("/predict", json={"rows": [model_env.default_row()] * 2}).is_success


def test_refuses_to_start_without_a_model_and_says_how_to_make_one(monkeypatch, tmp_path):
    missing = tmp_path / "no-model-here"
    monkeypatch.setenv("ML_MODEL_DIR", str(missing))
    get_settings.cache_clear()
    with pytest.raises(serving.ModelNotFoundError) as error:
        with TestClient(api.app):
            pass
    assert str(missing.resolve()) in str(error.value)
    assert "make train" in str(error.value)


def test_the_sklearn_runtime_serves_the_trained_pipeline_itself(trained):
    contract, model = serving.load(trained.model_dir, "sklearn")
    pipeline = joblib.load(trained.model_dir / SKLEARN_FILE)
    X_test = trained.held_out().X_test
    assert contract == trained.contract
    assert model.predict_proba(as_columns(X_test)) == pytest.approx(pipeline.predict_proba(X_test))
{%- if cookiecutter.dataset == "csv" %}


def test_rejects_a_category_outside_the_allowed_values_naming_them(client, trained):
    [feature, *_] = [f for f in trained.contract["features"] if f["kind"] == "category"]
    row = trained.default_row() | {feature["name"]: "Atlantis"}
    response = client.post("/predict", json={"rows": [row]})
    assert_refused(response, feature["name"])
    assert all(repr(value) in response.text for value in feature["values"])


@pytest.mark.parametrize("value", [1, True, None], ids=["number", "boolean", "null"])
def test_rejects_a_category_that_is_not_a_string(client, trained, value):
    name = trained.categories[0]
    response = client.post("/predict", json={"rows": [trained.default_row() | {name: value}]})
    assert_refused(response, name)


def test_a_missing_category_is_named_with_its_allowed_values(client, trained):
    [feature, *_] = [f for f in trained.contract["features"] if f["kind"] == "category"]
    row = trained.default_row()
    del row[feature["name"]]
    response = client.post("/predict", json={"rows": [row]})
    assert_refused(response, feature["name"])
    [error] = response.json()["detail"]
    assert error["msg"] == "Field required: one of " + ", ".join(map(repr, feature["values"]))
{%- endif %}
