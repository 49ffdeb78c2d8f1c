"""The three generated CI configs read into one shape: jobs, their order, the make targets they run.

Shared by the static, parity and run tests. Each `*_jobs(config)` takes the parsed YAML of one
provider and returns its jobs in dependency order; `parity_problems` compares providers.
"""

import copy
import itertools
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

GITHUB = ".github/workflows/ci.yml"
GITLAB = ".gitlab-ci.yml"
CIRCLECI = ".circleci/config.yml"
PATHS = {"github": GITHUB, "gitlab": GITLAB, "circleci": CIRCLECI}

# The shared pipeline, as Makefile targets, in order (CONTRACT.md). Composite targets (a rule with
# prerequisites, e.g. `promote: promote-images promote-model`) are expanded from the Makefile, so
# a provider may call the parts from separate jobs.
PIPELINE = ["lint", "test", "train", "gate", "images", "push", "staging-up", "smoke", "promote"]
DEPLOY = ["images", "push", "staging-up", "smoke", "promote"]
PRODUCTION = ["promote"]
# Gate thresholds come from the project's settings.py; no provider may override them.
THRESHOLD_VARIABLES = ("ML_MIN_F1", "ML_MAX_LATENCY_MS")
# `make images CACHE_TAGS=...`: each provider's previous commit (pushed by the last images job) and
# the production release (the Makefile's PRODUCTION_TAG) are the layer cache of the next build.
PREVIOUS_COMMIT = {
    "github": "${{ github.event.before }}",
    "gitlab": "$CI_COMMIT_BEFORE_SHA",
    "circleci": "<< pipeline.git.base_revision >>",
}
CACHE_TAGS = ["production"]

GITLAB_GLOBAL_KEYS = {
    "default",
    "include",
    "stages",
    "variables",
    "workflow",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
    "spec",
}
# Keywords of a GitLab job (docs.gitlab.com/ci/yaml), for the unknown-key check.
GITLAB_JOB_KEYS = {
    "after_script",
    "allow_failure",
    "artifacts",
    "before_script",
    "cache",
    "coverage",
    "dast_configuration",
    "dependencies",
    "environment",
    "except",
    "extends",
    "hooks",
    "id_tokens",
    "identity",
    "image",
    "inherit",
    "interruptible",
    "manual_confirmation",
    "needs",
    "only",
    "pages",
    "parallel",
    "release",
    "resource_group",
    "retry",
    "rules",
    "run",
    "script",
    "secrets",
    "services",
    "stage",
    "tags",
    "timeout",
    "trigger",
    "variables",
    "when",
}
# Keys of a CircleCI workflow job entry besides the job's own parameters.
CIRCLECI_ENTRY_KEYS = {
    "requires",
    "context",
    "filters",
    "type",
    "name",
    "matrix",
    "pre-steps",
    "post-steps",
    "serial-group",
    "override-with",
}

MAKE_CALL = re.compile(r"(?:^|[\s;&|(])make\s+([^;&|)\n]*)")


@dataclass
class Job:
    """One job of one provider, reduced to what the parity test compares."""

    name: str
    needs: list = field(default_factory=list)
    targets: list = field(default_factory=list)
    scripts: list = field(default_factory=list)  # the shell text of its steps
    default_branch_only: bool = False
    approval: bool = False  # this job itself waits for a person (manual job, approval, environment)
    may_fail: bool = False  # allow_failure / continue-on-error: its verdict would not stop anything
    env: dict = field(default_factory=dict)


def load(project: Path, provider: str) -> dict:
    return yaml.safe_load((Path(project) / PATHS[provider]).read_text())


def make_calls(script: str) -> list:
    """(targets, {VAR: value}) of each `make` call of a shell script, in order (options left out).

    Words are split as the shell does, so `CACHE_TAGS="$A production"` is one assignment."""
    calls = []
    for line in script.splitlines():
        if line.strip().startswith("#"):
            continue
        for match in MAKE_CALL.finditer(line):
            try:
                words = shlex.split(match.group(1), comments=True)
            except ValueError:  # an unbalanced quote: fall back to plain words
                words = [w.strip("'\"") for w in match.group(1).split()]
            targets, variables = [], {}
            for word in words:
                if word.startswith(("-", ">", "2>")):
                    continue
                if re.match(r"^\w+=", word):
                    name, value = word.split("=", 1)
                    variables[name] = value
                elif not word.startswith("$"):
                    targets.append(word)
            calls.append((targets, variables))
    return calls


def make_targets(script: str) -> list:
    """Make targets called by a shell script, in order (options and VAR=value left out)."""
    return [target for targets, _ in make_calls(script) for target in targets]


def cache_tags(job: "Job", target: str = "images") -> list | None:
    """The CACHE_TAGS words the job passes to `make images`, each `$VAR` resolved through the
    job's env (as the CI file sets it); None when the job does not call the target."""
    for script in job.scripts:
        for targets, variables in make_calls(script):
            if target in targets:
                words = variables.get("CACHE_TAGS", "").split()
                return [job.env.get(w[1:].strip("{}"), w) if w[:1] == "$" else w for w in words]
    return None


