"""The generated pipeline as a specification: one table per provider, and a small reader per provider
that turns its parsed CI file into the same shape, so a test compares them field by field.

A row reads: this job waits for these jobs, runs these `make` calls in this order, on these refs.
Adding a job is adding a row. A `make` call is written as in the file, after `make `, with the
`$VARIABLES` the job itself sets replaced by their values (so CACHE_TAGS shows where it comes from).
"""

import re
from pathlib import Path

import yaml

# fmt: off
PATHS = {"github": ".github/workflows/ci.yml", "gitlab": ".gitlab-ci.yml", "circleci": ".circleci/config.yml"}
EVERY, DEFAULT, APPROVAL = "every branch", "default branch", "default branch + approval"
REVIEW, BY_HAND = "pull/merge requests + default branch", "default branch, by hand"
# The shared pipeline: Makefile targets in stages; every target of a stage waits (through `needs`)
# for every target of the stages before it. Composite targets (promote) count as their parts.
PIPELINE = [["pre-commit"], ["test-train", "test-api", "test-ui"], ["validate"], ["train"], ["gate", "challenge"],
            ["images", "push"], ["staging-up", "smoke", "load"], ["promote-images", "deploy", "promote-model"]]
DEPLOY = {target for stage in PIPELINE[5:] for target in stage}
PRODUCTION = set(PIPELINE[-1])
THRESHOLDS = ("ML_MIN_F1", "ML_MAX_LATENCY_MS")  # from settings.py; no provider may override them

GITHUB = {
    # job           needs          make calls, in order (`install`: the local setup action)      runs on
    "lint":       ([],           ["install", "pre-commit", "audit"],                                  EVERY),
    **{f"test[{owner}]":
                  (["lint"],     ["install", f"test-{owner}", "report REPORT=coverage"],        EVERY)
       for owner in ("train", "api", "ui")},
    "train":      (["test"],     ["install", "validate", "report REPORT=data", "train"],        EVERY),
    "gate":       (["train"],    ["install", "gate", "challenge", "browser", "smoke-local",
                                  "report REPORT=gate"],                                        EVERY),
    "review":     (["gate"],     ["install", "review"],                                         REVIEW),
    "images":     (["gate"],     ["registry-login",
                                  'images CACHE_TAGS="${{ github.event.before }} production"',
                                  "push", "scan"],                                              DEFAULT),
    "staging":    (["images"],   ["registry-login", "staging-up", "browser", "smoke", "install", "load", "report REPORT=smoke",
                                  "staging-down"],                                              DEFAULT),
    "production": (["staging"],  ["approval-check", "install", "registry-login", "promote-images", "browser",
                                  "deploy", "promote-model"],                                   APPROVAL),
    "rollback":   ([],           ["install", "rollback"],                                       BY_HAND),
}
GITLAB = {
    # job                 needs                     make calls (`.docker` logs in first)         runs on
    "lint":             ([],                      ["pre-commit"],                               EVERY),
    "audit":            ([],                      ["audit"],                                    EVERY),
    **{f"test[{owner}]":
                        (["lint"],                [f"test-{owner}"],                            EVERY)
       for owner in ("train", "api", "ui")},
    "validate":         (["test"],                ["validate", "report REPORT=data"],           EVERY),
    "train":            (["validate"],            ["train"],                                    EVERY),
    "gate":             (["train"],               ["gate", "challenge", "browser", "smoke-local",
                                                   "report REPORT=gate"],                       EVERY),
    "review":           (["gate"],                ["review"],                                   REVIEW),
    "images":           (["train", "gate"],       ["registry-login",
                                                   'images CACHE_TAGS="$CI_COMMIT_BEFORE_SHA production"',
                                                   "push", "scan"],                             DEFAULT),
    "staging":          (["images"],              ["registry-login", "staging-up", "browser", "smoke", "load",
                                                   "report REPORT=smoke"],                      DEFAULT),
    "production":       (["staging", "train"],    ["registry-login", "approval-check", "promote-images", "browser",
                                                   "deploy", "promote-model"],                  APPROVAL),
    "rollback":         (["production"],         ["registry-login", "rollback"],               BY_HAND),
}
CIRCLECI = {
    # job                   needs                    make calls (`setup` installs)              runs on
    "lint":               ([],                     ["install", "pre-commit"],                   EVERY),
    "audit":              ([],                     ["install", "audit"],                        EVERY),
    **{f"test[{owner}]":
                          (["lint"],               ["install", f"test-{owner}", "report REPORT=coverage"], EVERY)
       for owner in ("train", "api", "ui")},
    "train":              (["test"],               ["install", "validate", "report REPORT=data", "train"], EVERY),
    "gate":               (["train"],              ["install", "gate", "challenge", "browser", "smoke-local",
                                                    "report REPORT=gate"],                      EVERY),
    "review":             (["gate"],               ["install", "review"],                       REVIEW),
    "images":             (["gate"],               ["registry-login",
                                                    'images CACHE_TAGS="<< pipeline.git.base_revision >> production"',
                                                    "push", "scan"],                            DEFAULT),
    "staging":            (["images"],             ["registry-login",
                                                    "staging-up STAGING_SSH_KEY=/tmp/staging_key "
                                                    "STAGING_SSH_KNOWN_HOSTS=/tmp/staging_hosts",
                                                    "browser", "smoke", "load", "report REPORT=smoke"], DEFAULT),
    "approve-production": (["staging"],            [],                                          APPROVAL),
    "production":         (["approve-production"], ["install", "registry-login", "promote-images", "browser",
                                                    "deploy", "promote-model"],                 DEFAULT),
    "rollback":           ([],                     ["install", "registry-login", "rollback"],   BY_HAND),
}
# fmt: on
SPECS = {"github": GITHUB, "gitlab": GITLAB, "circleci": CIRCLECI}
LOCAL_ACTIONS = "local actions"  # GitHub: ./.github/actions/*, read next to the workflow
BY_HAND_WORKFLOWS = "by-hand workflows"  # GitHub: the other workflows, run by a person (rollback)


