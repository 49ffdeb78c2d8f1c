"""CI job pages: the gate and smoke verdicts rendered as Markdown, or why they are missing."""

import json

from {{ cookiecutter.__package_name }}.pipeline import report

GATE = {
    "f1": 0.98611,
    "f1_average": "binary",
    "min_f1": 0.999,
    "parity_max_diff": 1.2e-07,
    "runtime": "onnx",
    "passed": False,
    "failures": ["F1 0.9861 is not above the threshold 0.999 (ML_MIN_F1)"],
}
SMOKE = {
    "requests": 200,
    "p50_ms": 2.1,
    "p95_ms": 3.4,
    "max_ms": 9.0,
    "max_latency_ms": 200.0,
    "ui_health": "ok",
    "passed": True,
}


def test_renders_a_failed_gate_with_its_figures_and_reasons(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "gate.json").write_text(json.dumps(GATE))
    assert report.main(["gate"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "### Gate: FAILED"
    assert "| 0.9861 | 0.999 | 1.2e-07 | onnx |" in lines
    assert "- F1 0.9861 is not above the threshold 0.999 (ML_MIN_F1)" in lines


def test_renders_the_smoke_figures(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "smoke.json").write_text(json.dumps(SMOKE))
    report.main(["smoke"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "### Smoke: passed"
    assert "| 200 | 2.1 | 3.4 | 9.0 | 200.0 | ok |" in lines


def test_says_which_step_did_not_run_when_its_report_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    report.main([])
    out = capsys.readouterr().out
    assert "no reports/gate.json: the gate did not run" in out
    assert "no reports/smoke.json: the smoke test did not finish" in out
