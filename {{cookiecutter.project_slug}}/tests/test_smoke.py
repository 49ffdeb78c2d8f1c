"""The smoke gate: /predict latency percentiles and the UI health check, on the in-process API."""

import json
from pathlib import Path

import pytest

from {{ cookiecutter.__package_name }}.pipeline import smoke

FAST = ["--requests", "5", "--warmup", "1", "--wait", "1"]


def test_summarizes_timings_as_percentiles():
    figures = smoke.summarize([float(ms) for ms in range(1, 101)])
    assert figures == {"requests": 100, "p50_ms": 50.5, "p95_ms": 95.05, "max_ms": 100.0}


def test_times_only_the_calls_after_the_warmup(client, trained):
    body = {"rows": [trained.default_row()]}
    timings = smoke.time_predictions(client, "", body, warmup=2, n=5)
    assert len(timings) == 5
    assert all(ms > 0 for ms in timings)


def test_stops_when_predict_does_not_answer_200(client):
    with pytest.raises(SystemExit, match="422"):
        smoke.time_predictions(client, "", {"rows": []}, warmup=0, n=1)


def test_passes_and_writes_the_figures_when_p95_is_under_the_limit(in_process_services, capsys):
    urls = ["--api-url", in_process_services, "--ui-url", in_process_services]
    assert smoke.main([*urls, *FAST, "--max-latency-ms", "10000"]) == 0
    assert "smoke: passed" in capsys.readouterr().out
    figures = json.loads(Path("reports/smoke.json").read_text())
    assert figures["passed"] is True and figures["requests"] == 5


def test_fails_when_p95_is_not_under_the_limit(in_process_services, capsys):
    urls = ["--api-url", in_process_services, "--ui-url", in_process_services]
    assert smoke.main([*urls, *FAST, "--max-latency-ms", "0.000001"]) == 1
    [failure] = [line for line in capsys.readouterr().out.splitlines() if "FAILED" in line]
    assert "p95" in failure and "1e-06 ms" in failure
    assert json.loads(Path("reports/smoke.json").read_text())["passed"] is False


def test_fails_when_the_ui_health_check_is_not_200(in_process_services):
    urls = ["--api-url", in_process_services, "--ui-url", f"{in_process_services}/no-ui"]
    with pytest.raises(SystemExit, match="FAILED: .*/no-ui/_stcore/health did not answer 200"):
        smoke.main([*urls, *FAST, "--wait", "0.1"])


def test_fails_when_the_ui_cannot_be_reached(in_process_services):
    urls = ["--api-url", in_process_services, "--ui-url", "http://127.0.0.1:9"]
    with pytest.raises(SystemExit, match="127.0.0.1:9/_stcore/health"):
        smoke.main([*urls, *FAST, "--wait", "0.1"])
