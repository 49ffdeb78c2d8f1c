"""Parity: GitHub Actions, GitLab CI and CircleCI run the same Makefile targets in the same order,
with the same gates, deploy jobs on the default branch only and production behind an approval, and
the images built with the previous commit's and production's layers as cache.

The configs are parsed (tests/ci_configs.py), never run here; the gitlab-ci-local and act tiers
execute them. Every rule is also shown to fail on a mutated copy of one provider's parsed config.
"""

import copy
import re

import pytest

from ci_configs import PARSERS, PIPELINE, expand, load, makefile_rules, problems, sequence

pytestmark = pytest.mark.baked

PROVIDERS = list(PARSERS)


@pytest.fixture(scope="module")
def baked(cookies_session):
    result = cookies_session.bake()
    assert result.exception is None, result.exception
    project = result.project_path
    return {
        "rules": makefile_rules(project / "Makefile"),
        "configs": {provider: load(project, provider) for provider in PROVIDERS},
    }


def check(provider: str, config: dict, rules: dict) -> list:
    return problems(provider, PARSERS[provider](config), rules)


def test_the_three_providers_run_the_same_targets_in_the_same_order(baked):
    rules = baked["rules"]
    expected = expand(PIPELINE, rules)
    assert expected[:4] == ["lint", "test", "train", "gate"] and expected[-1] == "promote-model"
    for provider, config in baked["configs"].items():
        assert sequence(PARSERS[provider](config), rules) == expected, provider


def test_each_provider_keeps_the_gates_order_branches_and_approval(baked):
    for provider, config in baked["configs"].items():
        assert check(provider, config, baked["rules"]) == []


# --- mutations: each one breaks one provider in one way, and the check must say so ----------


def _github_steps(config, job):
    return config["jobs"][job]["steps"]


def drop_smoke(provider, config):
    """Remove the smoke call from the provider's staging job."""
    if provider == "github":
        steps = _github_steps(config, "staging")
        steps[:] = [s for s in steps if "make smoke" not in s.get("run", "")]
    elif provider == "gitlab":
        script = config["staging"]["script"]
        script[:] = [line for line in script if not line.startswith("make smoke")]
    else:
        steps = config["jobs"]["staging"]["steps"]
        steps[:] = [
            s
            for s in steps
            if not (isinstance(s, dict) and "make smoke" in str(s.get("run", {}).get("command")))
        ]


def swap_train_and_gate(provider, config):
    """Run the gate where train was and train where the gate was."""
    if provider == "github":
        jobs = config["jobs"]
        jobs["train"]["steps"], jobs["gate"]["steps"] = (
            jobs["gate"]["steps"],
            jobs["train"]["steps"],
        )
    elif provider == "gitlab":
        config["train"]["script"], config["gate"]["script"] = (
            config["gate"]["script"],
            config["train"]["script"],
        )
    else:
        jobs = config["jobs"]
        jobs["train"]["steps"], jobs["gate"]["steps"] = (
            jobs["gate"]["steps"],
            jobs["train"]["steps"],
        )


def images_skip_the_gate(provider, config):
    """Build images as soon as train is done, without waiting for the gate."""
    if provider == "github":
        config["jobs"]["images"]["needs"] = "train"
    elif provider == "gitlab":
        config["images"]["needs"] = [{"job": "train", "artifacts": True}]
    else:
        _circleci_entry(config, "images")["requires"] = ["train"]


def staging_on_every_branch(provider, config):
    if provider == "github":
        del config["jobs"]["staging"]["if"]
    elif provider == "gitlab":
        config["staging"]["rules"] = [{"when": "on_success"}]
    else:
        del _circleci_entry(config, "staging")["filters"]


def production_without_approval(provider, config):
    if provider == "github":
        del config["jobs"]["promote"]["environment"]
    elif provider == "gitlab":
        config["production"]["rules"] = [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}]
    else:
        jobs = config["workflows"]["pipeline"]["jobs"]
        jobs[:] = [j for j in jobs if not (isinstance(j, dict) and "approve-production" in j)]
        _circleci_entry(config, "production")["requires"] = ["staging"]


def gate_may_fail(provider, config):
    if provider == "github":
        config["jobs"]["gate"]["continue-on-error"] = True
    elif provider == "gitlab":
        config["gate"]["allow_failure"] = True
    else:
        step = next(
            s
            for s in config["jobs"]["gate"]["steps"]
            if isinstance(s, dict) and "make gate" in str(s.get("run", ""))
        )
        step["run"]["command"] = "make gate || true"


def gate_threshold_lowered(provider, config):
    if provider == "github":
        config["jobs"]["gate"]["env"] = {"ML_MIN_F1": "0.5"}
    elif provider == "gitlab":
        config["gate"]["variables"] = {"ML_MIN_F1": "0.5"}
    else:
        config["jobs"]["gate"]["environment"] = {"ML_MIN_F1": "0.5"}


def _replace_in_strings(node, old, new):
    """Replace text in every string of a parsed config (lists and mappings walked), in place."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in list(items):
        if isinstance(value, str):
            node[key] = re.sub(old, new, value)
        elif isinstance(value, (dict, list)):
            _replace_in_strings(value, old, new)


def images_without_layer_cache(provider, config):
    """Build the images from scratch: `make images` without CACHE_TAGS."""
    _replace_in_strings(config, r"make images CACHE_TAGS=\S+ \S+", "make images")


def images_cache_only_production(provider, config):
    """Reuse only the production release's layers, not the previous commit's."""
    _replace_in_strings(config, r'CACHE_TAGS="\S+ production"', 'CACHE_TAGS="production"')


def _circleci_entry(config, name):
    return next(
        e[name]
        for e in config["workflows"]["pipeline"]["jobs"]
        if isinstance(e, dict) and name in e
    )


MUTATIONS = {
    "drop-smoke": (drop_smoke, "runs ["),
    "swap-train-gate": (swap_train_and_gate, "runs ["),
    "images-skip-gate": (images_skip_the_gate, "does not wait for"),
    "staging-every-branch": (staging_on_every_branch, "not restricted to the default branch"),
    "production-no-approval": (production_without_approval, "without an approval"),
    "gate-may-fail": (gate_may_fail, "gate"),
    "gate-threshold": (gate_threshold_lowered, "overrides the gate threshold ML_MIN_F1"),
    "images-no-cache": (images_without_layer_cache, "without the layer cache"),
    "images-cache-production-only": (images_cache_only_production, "resolves to ['production']"),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
@pytest.mark.parametrize("provider", PROVIDERS)
def test_parity_fails_when_one_provider_drifts(baked, provider, mutation):
    mutate, expected = MUTATIONS[mutation]
    config = copy.deepcopy(baked["configs"][provider])
    mutate(provider, config)
    found = check(provider, config, baked["rules"])
    assert any(expected in problem and problem.startswith(provider) for problem in found), found
    # ... and the two untouched providers still agree with the contract.
    for other in PROVIDERS:
        if other != provider:
            assert check(other, baked["configs"][other], baked["rules"]) == []
