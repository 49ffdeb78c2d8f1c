"""One MLflow for the team: PostgreSQL (Debian's, outside containers) behind an MLflow server; a baked
project trains against it twice (versions 1 and 2 in the registry), sets the champion, and the
challenger gate fails for a worse model and passes for an equal one."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import PROJECT_VENV, free_port, make, run, skip_or_fail

PG_BIN = Path("/usr/lib/postgresql/15/bin")
NAME = "my_ml_service"  # the default bake's registered model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL 15 on 127.0.0.1 and a free port, in a temporary folder; stopped after."""
    if not (PG_BIN / "initdb").is_file():
        skip_or_fail(f"PostgreSQL 15 is not installed at {PG_BIN} (`make tools` installs it)")
    root = Path(tempfile.mkdtemp(prefix="mlci-postgres-"))
    # PostgreSQL refuses to run as root: as its own user then, in a folder it owns.
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(root, "postgres", "postgres")
    port, data = free_port(), root / "data"
    pg = [*as_postgres, str(PG_BIN / "pg_ctl"), "--pgdata", str(data)]
    try:
        run([*as_postgres, PG_BIN / "initdb", "-D", data, "-U", "mlflow", "--auth=trust"], root)
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
        run(
            [*pg, "--log", str(root / "log"), "--wait", "--timeout", "60", "-o", options, "start"],
            root,
        )
        run([*as_postgres, PG_BIN / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "mlflow",
             "mlflow"], root)  # fmt: skip
        yield f"postgresql+psycopg://mlflow@127.0.0.1:{port}/mlflow"
    finally:
        if (data / "postmaster.pid").exists():
            run([*pg, "--mode", "fast", "--wait", "stop"], root, check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def mlflow_server(postgres, tmp_path_factory):
    """`mlflow server` on that database and a local artifact store, on loopback; stopped after."""
    port, artifacts = free_port(), tmp_path_factory.mktemp("artifacts")
    command = [str(PROJECT_VENV / "bin" / "mlflow"), "server", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1", "--backend-store-uri", postgres,
               "--artifacts-destination", str(artifacts)]  # fmt: skip
    log = (artifacts.parent / "mlflow-server.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if urllib.request.urlopen(f"{url}/health", timeout=2).read() == b"OK":
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"mlflow server did not answer:\n{Path(log.name).read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its workers: the group it leads
        server.wait(timeout=30)
        log.close()


def registry(url: str, path: str, **params) -> dict:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    with urllib.request.urlopen(f"{url}/api/2.0/mlflow/{path}?{query}", timeout=10) as answer:
        return json.load(answer)


def versions(url: str) -> list[str]:
    found = registry(url, "model-versions/search", filter=f"name%3D%27{NAME}%27")
    return sorted((v["version"] for v in found["model_versions"]), key=int)


def alias(url: str, name: str) -> str | None:
    try:
        return registry(url, "registered-models/alias", name=NAME, alias=name)["model_version"][
            "version"
        ]
    except urllib.error.HTTPError:
        return None


def test_every_pipeline_logs_to_one_server_and_the_challenger_must_match_the_champion(
    mlflow_server, bake, tmp_path
):
    started = time.monotonic()
    project = bake()
    env = {"MLFLOW_TRACKING_URI": mlflow_server}

    make(project, "train", env=env)
    first = make(project, "challenge", env=env).stdout
    assert f"challenge: passed: no champion yet for '{NAME}': candidate version 1" in first
    make(project, "promote-model", env=env)
    assert alias(mlflow_server, "champion") == "1"

    # A second pipeline, same data and model: version 2, as good as the champion, passes.
    make(project, "train", env=env)
    assert versions(mlflow_server) == ["1", "2"]
    f1 = json.loads((project / "model" / "metrics.json").read_text())["f1"]
    equal = make(project, "challenge", env=env).stdout
    assert (
        f"challenge: passed: candidate version 2 F1 {f1:.4f}, champion version 1 F1 {f1:.4f}"
        in equal
    )
    verdict = json.loads((project / "reports" / "challenge.json").read_text())
    assert verdict["champion_f1"] == f1  # the champion, loaded from the registry, on this split
    promoted = make(project, "promote-model", env=env).stdout
    assert "alias 'champion' -> version 2 (was version 1)" in promoted
    assert (alias(mlflow_server, "champion"), alias(mlflow_server, "previous-champion")) == (
        "2",
        "1",
    )

    # A worse model (a single stump instead of the forest) trails the champion: the gate fails.
    worse = tmp_path / "worse"
    shutil.copytree(project, worse)
    train_py = worse / NAME / "train.py"
    forest = "RandomForestClassifier(n_estimators=100, random_state=seed)"
    assert forest in train_py.read_text()
    train_py.write_text(
        train_py.read_text().replace(
            forest, "RandomForestClassifier(1, max_depth=1, random_state=seed)"
        )
    )
    make(worse, "train", env={**env, "ML_MODEL": "random_forest"})
    assert versions(mlflow_server) == ["1", "2", "3"]
    failed = make(worse, "challenge", env=env, check=False)
    assert failed.returncode != 0
    verdict = json.loads((worse / "reports" / "challenge.json").read_text())
    assert verdict["champion_f1"] == f1 and verdict["candidate_f1"] < f1 - 0.01
    assert (
        f"challenge: FAILED: candidate version 3 F1 {verdict['candidate_f1']:.4f}, champion "
        f"version 2 F1 {f1:.4f} on the same" in failed.stdout
    )
    assert "more than the margin 0.01 (ML_CHAMPION_MARGIN)" in failed.stdout
    assert alias(mlflow_server, "champion") == "2"  # a failed gate moves nothing

    # Rollback: the champion goes back to the version before.
    back = make(project, "rollback-model", env=env).stdout
    assert (
        "rollback-model: MLflow model 'my_ml_service' alias 'champion' -> version 1 (was 2)" in back
    )
    assert alias(mlflow_server, "champion") == "1"
    print(f"\nmlflow on postgres: 3 trainings, challenge, promote, rollback in "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip
