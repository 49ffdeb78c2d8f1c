"""Promotion: the alias `champion` moves to the version the pipeline tested, remembers the one it
left, and rollback moves it back; production refuses to run unapproved where nothing enforces it."""

import pytest
from mlflow import MlflowClient

from {{ cookiecutter.__package_name }}.pipeline import approval, promote
from {{ cookiecutter.__package_name }}.settings import CONTRACT_FILE, get_settings


def aliases(client: MlflowClient, name: str) -> dict:
    return {alias: str(v) for alias, v in client.get_registered_model(name).aliases.items()}


def test_points_the_alias_at_the_trained_version(model_env, registry, capsys):
    assert promote.main(["--alias", "candidate"]) == 0
    name, version = model_env.contract["model_name"], model_env.contract["model_version"]
    assert str(registry.get_model_version_by_alias(name, "candidate").version) == version
    assert "new alias" in capsys.readouterr().out

    assert promote.main(["--alias", "candidate"]) == 0
    assert f"was version {version}" in capsys.readouterr().out
    assert "previous-candidate" not in aliases(registry, name)  # the same version: nothing left


def test_promotes_the_champion_remembers_the_previous_one_and_rolls_back(
    model_env, registry, older_champion, capsys
):
    name, trained = model_env.contract["model_name"], model_env.contract["model_version"]
    older = older_champion

    assert promote.main([]) == 0
    assert f"alias 'champion' -> version {trained} (was version {older})" in capsys.readouterr().out
    assert aliases(registry, name) == {"champion": trained, "previous-champion": older}

    assert promote.main(["--rollback"]) == 0
    line = capsys.readouterr().out
    assert f"rollback-model: MLflow model {name!r} alias 'champion' -> version {older}" in line
    assert aliases(registry, name) == {"champion": older, "previous-champion": trained}


def test_rollback_without_a_previous_champion_fails_in_one_line(model_env, registry, capsys):
    assert promote.main(["--rollback"]) == 1
    line = capsys.readouterr().out.strip()
    assert "rollback-model: FAILED: no version of MLflow model" in line
    assert "nothing to roll back to" in line and "\n" not in line


def test_fails_without_a_trained_model_and_says_how_to_make_one(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ML_MODEL_DIR", str(tmp_path / "never-trained"))
    get_settings.cache_clear()
    assert promote.main([]) == 1
    line = capsys.readouterr().out
    assert str((tmp_path / "never-trained" / CONTRACT_FILE).resolve()) in line
    assert "make train" in line


@pytest.mark.parametrize(
    "env, allowed",
    [
        ({}, False),
        ({"PRODUCTION_APPROVAL_CONFIGURED": "false"}, False),
        ({"GITHUB_EVENT_NAME": "push"}, False),
        ({"CI_JOB_MANUAL": ""}, False),
        ({"PRODUCTION_APPROVAL_CONFIGURED": "true"}, True),
        ({"PRODUCTION_APPROVAL_CONFIGURED": " TRUE "}, True),
        ({"GITHUB_EVENT_NAME": "workflow_dispatch"}, True),
        ({"CI_JOB_MANUAL": "true"}, True),
    ],
    ids=lambda value: str(value),
)
def test_manual_approval_refuses_unless_enforced_or_started_by_hand(env, allowed):
    passed, line = approval.check("manual", env)
    assert passed is allowed
    assert ("REFUSED" in line) is not allowed and "\n" not in line


def test_the_production_job_opens_for_automatic_and_refuses_manual_unapproved(monkeypatch, capsys):
    for name in ("PRODUCTION_APPROVAL_CONFIGURED", *approval.BY_HAND):
        monkeypatch.delenv(name, raising=False)
    assert approval.main(["--mode", "automatic"]) == 0
    assert "approval-check: automatic promotion" in capsys.readouterr().out
    assert approval.main(["--mode", "manual"]) == 1
    assert "approval-check: REFUSED" in capsys.readouterr().out
