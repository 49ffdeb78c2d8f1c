"""Parity: each provider's CI file is exactly its table in tests/ci_spec.py, and the three tables run
the same Makefile targets in the same order, deploys on the default branch only and production
behind an approval. Mutations (data, one row each) prove the comparison fails when a file drifts.

The files are parsed, never run here: test_ci_run.py executes them with gitlab-ci-local and act.
"""

import copy
import re

import pytest
from conftest import TEMPLATE

from ci_spec import (
    BY_HAND,
    DEFAULT,
    DEPLOY,
    PATHS,
    EVERY,
    LOCAL_ACTIONS,
    PIPELINE,
    PRODUCTION,
    READERS,
    REVIEW,
    SPECS,
    complaints,
    load,
)

PROVIDERS = list(SPECS)


@pytest.fixture(scope="module")
def project(pristine_bake):
    return pristine_bake({})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_ci_file_is_its_table(project, provider):
    assert complaints(provider, load(project, provider)) == []


def composite_targets(project) -> dict:
    """target -> its prerequisites, for Makefile rules that only group others (promote)."""
    rules = re.findall(r"^([\w-]+):([\w -]+)##", (project / "Makefile").read_text(), re.M)
    return {target: parts.split() for target, parts in rules if parts.split()}


def ancestors(spec: dict, job: str) -> set:
    """Every job `job` waits for; needing a matrix job (`test`) is needing each of its legs."""
    needs = [j for n in spec[job][0] for j in spec if j == n or j.startswith(f"{n}[")]
    return set(needs).union(*(ancestors(spec, n) for n in needs))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_table_runs_the_shared_pipeline_in_order_and_deploys_only_from_the_default_branch(
    project, provider
):
    spec, composites = SPECS[provider], composite_targets(project)
    makefile = (project / "Makefile").read_text()
    runs = {}  # pipeline target -> the jobs that run it
    for job, (_, calls, condition) in spec.items():
        assert calls or "approval" in condition, f"{provider}: {job} calls no make target"
        for call in calls:
            target = call.split()[0]
            assert re.search(rf"^{target}:", makefile, re.M), f"no `{target}` in the Makefile"
            for part in composites.get(target, [target]):
                runs.setdefault(part, []).append(job)
    assert sorted(t for t in runs if t in sum(PIPELINE, [])) == sorted(sum(PIPELINE, []))
    # Each stage waits for the ones before it through `needs`, not just by being written later.
    for i, stage in enumerate(PIPELINE):
        for target in stage:
            for job in runs[target]:
                earlier = {j for s in PIPELINE[:i] for t in s for j in runs[t]} - {job}
                earlier = {j for j in earlier if spec[j][2] != REVIEW}  # nothing waits for these
                assert earlier <= ancestors(spec, job), (provider, job, earlier)
                gated = [spec[j][2] for j in [job, *ancestors(spec, job)]]
                if target in DEPLOY:
                    assert spec[job][2] != EVERY, (provider, job)
                if target in PRODUCTION:
                    assert any("approval" in r for r in gated), (provider, job)
                if target not in DEPLOY:  # a review job may run a check again for its figures
                    assert spec[job][2] in (EVERY, REVIEW), (provider, job)
                    assert any(spec[j][2] == EVERY for j in runs[target]), (provider, target)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_rollback_is_run_by_a_person_and_review_figures_only_before_a_merge(provider):
    jobs = {job: (calls, runs) for job, (_, calls, runs) in SPECS[provider].items()}
    assert [runs for calls, runs in jobs.values() if "rollback" in calls] == [BY_HAND]
    assert [runs for calls, runs in jobs.values() if "review" in calls] == [REVIEW]


def test_automatic_promotion_drops_the_manual_gates_where_the_provider_holds_them(pristine_bake):
    project = pristine_bake({"production_approval": "automatic"})
    gitlab, circleci = (READERS[p](load(project, p)) for p in ("gitlab", "circleci"))
    assert gitlab["production"][2] == DEFAULT  # no `when: manual`
    assert "approve-production" not in circleci
    assert circleci["production"][0] == ["staging"] and circleci["production"][2] == DEFAULT


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_ci_file_stays_within_its_budget_of_150_lines(provider):
    """CI files only orchestrate Makefile targets: at most 150 lines of YAML, comments and blank
    lines aside, counted in the template's own file (its Jinja lines included)."""
    source = TEMPLATE / "{{cookiecutter.project_slug}}" / PATHS[provider]
    lines = [line for line in source.read_text().splitlines() if line.strip()[:1] not in ("", "#")]
    assert len(lines) <= 150, len(lines)


DELETE = object()


