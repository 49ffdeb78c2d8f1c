"""The steps every provider shares live in the Makefile: registry login, the remote staging's SSH
connection and the smoke client's environment. Each runs here with recording fakes of `docker` and
`ssh` first on the PATH, so what a CI job would send is read back, byte for byte."""

import os
from pathlib import Path

import pytest

from conftest import make

FAKE = """#!/bin/sh
echo "$(basename "$0") $*" >> "$RECORD"
[ "$1" = login ] && cat >> "$RECORD"
exit 0
"""


@pytest.fixture
def fakes(tmp_path):
    """env with recording `docker` and `ssh` first on the PATH; read(): what they were given."""
    bin_dir, record = tmp_path / "bin", tmp_path / "record.txt"
    bin_dir.mkdir()
    for name in ("docker", "ssh"):
        (bin_dir / name).write_text(FAKE)
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "RECORD": str(record)}
    return env, lambda: record.read_text() if record.exists() else ""


def test_registry_login_sends_the_password_on_stdin_to_the_registry_host(bake_session, fakes):
    env, read = fakes
    env |= {"REGISTRY_USER": "ci-bot", "REGISTRY_PASSWORD": "s3cret"}
    result = make(bake_session(), "registry-login", "REGISTRY=ghcr.io/Jane/Repo", env=env)
    assert read() == "docker login --username ci-bot --password-stdin ghcr.io\ns3cret\n"
    assert "s3cret" not in result.stdout + result.stderr


def test_registry_login_without_a_registry_says_so(bake_session, fakes):
    env, read = fakes
    result = make(bake_session(), "registry-login", env=env, check=False)
    assert result.returncode != 0 and "set REGISTRY" in result.stdout + result.stderr
    assert read() == ""


def test_image_names_are_lowercased_and_tagged_with_the_providers_commit(bake_session, fakes):
    env, read = fakes
    # GitLab's commit variable; GitHub's and CircleCI's (set on their runners, and by act) emptied
    env |= {"CI_COMMIT_SHA": "abc123", "GITHUB_SHA": "", "CIRCLE_SHA1": ""}
    make(bake_session(), "push", "REGISTRY=registry.example.com/Team/Repo", env=env)
    assert "docker push --quiet registry.example.com/team/repo/api:abc123" in read()


def test_staging_connect_writes_the_key_with_its_final_newline_and_tunnels_the_ports(
    bake_session, fakes, tmp_path
):
    env, read = fakes
    key, hosts = tmp_path / "key", tmp_path / "known_hosts"
    key.write_text("-----BEGIN KEY-----\r\nAAAA\r\n-----END KEY-----")  # no final newline
    hosts.write_text("host ssh-ed25519 AAAA\n")
    ssh_dir = tmp_path / "ssh"
    connect = [
        "staging-connect",
        "STAGING_SSH=deploy@staging.example.com",
        f"STAGING_SSH_KEY={key}",
        f"STAGING_SSH_KNOWN_HOSTS={hosts}",
        f"SSH_DIR={ssh_dir}",
        "API_PORT=18000",
        "UI_PORT=18501",
    ]
    ssh_dir.mkdir()
    (ssh_dir / "config").write_text("Host *\n  ForwardAgent no\n")  # the developer's own
    (ssh_dir / "known_hosts").write_text("theirs\n")
    make(bake_session(), *connect, env=env)
    make(bake_session(), *connect, env=env)  # a second run adds nothing to the config
    assert (ssh_dir / "staging_key").read_text() == "-----BEGIN KEY-----\nAAAA\n-----END KEY-----\n"
    assert oct((ssh_dir / "staging_key").stat().st_mode & 0o777) == "0o600"
    assert (ssh_dir / "staging_known_hosts").read_text() == hosts.read_text()
    assert "StrictHostKeyChecking yes" in (ssh_dir / "config").read_text()
    # A block for the staging host only, once; the developer's own SSH setup is left alone.
    config = (ssh_dir / "config").read_text()
    assert config.startswith("Host *\n  ForwardAgent no\n")
    assert config.count("Host ") == 2 and config.count("Host staging.example.com\n") == 1
    assert (ssh_dir / "known_hosts").read_text() == "theirs\n"
    assert read() == 2 * (
        "ssh -fN -L 127.0.0.1:18000:127.0.0.1:18000 -L 127.0.0.1:18501:127.0.0.1:18501 "
        "deploy@staging.example.com\n"
    )


@pytest.mark.parametrize(
    "variables, api_url",
    [
        ([], "http://127.0.0.1:8000"),
        (["STAGING_HOST=docker"], "http://docker:8000"),  # GitLab's dind service
        (["STAGING_HOST=docker", "STAGING_SSH=u@h"], "http://127.0.0.1:8000"),  # the SSH tunnel
    ],
    ids=["local", "dind", "ssh"],
)
def test_the_smoke_client_is_pointed_at_the_staging_stack(bake_session, variables, api_url):
    result = make(bake_session(), "-n", "smoke", *variables)
    assert f"ML_API_URL={api_url} " in result.stdout


def test_a_remote_staging_runs_compose_on_the_ssh_host_on_its_loopback(bake_session):
    project: Path = bake_session()
    result = make(project, "-n", "staging-up", "STAGING_SSH=u@h", "HOST_IP=0.0.0.0")
    assert "ssh -fN" in result.stdout and "HOST_IP=127.0.0.1 " in result.stdout
    printed = make(project, "-s", "--eval=show: ; @echo $$DOCKER_HOST", "show", "STAGING_SSH=u@h")
    assert printed.stdout.strip() == "ssh://u@h"
