"""Baked tier: the generated project's own lint, tests, train and gate, run inside real bakes."""

import itertools
import json

import pytest

from conftest import PROJECT_VENV, free_port, make, run

pytestmark = pytest.mark.baked

DATASETS = ["breast_cancer", "wine", "csv"]
MODELS = ["logistic_regression", "random_forest"]
RUNTIMES = ["onnx", "sklearn"]


every_combination = pytest.mark.parametrize(
    "dataset, model, runtime",
    [pytest.param(*c, id="-".join(c)) for c in itertools.product(DATASETS, MODELS, RUNTIMES)],
)


@every_combination
def test_lint_is_clean(bake_session, dataset, model, runtime):
    project = bake_session(dataset=dataset, model=model, serving_runtime=runtime)
    result = make(project, "lint")
    assert "would reformat" not in result.stderr


def test_lint_is_clean_with_quotes_backslashes_and_accents_in_the_answers(bake):
    name = 'O\'Brien "Quoted" Ünïcode \\ ML'
    make(
        bake(project_name=name, project_slug="odd_names", author_name=name, description=name),
        "lint",
    )


@every_combination
def test_train_then_gate_passes_on_the_defaults(bake_session, dataset, model, runtime):
    project = bake_session(dataset=dataset, model=model, serving_runtime=runtime)
    trained = make(project, "train")
    assert "held-out F1" in trained.stdout
    gate = make(project, "gate")
    assert "gate: passed" in gate.stdout
    metrics = json.loads((project / "model" / "metrics.json").read_text())
    assert metrics["f1"] > 0.9
    assert metrics["f1_average"] == ("binary" if dataset == "breast_cancer" else "macro")
    print(
        f"{dataset} x {model} ({runtime}): F1 {metrics['f1']:.4f}, trained in {metrics['seconds']} s"
    )


def test_gate_fails_with_its_message_when_the_threshold_is_out_of_reach(bake_session):
    project = bake_session()
    make(project, "train")
    result = make(project, "gate", check=False, env={"ML_MIN_F1": "0.999"})
    assert result.returncode != 0
    assert "gate: FAILED: F1 0." in result.stdout
    assert "is not above the threshold 0.999" in result.stdout


def test_gate_without_a_trained_model_says_to_train(bake):
    result = make(bake(), "gate", check=False)
    assert result.returncode != 0
    assert "run `make train` first" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "answers",
    [{}, {"dataset": "wine", "model": "random_forest", "serving_runtime": "sklearn"}],
    ids=["default", "wine-random_forest-sklearn"],
)
def test_the_projects_own_test_suite_passes(bake_session, answers):
    project = bake_session(**answers)
    result = make(project, "test")
    assert " passed" in result.stdout
    assert (project / "reports" / "junit.xml").is_file()
    assert (project / "reports" / "coverage.xml").is_file()


@pytest.mark.slow
def test_api_and_ui_on_free_loopback_ports_pass_the_smoke_gate(bake_session):
    project = bake_session()
    make(project, "train")
    result = make(project, "smoke-local", f"API_PORT={free_port()}", f"UI_PORT={free_port()}")
    assert "smoke: passed" in result.stdout
    figures = json.loads((project / "reports" / "smoke.json").read_text())
    assert figures["requests"] >= 200 and figures["ui_health"] == "ok"
    print(f"smoke: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms")


@pytest.mark.slow
def test_smoke_gate_fails_when_latency_is_over_the_threshold(bake_session):
    project = bake_session()
    make(project, "train")
    result = make(
        project,
        "smoke-local",
        f"API_PORT={free_port()}",
        f"UI_PORT={free_port()}",
        check=False,
        env={"ML_MAX_LATENCY_MS": "0.001"},
    )
    assert result.returncode != 0
    assert "smoke: FAILED: p95" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_bench_prints_a_side_by_side_table_with_mlflow_serve(bake_session, runtime):
    """Figures only: the benchmark is measured and printed, never asserted on."""
    project = bake_session(serving_runtime=runtime)
    make(project, "train")
    result = run_bench(project, "--rounds", "1", "--requests", "200", "--load-requests", "200")
    table = result.stdout[result.stdout.index("bench: ") :]
    for row in ["p50 ms", "p99 ms", "batch 32 p50 ms", "req/s c=8", "cold start s", "peak RSS MB"]:
        assert row in table
    assert "mlflow serve" in table and "api better by" in table
    print(table[table.index("\nbench: ") :])


def run_bench(project, *args):
    return run(
        [str(PROJECT_VENV / "bin" / "python"), "-m", "benchmarks.bench", *args],
        cwd=project,
        timeout=600,
    )