def change(config: dict, path: tuple, value):
    """Set (or DELETE) the node at `path`. In a list, a key picks the first item that is that
    string, a mapping with that key (then its value), or else whose text contains the key."""
    node = config
    for i, key in enumerate(path):
        if isinstance(node, list) and not isinstance(key, int):
            hits = [j for j, x in enumerate(node) if x == key or isinstance(x, dict) and key in x]
            key = (hits or [j for j, x in enumerate(node) if key in str(x)])[0]
            if isinstance(node[key], dict) and path[i] in node[key] and i + 1 < len(path):
                node, key = node[key], path[i]
        if i + 1 == len(path):
            break
        node = node[key]
    if value is DELETE:
        del node[key]
    else:
        node[key] = value(node[key]) if callable(value) else value


CI_JOBS = ("workflows", "pipeline", "jobs")
# fmt: off
MUTATIONS = [
    # provider    where (YAML path)                              change          expected complaint
    ("github",   ("jobs", "staging", "steps", "make smoke"),   DELETE,          "staging: make calls"),
    ("github",   ("jobs", "train", "steps", "make train", "run"), "make gate",   "train: make calls ['install', 'validate', 'report REPORT=data', 'gate']"),
    ("github",   (LOCAL_ACTIONS, "./.github/actions/setup", "runs", "steps", "make install"), DELETE, "lint: make calls ['pre-commit', 'audit']"),
    ("github",   ("jobs", "images", "needs"),                   "train",         "images: needs ['train']"),
    ("github",   ("jobs", "staging", "if"),                     DELETE,          "staging: runs on 'every branch'"),
    ("github",   ("jobs", "production", "environment"),         "staging",       "production: runs on 'default branch'"),
    ("github",   ("jobs", "gate", "continue-on-error"),         True,            "gate: runs on 'every branch, may fail'"),
    ("github",   ("jobs", "gate", "env"),                       {"ML_MIN_F1": "0.5"}, "threshold at /jobs/gate/env/ML_MIN_F1"),
    ("github",   ("jobs", "images", "steps", "make images", "run"), "make images", "images: make calls ['registry-login', 'images'"),
    ("gitlab",   ("staging", "script", "make smoke"),           DELETE,          "staging: make calls"),
    ("gitlab",   (".docker", "before_script", "make registry-login"), DELETE,   "images: make calls ['images"),
    ("gitlab",   ("gate", "needs"),                             ["test"],        "gate: needs ['test']"),
    ("gitlab",   ("staging", "rules"),                          [{"when": "on_success"}], "staging: runs on \"rules:"),
    ("gitlab",   ("production", "rules", 0, "when"),            DELETE,          "production: runs on 'default branch'"),
    ("gitlab",   ("production", "when"),                        "manual",        "production: runs on 'default branch + approval, when: manual'"),
    ("gitlab",   ("images", "only"),                            ["main"],        "images: runs on \"default branch, only: ['main']\""),
    ("gitlab",   ("gate", "allow_failure"),                     True,            "gate: runs on 'every branch, allow_failure: True'"),
    ("gitlab",   ("gate", "script", 0),                         "make gate || true", "gate: make calls ['gate || true'"),
    ("gitlab",   ("variables", "ML_MIN_F1"),                    "0.5",           "threshold at /variables/ML_MIN_F1"),
    ("gitlab",   ("images", "script", "make images"),           "make images",   "images: make calls ['registry-login', 'images'"),
    ("circleci", (*CI_JOBS, "images", "requires"),              ["train"],       "images: needs ['train']"),
    ("circleci", (*CI_JOBS, "staging", "filters"),              DELETE,          "staging: runs on 'every branch'"),
    ("circleci", (*CI_JOBS, "approve-production", "type"),      "aproval",       "runs on 'default branch, type: aproval'"),
    ("circleci", ("jobs", "gate", "steps", "make gate", "run"), "make gate || true", "gate: make calls ['install', 'gate || true'"),
    ("circleci", ("commands", "setup", "steps", "make install"), DELETE,         "lint: make calls ['pre-commit']"),
    ("circleci", ("jobs", "gate", "environment"),               {"ML_MIN_F1": "0.5"}, "threshold at /jobs/gate/environment/ML_MIN_F1"),
    ("circleci", ("jobs", "staging", "steps", "make smoke"),    DELETE,          "staging: make calls"),
    ("circleci", ("jobs", "images", "steps", "make images", "run"), "make images", "images: make calls ['registry-login', 'images'"),
]
# fmt: on


@pytest.mark.parametrize(
    "provider, path, value, expected",
    MUTATIONS,
    ids=[f"{m[0]}:{'/'.join(map(str, m[1]))}" for m in MUTATIONS],
)
def test_the_comparison_fails_when_a_ci_file_drifts(project, provider, path, value, expected):
    config = copy.deepcopy(load(project, provider))
    change(config, path, value)
    found = complaints(provider, config)
    assert any(expected in line for line in found), found
