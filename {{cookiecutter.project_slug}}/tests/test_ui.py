"""The Streamlit UI, run by AppTest, with its HTTP calls to the API patched."""

from pathlib import Path
from unittest import mock

import httpx
from streamlit.testing.v1 import AppTest

import {{ cookiecutter.__package_name }}
from {{ cookiecutter.__package_name }}.settings import get_settings

UI_SCRIPT = Path({{ cookiecutter.__package_name }}.__file__).parent / "ui.py"


def run_ui() -> AppTest:
    return AppTest.from_file(str(UI_SCRIPT), default_timeout=30).run()


def predict(app: AppTest) -> AppTest:
    """Press the form's Predict button."""
    [button] = [button for button in app.button if button.label == "Predict"]
    return button.click().run()


def api_answer(status: int, **content) -> httpx.Response:
    """What the API would answer to the UI's POST /predict."""
    request = httpx.Request("POST", "http://testserver/predict")
    return httpx.Response(status, request=request, **content)


def test_shows_one_input_per_feature_with_the_contract_defaults(api_behind_httpx, trained):
    app = run_ui()
    assert not app.exception
    numbers = {field.label: field for field in app.number_input}
    categories = {field.label: field for field in app.selectbox}
    assert sorted(numbers) == sorted(trained.numbers)
    assert sorted(categories) == sorted(trained.categories)
    shown = {label: field.value for label, field in (numbers | categories).items()}
    assert shown == trained.default_row()
    for feature in trained.contract["features"]:
        if feature["kind"] == "number":
            field = numbers[feature["name"]]
            assert (field.min, field.max) == (feature["min"], feature["max"])
        else:
            assert categories[feature["name"]].options == feature["values"]
    assert trained.contract["model_version"] in app.caption[0].value


def test_asks_the_api_at_ml_api_url(api_behind_httpx):
    run_ui()
    get, _ = api_behind_httpx
    assert get.call_args.args[0] == "http://testserver/model"


def test_shows_the_predicted_label_and_a_probability_chart(api_behind_httpx, client, trained):
    app = predict(run_ui())
    assert not app.exception
    assert not app.error
    expected = client.post("/predict", json={"rows": [trained.default_row()]}).json()
    assert app.metric[0].value == expected["predictions"][0]["label"]
    assert len(app.get("vega_lite_chart")) == 1


def test_sends_the_values_typed_in(api_behind_httpx, trained):
    app = run_ui()
    [number, *_] = [f for f in trained.contract["features"] if f["kind"] == "number"]
    next(f for f in app.number_input if f.label == number["name"]).set_value(number["max"])
    for field in app.selectbox:  # the last allowed value of every category
        field.set_value(field.options[-1])
    predict(app)
    _, post = api_behind_httpx
    [row] = post.call_args.kwargs["json"]["rows"]
    assert row[number["name"]] == number["max"]
    for feature in trained.contract["features"]:
        if feature["kind"] == "category":
            assert row[feature["name"]] == feature["values"][-1]
    assert list(row) == trained.features


def test_shows_a_refused_request_as_a_readable_error(api_behind_httpx, trained):
    name = trained.features[0]
    detail = [{"loc": ["body", "rows", 0, name], "msg": "Input should be a finite number"}]
    refusal = api_answer(422, json={"detail": detail})
    with mock.patch("httpx.post", return_value=refusal):
        app = predict(run_ui())
    assert not app.exception
    [error] = app.error
    assert "422" in error.value
    assert f"{name}: Input should be a finite number" in error.value


def test_shows_an_error_page_that_is_not_json_as_a_readable_error(api_behind_httpx):
    bad_gateway = api_answer(502, text="<html>Bad Gateway</html>")
    with mock.patch("httpx.post", return_value=bad_gateway):
        app = predict(run_ui())
    assert not app.exception, "a non-JSON error body must not become a traceback"
    [error] = app.error
    assert "502" in error.value


def test_shows_an_unreachable_api_as_a_readable_error(monkeypatch):
    monkeypatch.setenv("ML_API_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    with mock.patch("httpx.get", side_effect=refused):
        app = run_ui()
    assert not app.exception
    [error] = app.error
    assert "http://127.0.0.1:9" in error.value
    assert "make serve" in error.value
    assert not app.number_input


def test_shows_an_api_that_went_away_as_a_readable_error(api_behind_httpx):
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    with mock.patch("httpx.post", side_effect=refused):
        app = predict(run_ui())
    assert not app.exception
    [error] = app.error
    assert "cannot be reached" in error.value


def test_shows_a_200_that_is_not_the_apis_json_as_a_readable_error(api_behind_httpx):
    proxy_page = api_answer(200, text="<html>Welcome to nginx</html>")
    with mock.patch("httpx.post", return_value=proxy_page):
        app = predict(run_ui())
    assert not app.exception
    [error] = app.error
    assert "not this API's JSON" in error.value and "ML_API_URL" in error.value


def test_shows_another_service_at_ml_api_url_as_a_readable_error(monkeypatch):
    monkeypatch.setenv("ML_API_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    request = httpx.Request("GET", "http://127.0.0.1:9/model")
    another_service = httpx.Response(200, json={"status": "ok"}, request=request)
    with mock.patch("httpx.get", return_value=another_service):
        app = run_ui()
    assert not app.exception
    [error] = app.error
    assert "http://127.0.0.1:9 answered, but not this API's JSON" in error.value
    assert not app.number_input
