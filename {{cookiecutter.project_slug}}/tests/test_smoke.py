"""The smoke gate on the in-process API: latency percentiles, the answers it times, the API and the
UI unreachable. The real browser on a real UI is the template's own test (tests/test_browser.py)."""

import json
from pathlib import Path

import httpx
import pytest

from {{ cookiecutter.__package_name }}.pipeline import smoke

FAST = ["--requests", "5", "--warmup", "1", "--wait", "1"]


def answer(content: dict | str) -> httpx.Response:
    """What /predict could answer with 200."""
    request = httpx.Request("POST", "http://testserver/predict")
    if isinstance(content, str):
        return httpx.Response(200, text=content, request=request)
    return httpx.Response(200, json=content, request=request)


@pytest.fixture
def browser_shows(monkeypatch, trained):
    """The browser step, replaced: the UI 'shows' a label (default: the example's trained one)."""
    seen = {}

    def show(label=trained.contract["example"]["label"]):
        def predicted_in_browser(ui_url, seconds, chromium):
            seen.update(ui_url=ui_url, chromium=chromium)
            return label

        monkeypatch.setattr(smoke, "predicted_in_browser", predicted_in_browser)
        return seen

    return show


def run_main(base: str, *extra: str) -> int:
    return smoke.main(["--api-url", base, "--ui-url", base, *FAST, *extra])


def test_summarizes_timings_as_percentiles():
    figures = smoke.summarize([float(ms) for ms in range(1, 101)])
    assert figures == {"requests": 100, "p50_ms": 50.5, "p95_ms": 95.05, "max_ms": 100.0}


def test_the_served_model_gives_the_example_row_its_trained_label(client, trained):
    example = trained.contract["example"]
    assert example["row"] == trained.default_row()
    response = client.post("/predict", json={"rows": [example["row"]]})
    smoke.check_answer(response, example["label"])  # raises unless label and sum are right
    assert response.json()["predictions"][0]["label"] == example["label"]


def test_times_only_the_calls_after_the_warmup(client, trained):
    timings = smoke.time_predictions(client, "", trained.contract["example"], warmup=2, n=5)
    assert len(timings) == 5
    assert all(ms > 0 for ms in timings)


def test_stops_when_predict_does_not_answer_200(client):
    with pytest.raises(SystemExit, match="answered 422"):
        smoke.time_predictions(client, "", {"row": {}, "label": "?"}, warmup=0, n=1)


def test_stops_when_a_timed_answer_has_another_label(client, trained):
    example = {**trained.contract["example"], "label": "not-a-class"}
    with pytest.raises(SystemExit, match="labels the example row .* trained model labels it"):
        smoke.time_predictions(client, "", example, warmup=0, n=1)


def test_stops_when_the_probabilities_do_not_sum_to_1():
    served = answer({"predictions": [{"label": "a", "probabilities": {"a": 0.5, "b": 0.4}}]})
    with pytest.raises(SystemExit, match="probabilities sum to 0.9, not 1"):
        smoke.check_answer(served, "a")


def test_stops_when_200_carries_no_prediction():
    with pytest.raises(SystemExit, match="answered no prediction: <html>proxy</html>"):
        smoke.check_answer(answer("<html>proxy</html>"), "a")


def test_stops_when_the_served_contract_names_no_example(client, monkeypatch):
    monkeypatch.delitem(client.app.state.contract, "example")
    with pytest.raises(SystemExit, match="no example row and label .* train again"):
        smoke.served_example(client, "")


def test_passes_and_writes_the_figures_when_p95_is_under_the_limit(
    in_process_services, browser_shows, trained, capsys
):
    shown = browser_shows()
    assert run_main(in_process_services, "--max-latency-ms", "10000", "--chromium", "C") == 0
    out = capsys.readouterr().out
    assert "smoke: passed" in out
    assert f"the UI in Chromium shows {trained.contract['example']['label']!r}" in out
    assert shown == {"ui_url": in_process_services, "chromium": "C"}
    figures = json.loads(Path("reports/smoke.json").read_text())
    assert figures["passed"] is True and figures["requests"] == 5
    assert figures["ui_shows"] == trained.contract["example"]["label"]


def test_fails_when_p95_is_not_under_the_limit(in_process_services, browser_shows, capsys):
    browser_shows()
    assert run_main(in_process_services, "--max-latency-ms", "0.000001") == 1
    [failure] = [line for line in capsys.readouterr().out.splitlines() if "FAILED" in line]
    assert "p95" in failure and "1e-06 ms" in failure
    assert json.loads(Path("reports/smoke.json").read_text())["passed"] is False


def test_fails_when_the_ui_shows_another_class(in_process_services, browser_shows):
    browser_shows("not-a-class")
    with pytest.raises(SystemExit, match="shows the class 'not-a-class' for the default row"):
        run_main(in_process_services)


def test_fails_in_one_line_when_the_api_cannot_be_reached(in_process_services):
    with pytest.raises(SystemExit) as failure:
        smoke.main(["--api-url", "http://127.0.0.1:9", *FAST, "--wait", "0.1"])
    message = str(failure.value)
    assert message.startswith("smoke: FAILED: the API at http://127.0.0.1:9/ready did not answer")
    assert "Connection refused" in message and "\n" not in message


def test_fails_when_the_ui_health_check_is_not_200(in_process_services, browser_shows):
    urls = ["--api-url", in_process_services, "--ui-url", f"{in_process_services}/no-ui"]
    with pytest.raises(SystemExit, match="the UI at .*/no-ui/_stcore/health did not answer"):
        smoke.main([*urls, *FAST, "--wait", "0.1"])


def test_fails_when_the_ui_cannot_be_reached(in_process_services, browser_shows):
    urls = ["--api-url", in_process_services, "--ui-url", "http://127.0.0.1:9"]
    with pytest.raises(SystemExit, match="127.0.0.1:9/_stcore/health .* Connection refused"):
        smoke.main([*urls, *FAST, "--wait", "0.1"])


def test_fails_in_one_line_when_chromium_does_not_start(tmp_path):
    with pytest.raises(SystemExit) as failure:
        smoke.predicted_in_browser("http://127.0.0.1:9", 1, str(tmp_path / "no-chromium"))
    message = str(failure.value)
    assert message.startswith("smoke: FAILED: Chromium does not start (")
    assert "`make browser`" in message and "\n" not in message