def load(project: Path, provider: str) -> dict:
    config = yaml.safe_load((Path(project) / PATHS[provider]).read_text())
    if provider == "github":
        actions = Path(project).glob(".github/actions/*/action.yml")
        config[LOCAL_ACTIONS] = {
            f"./{a.parent.relative_to(project)}": yaml.safe_load(a.read_text()) for a in actions
        }
        others = Path(project).glob(".github/workflows/*.yml")
        config[BY_HAND_WORKFLOWS] = {
            w.name: yaml.safe_load(w.read_text()) for w in others if w.name != "ci.yml"
        }
    return config


MAKE_CALL = re.compile(r"(?:^|&&|;|\bthen|\bdo)\s*make\s+(.+?)\s*(?=&&|;|$)", re.M)


def make_calls(script: str, env: dict) -> list:
    """The `make` calls of a shell script, as written after `make `, the job's own $VARS resolved."""
    resolve = lambda m: str(env.get(m[1] or m[2], m[0]))  # noqa: E731
    variable = r'"\$\{?(\w+)\}?"|\$\{?(\w+)\}?'  # `test-"$OWNER"` reads test-api
    return [re.sub(variable, resolve, c) for c in MAKE_CALL.findall(script or "")]


def _list(value) -> list:
    return [value] if isinstance(value, str) else list(value or [])


def legs(name: str, matrix) -> list:
    """A job, or the legs of its one-variable matrix: [(name, {})] or [("test[api]", {"OWNER": "api"})]."""
    if not matrix:
        return [(name, {})]
    ((variable, values),) = matrix.items()
    return [(f"{name}[{value}]", {variable: value}) for value in values]


MATRIX = re.compile(r"\$\{\{ *matrix\.(\w+) *\}\}")  # values reach scripts through env only
ON_DEFAULT_BRANCH = "github.ref_name == github.event.repository.default_branch"
ON_PULL_REQUEST = "github.event_name == 'pull_request' || " + ON_DEFAULT_BRANCH
APPROVERS = {"production"}  # environments with required reviewers