def makefile_rules(makefile: Path) -> dict:
    """target -> its normal prerequisites (order-only ones after `|` left out)."""
    rules = {}
    for line in Path(makefile).read_text().splitlines():
        match = re.match(r"^([a-zA-Z][\w-]*)\s*:(?!=)([^#]*)", line)
        if match and not line.startswith("\t"):
            prerequisites = match.group(2).split("|")[0].split()
            rules[match.group(1)] = [p for p in prerequisites if not p.startswith("$")]
    return rules


def expand(targets, rules: dict) -> list:
    """Replace each composite target by its prerequisites, recursively."""
    out = []
    for target in targets:
        parts = rules.get(target) or []
        out.extend(expand(parts, rules) if parts else [target])
    return out


def ordered(jobs: list) -> list:
    """Jobs in dependency order (a stable topological sort: file order among ready jobs)."""
    by_name = {job.name: job for job in jobs}
    done, out = set(), []
    while len(out) < len(jobs):
        ready = [j for j in jobs if j.name not in done and all(n in done for n in j.needs)]
        if not ready:
            missing = {j.name: j.needs for j in jobs if j.name not in done}
            raise ValueError(f"needs form a cycle or name unknown jobs: {missing}")
        done.add(ready[0].name)
        out.append(ready[0])
    assert set(by_name) == done
    return out


def ancestors(job: Job, jobs: list) -> set:
    by_name = {j.name: j for j in jobs}
    seen, todo = set(), list(job.needs)
    while todo:
        name = todo.pop()
        if name not in seen and name in by_name:
            seen.add(name)
            todo.extend(by_name[name].needs)
    return seen


# --- GitHub Actions -------------------------------------------------------------------------


def _github_default_branch_only(condition) -> bool:
    text = str(condition or "")
    return (
        "github.ref ==" in text
        and ("default_branch" in text or "'refs/heads/main'" in text)
        and "||" not in text
    )


def github_jobs(workflow: dict) -> list:
    jobs = []
    for name, job in workflow["jobs"].items():
        needs = job.get("needs") or []
        scripts = [step["run"] for step in job.get("steps", []) if "run" in step]
        environment = job.get("environment")
        environment = environment.get("name") if isinstance(environment, dict) else environment
        env = {**(workflow.get("env") or {}), **(job.get("env") or {})}
        for step in job.get("steps", []):
            env.update(step.get("env") or {})
        jobs.append(
            Job(
                name=name,
                needs=[needs] if isinstance(needs, str) else list(needs),
                targets=[t for s in scripts for t in make_targets(s)],
                scripts=scripts,
                default_branch_only=_github_default_branch_only(job.get("if")),
                approval=environment == "production",
                may_fail=bool(job.get("continue-on-error"))
                or any(step.get("continue-on-error") for step in job.get("steps", [])),
                env=env,
            )
        )
    return ordered(jobs)


# --- GitLab CI ------------------------------------------------------------------------------


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def gitlab_resolve(config: dict, name: str) -> dict:
    """A job with its `extends` templates merged in (in order, the job itself last)."""
    job = config[name]
    parents = job.get("extends") or []
    merged = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = _merge(merged, gitlab_resolve(config, parent))
    return _merge(merged, {k: v for k, v in job.items() if k != "extends"})


def gitlab_job_names(config: dict) -> list:
    return [k for k in config if k not in GITLAB_GLOBAL_KEYS and not k.startswith(".")]


def script_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return "\n".join(script_text(v) for v in value)


DEFAULT_BRANCH_RULE = re.compile(r"\$CI_COMMIT_BRANCH\s*==\s*\$CI_DEFAULT_BRANCH")


def _gitlab_default_branch_only(rules) -> bool:
    if not rules:
        return False
    for rule in rules:
        if rule.get("when") == "never":
            continue
        condition = rule.get("if", "")
        if not DEFAULT_BRANCH_RULE.search(condition) or "||" in condition:
            return False
    return True


def gitlab_jobs(config: dict) -> list:
    jobs = []
    for name in gitlab_job_names(config):
        job = gitlab_resolve(config, name)
        needs = [n["job"] if isinstance(n, dict) else n for n in job.get("needs") or []]
        scripts = [script_text(job.get("before_script")), script_text(job.get("script"))]
        rules = job.get("rules") or []
        manual = [r for r in rules if r.get("when") == "manual"]
        jobs.append(
            Job(
                name=name,
                needs=needs,
                targets=[t for s in scripts for t in make_targets(s)],
                scripts=scripts,
                default_branch_only=_gitlab_default_branch_only(rules),
                # A manual rule blocks the pipeline only while allow_failure stays false.
                approval=bool(manual) and not any(r.get("allow_failure") for r in manual),
                may_fail=bool(job.get("allow_failure")),
                env={**(config.get("variables") or {}), **(job.get("variables") or {})},
            )
        )
    return ordered(jobs)


# --- CircleCI -------------------------------------------------------------------------------


