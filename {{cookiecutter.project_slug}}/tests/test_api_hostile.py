"""The API under hostile input: schemathesis from its OpenAPI schema, oversized bodies."""

import json

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from {{ cookiecutter.__package_name }} import api
from {{ cookiecutter.__package_name }}.settings import get_settings

EXAMPLES = 100  # per operation: enough to find a 500, few enough to stay a unit test


@pytest.fixture
def api_schema(client):
    """The schema the running app serves (typed by its model's contract), called in process."""
    return schemathesis.openapi.from_asgi("/openapi.json", api.app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,  # no timing in tests: the examples are bounded by count
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_input_gets_a_server_error_or_an_answer_outside_the_schema(case):
    # Every check but one: a number the schema allows can still be too large for the model to
    # score (1e308 overflows); the API refuses such a row with a 422 naming it, as it should.
    case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance])


def test_a_body_over_ml_max_body_bytes_gets_a_413_before_it_is_parsed(client):
    limit = get_settings().max_body_bytes
    response = client.post(
        "/predict", content=b"[" * (limit + 1), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert response.json()["detail"] == (
        f"the body is over {limit} bytes (ML_MAX_BODY_BYTES): send fewer rows per request"
    )


def test_a_batch_just_over_the_limit_gets_a_413(client, trained):
    row = trained.default_row()
    rows = [row] * (get_settings().max_body_bytes // len(json.dumps(row, separators=",:")) + 1)
    response = client.post("/predict", json={"rows": rows})
    assert response.status_code == 413, response.text[:200]


def test_a_body_without_content_length_is_counted_as_it_arrives(client):
    limit = get_settings().max_body_bytes
    chunks = (b"x" * 65536 for _ in range(limit // 65536 + 2))  # sent chunked: no length
    response = client.post("/predict", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text


def test_a_full_batch_of_long_numbers_fits_under_the_limit(client, trained):
    row = {
        name: -1.2345678901234567e-300 if name in trained.numbers else value
        for name, value in trained.default_row().items()
    }
    body = {"rows": [row] * get_settings().max_batch}
    assert len(json.dumps(body)) < get_settings().max_body_bytes
    assert client.post("/predict", json=body).status_code == 200


def test_a_row_the_model_cannot_score_is_refused_by_its_index(client, trained, monkeypatch):
    """Numbers near 1e308 overflow some models (inf - inf): NaN would not even be valid JSON."""
    model = client.app.state.model

    class Overflowing:
        def predict_proba(self, columns):
            probabilities = model.predict_proba(columns)
            probabilities[1] = np.nan
            return probabilities

    monkeypatch.setattr(client.app.state, "model", Overflowing())
    response = client.post("/predict", json={"rows": [trained.default_row()] * 3})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "rows", 1]
    assert "outside the training range" in error["msg"]