def github(config: dict) -> dict:
    jobs = {}
    for job_name, job in config["jobs"].items():
        for name, leg in legs(job_name, (job.get("strategy") or {}).get("matrix")):
            env = {**(config.get("env") or {}), **(job.get("env") or {})}
            env = {k: MATRIX.sub(lambda m: leg[m[1]], str(v)) for k, v in env.items()}
            jobs[name] = (
                _list(job.get("needs")),
                _github_calls(config, job, env),
                _github_runs(job),
            )
    # A workflow that only a person starts (`on: workflow_dispatch`): its jobs run by hand.
    for workflow in (config.get(BY_HAND_WORKFLOWS) or {}).values():
        on = workflow.get(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
        for name, job in workflow["jobs"].items():
            runs = _github_runs({**job, "environment": None})
            runs = BY_HAND if on == "workflow_dispatch" and runs == DEFAULT else f"on: {on}, {runs}"
            calls = _github_calls(config, job, job.get("env") or {})
            jobs[name] = (_list(job.get("needs")), calls, runs)
    return jobs


def _github_calls(config: dict, job: dict, env: dict) -> list:
    calls = []
    for step in job.get("steps", []):
        # A local composite action is read one level deep, where the job calls it.
        action = (config.get(LOCAL_ACTIONS) or {}).get(step.get("uses"), {})
        for inner in [step, *(action.get("runs") or {}).get("steps", [])]:
            calls += make_calls(inner.get("run"), {**env, **(inner.get("env") or {})})
    return calls


def _github_runs(job: dict) -> str:
    runs = {None: EVERY, ON_DEFAULT_BRANCH: DEFAULT, ON_PULL_REQUEST: REVIEW}.get(
        job.get("if"), f"if: {job.get('if')}"
    )
    environment = job.get("environment")
    if (environment.get("name") if isinstance(environment, dict) else environment) in APPROVERS:
        runs = APPROVAL if runs == DEFAULT else f"{runs} + approval"
    if job.get("continue-on-error") or any(s.get("continue-on-error") for s in job["steps"]):
        runs += ", may fail"
    return runs


GITLAB_GLOBALS = {"default", "include", "stages", "variables", "workflow", "spec"}
GITLAB_RULES = {
    "[]": EVERY,
    str([{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}]): DEFAULT,
    # `when: manual` inside rules blocks the pipeline (a job-level one does not).
    str([{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", "when": "manual"}]): APPROVAL,
    str(
        [
            {
                "if": '$CI_PIPELINE_SOURCE == "merge_request_event" || $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH'
            }
        ]
    ): REVIEW,
    # An optional manual job: the pipeline passes without it; a person may run it.
    str(
        [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", "when": "manual", "allow_failure": True}]
    ): BY_HAND,
}


def _gitlab_runs(rules, job: dict) -> str:
    runs = GITLAB_RULES.get(str(rules or []), f"rules: {rules}")
    for key in ("when", "only", "except", "allow_failure"):
        runs += f", {key}: {job[key]}" if job.get(key) not in (None, False) else ""
    return runs


def ancestors(config: dict, job: dict) -> list:
    """The hidden jobs `job` extends, nearest first (`extends` of `extends` included)."""
    parents = [config.get(name, {}) for name in reversed(_list(job.get("extends")))]
    return [layer for parent in parents for layer in [parent, *ancestors(config, parent)]]


def gitlab(config: dict) -> dict:
    jobs = {}
    for name, job in config.items():
        if name in GITLAB_GLOBALS or name.startswith("."):
            continue
        # `extends`, followed up the chain, the job's own keys first (no merge engine: YAML anchors
        # are merged by the YAML parser itself).
        layers = [job, *ancestors(config, job)]
        get = lambda key: next((layer[key] for layer in layers if key in layer), None)  # noqa: E731
        env = {**(config.get("variables") or {}), **(get("variables") or {})}
        script = "\n".join(_list(get("before_script")) + _list(get("script")))
        script += "\n" + "\n".join(_list(get("after_script")))
        needs = [n["job"] if isinstance(n, dict) else n for n in get("needs") or []]
        matrix = ((get("parallel") or {}).get("matrix") or [None])[0]  # one variable, one entry
        for leg, values in legs(name, matrix):
            calls = make_calls(script, {**env, **values})
            jobs[leg] = (needs, calls, _gitlab_runs(get("rules"), job))
    return jobs


MAIN_ONLY = {"branches": {"only": ["main"]}}


NOT_MAIN = {"branches": {"ignore": ["main"]}}  # the review of a branch before it merges


def _circleci_runs(settings: dict) -> str:
    filters = str(settings.get("filters"))
    known = {"None": EVERY, str(MAIN_ONLY): DEFAULT, str(NOT_MAIN): REVIEW}
    runs = known.get(filters, f"filters: {filters}")
    if settings.get("type") == "approval":
        return APPROVAL if runs == DEFAULT else f"{runs} + approval"
    return runs + (f", type: {settings['type']}" if "type" in settings else "")


ROLLBACK_PARAMETER = "<< pipeline.parameters.rollback >>"
WORKFLOW_RUNS = {  # a workflow's `when`: the pipeline, or the one a person triggers (rollback)
    str({"not": ROLLBACK_PARAMETER}): "",
    ROLLBACK_PARAMETER: "by hand",
}


def circleci(config: dict) -> dict:
    jobs = {}
    for workflow in [w for name, w in config["workflows"].items() if name != "version"]:
        when = WORKFLOW_RUNS.get(str(workflow.get("when")), f"when: {workflow.get('when')}")
        for entry in workflow["jobs"]:
            name, settings = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
            definition = (config.get("jobs") or {}).get(settings.get("name", name), {})
            runs = ", ".join(filter(None, [_circleci_runs(settings), when]))
            for leg, values in legs(name, (settings.get("matrix") or {}).get("parameters")):
                calls = _circleci_calls(config, definition, values)
                jobs[leg] = (_list(settings.get("requires")), calls, runs)
    return jobs


def _circleci_calls(config: dict, definition: dict, parameters: dict) -> list:
    calls = []
    for step in definition.get("steps", []):
        # A reusable command is read one level deep, where the job calls it.
        used = step if isinstance(step, str) else next(iter(step))
        command = (config.get("commands") or {}).get(used)
        for inner in command["steps"] if command else [step]:
            run = inner.get("run") if isinstance(inner, dict) else None
            run = {"command": run} if isinstance(run, str) else run or {}
            env = {**(definition.get("environment") or {}), **(run.get("environment") or {})}
            script = re.sub(r"<< *parameters\.(\w+) *>>", r"$\1", run.get("command") or "")
            calls += make_calls(script, {**env, **parameters})
    return calls


READERS = {"github": github, "gitlab": gitlab, "circleci": circleci}


def threshold_overrides(node, where="") -> list:
    """Every place of a parsed CI file that sets ML_MIN_F1 or ML_MAX_LATENCY_MS."""
    if isinstance(node, dict):
        found = [f"{where}/{k}" for k in node if k in THRESHOLDS]
        return found + [x for k, v in node.items() for x in threshold_overrides(v, f"{where}/{k}")]
    if isinstance(node, list):
        return [x for i, v in enumerate(node) for x in threshold_overrides(v, f"{where}/{i}")]
    return [where] if re.search(rf"\b({'|'.join(THRESHOLDS)})=", str(node)) else []


def complaints(provider: str, config: dict) -> list:
    """Every way a provider's parsed CI file differs from its table, and threshold overrides."""
    spec, jobs = SPECS[provider], READERS[provider](config)
    found = [] if list(jobs) == list(spec) else [f"jobs {list(jobs)}, spec says {list(spec)}"]
    for name in [n for n in spec if n in jobs]:
        for field, got, want in zip(("needs", "make calls", "runs on"), jobs[name], spec[name]):
            if got != want:
                found.append(f"{name}: {field} {got!r}, spec says {want!r}")
    found += [f"overrides a gate threshold at {where}" for where in threshold_overrides(config)]
    return [f"{provider}: {line}" for line in found]