def circleci_steps(config: dict, steps: list) -> list:
    """Steps with reusable commands expanded (one level per call, recursively)."""
    out = []
    commands = config.get("commands") or {}
    for step in steps:
        name = step if isinstance(step, str) else next(iter(step))
        if name in commands:
            out.extend(circleci_steps(config, commands[name].get("steps", [])))
        else:
            out.append(step)
    return out


def circleci_run_text(step) -> str:
    if not isinstance(step, dict) or "run" not in step:
        return ""
    run = step["run"]
    return run if isinstance(run, str) else run.get("command", "")


def circleci_entries(config: dict, workflow: str | None = None) -> list:
    """(name, settings) of each job entry of a workflow (the first one by default)."""
    workflows = {k: v for k, v in config["workflows"].items() if k != "version"}
    chosen = workflows[workflow or next(iter(workflows))]
    entries = []
    for entry in chosen["jobs"]:
        if isinstance(entry, str):
            entries.append((entry, {}))
        else:
            (name, settings), *_ = entry.items()
            entries.append((name, settings or {}))
    return entries


def _circleci_default_branch_only(filters) -> bool:
    if isinstance(filters, str):  # an expression filter
        return "pipeline.git.branch ==" in filters and " or " not in filters
    only = ((filters or {}).get("branches") or {}).get("only")
    only = [only] if isinstance(only, str) else (only or [])
    return bool(only) and all(branch in ("main", "master") for branch in only)


def circleci_jobs(config: dict) -> list:
    jobs = []
    for name, settings in circleci_entries(config):
        definition = (config.get("jobs") or {}).get(settings.get("name") or name, {})
        steps = circleci_steps(config, definition.get("steps", []))
        scripts = [circleci_run_text(s) for s in steps if circleci_run_text(s)]
        env = dict(definition.get("environment") or {})
        for step in steps:
            if isinstance(step, dict) and isinstance(step.get("run"), dict):
                env.update(step["run"].get("environment") or {})
        jobs.append(
            Job(
                name=name,
                needs=list(settings.get("requires") or []),
                targets=[t for s in scripts for t in make_targets(s)],
                scripts=scripts,
                default_branch_only=_circleci_default_branch_only(settings.get("filters")),
                approval=settings.get("type") == "approval",
                env=env,
            )
        )
    return ordered(jobs)


PARSERS = {"github": github_jobs, "gitlab": gitlab_jobs, "circleci": circleci_jobs}


def jobs_of(project: Path, provider: str) -> list:
    return PARSERS[provider](load(project, provider))


# --- parity ---------------------------------------------------------------------------------


def sequence(jobs: list, rules: dict) -> list:
    """The pipeline targets a provider runs, in dependency order, composite targets expanded."""
    wanted = set(expand(PIPELINE, rules))
    return [t for job in jobs for t in expand(job.targets, rules) if t in wanted]


def problems(provider: str, jobs: list, rules: dict) -> list:
    """Every way this provider's jobs differ from the shared pipeline contract."""
    found = []
    expected = expand(PIPELINE, rules)
    got = sequence(jobs, rules)
    if got != expected:
        found.append(f"{provider}: runs {got}, expected {expected}")
    deploy = set(expand(DEPLOY, rules))
    production = set(expand(PRODUCTION, rules))
    runs = {t: [j for j in jobs if t in expand(j.targets, rules)] for t in expected}
    # The order is enforced by the needs graph, not just written down in that order.
    for first, later in itertools.combinations(expected, 2):
        for a in runs[first]:
            for b in runs[later]:
                if a is not b and a.name not in ancestors(b, jobs):
                    found.append(
                        f"{provider}: job {b.name!r} ({later}) does not wait for "
                        f"job {a.name!r} ({first})"
                    )
    for job in jobs:
        leaves = set(expand(job.targets, rules))
        if leaves & deploy and not job.default_branch_only:
            found.append(
                f"{provider}: deploy job {job.name!r} is not restricted to the default branch"
            )
        if leaves & production:
            gated = job.approval or any(j.approval for j in jobs if j.name in ancestors(job, jobs))
            if not gated:
                found.append(f"{provider}: production job {job.name!r} runs without an approval")
        if leaves and job.may_fail:
            found.append(f"{provider}: job {job.name!r} may fail without failing the pipeline")
        for script in job.scripts:
            for line in script.splitlines():
                if make_targets(line) and re.search(r"\|\|\s*(true|:|exit 0)\b", line):
                    found.append(f"{provider}: job {job.name!r} ignores a failure: {line.strip()}")
        tags = cache_tags(job)
        if tags is not None and tags != [PREVIOUS_COMMIT[provider], *CACHE_TAGS]:
            found.append(
                f"{provider}: job {job.name!r} builds the images without the layer cache of the "
                f"previous commit and production (CACHE_TAGS resolves to {tags})"
            )
        for variable in THRESHOLD_VARIABLES:
            assigned = re.compile(rf"\b{variable}=")
            if variable in job.env or any(assigned.search(s) for s in job.scripts):
                found.append(
                    f"{provider}: job {job.name!r} overrides the gate threshold {variable}"
                )
    return found
