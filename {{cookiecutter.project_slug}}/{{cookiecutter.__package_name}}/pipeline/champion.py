"""Champion/challenger: the candidate's held-out F1 against the champion's, on the same split."""

import json
import sys
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from ..data import load_data
from ..settings import CHAMPION_ALIAS, CONTRACT_FILE, METRICS_FILE, Settings, get_settings
from ..train import evaluate
from .promote import version_of


def score_champion(name: str, version: str, settings: Settings) -> dict:
    """The champion, loaded from the registry, scored on the held-out split `settings` makes."""
    model = mlflow.sklearn.load_model(f"models:/{name}/{version}")
    return evaluate(model, load_data(settings))


def compare(candidate: tuple[str, float], champion: tuple[str, float], margin: float, rows: int):
    """(passed, one line): the candidate may trail the champion by `margin` at most."""
    (new, new_f1), (old, old_f1) = candidate, champion
    figures = (
        f"candidate version {new} F1 {new_f1:.4f}, champion version {old} F1 {old_f1:.4f} "
        f"on the same {rows} held-out rows"
    )
    if old_f1 - new_f1 > margin + 1e-12:
        return False, (
            f"challenge: FAILED: {figures}: worse by {old_f1 - new_f1:.4f}, more than the margin "
            f"{margin} (ML_CHAMPION_MARGIN)"
        )
    return True, f"challenge: passed: {figures} (margin {margin})"


def challenge(settings: Settings, contract: dict, metrics: dict) -> tuple[bool, str, dict]:
    name, version = contract["model_name"], contract["model_version"]
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    champion = version_of(client, name, CHAMPION_ALIAS)
    report = {"model_name": name, "candidate_version": version, "candidate_f1": metrics["f1"]}
    report.update(champion_version=champion, margin=settings.champion_margin)
    if champion is None:
        passed = metrics["f1"] > settings.min_f1
        verdict = "passed" if passed else "FAILED"
        return (
            passed,
            (
                f"challenge: {verdict}: no champion yet for {name!r}: candidate version {version} "
                f"is judged on the absolute threshold alone: F1 {metrics['f1']:.4f} "
                f"{'>' if passed else 'is not above'} {settings.min_f1} (ML_MIN_F1)"
            ),
            report,
        )
    if champion == version:
        line = f"challenge: passed: candidate version {version} is the champion already"
        return True, line, report
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    try:
        scored = score_champion(name, champion, settings)
    except Exception as exc:  # noqa: BLE001 - any failure to score must stop the release
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        return (
            False,
            (
                f"challenge: FAILED: cannot score champion version {champion} of {name!r} on the "
                f"candidate's held-out split: {first}"
            ),
            report,
        )
    report["champion_f1"] = scored["f1"]
    passed, line = compare(
        (version, metrics["f1"]),
        (champion, scored["f1"]),
        settings.champion_margin,
        scored["n_test"],
    )
    return passed, line, report


def main() -> int:
    settings = get_settings()
    paths = [settings.model_dir / METRICS_FILE, settings.model_dir / CONTRACT_FILE]
    missing = [str(path.resolve()) for path in paths if not path.is_file()]
    if missing:
        print(f"challenge: no {', '.join(missing)}: run `make train` first.")
        return 1
    metrics, contract = (json.loads(path.read_text()) for path in paths)
    # The champion is scored on exactly the split the candidate was scored on.
    trained_with = {"dataset", "data_path", "target", "seed", "test_size"}
    settings = settings.model_copy(update={k: v for k, v in metrics.items() if k in trained_with})
    passed, line, report = challenge(settings, contract, metrics)
    Path("reports").mkdir(exist_ok=True)
    Path("reports/challenge.json").write_text(
        json.dumps({**report, "passed": passed, "message": line}, indent=2, default=str)
    )
    print(line)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
