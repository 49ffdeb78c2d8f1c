"""Benchmark: this API against `mlflow models serve` of the same registered model, side by side."""

import argparse
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from {{ cookiecutter.__package_name }}.settings import CONTRACT_FILE, get_settings

PACKAGE = get_settings.__module__.split(".")[0]  # the project's package, whose API is benchmarked

BATCH = 32


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_post(port: int, path: str, body: bytes) -> bytes:
    """The exact bytes of one keep-alive HTTP/1.1 POST (built once, sent many times)."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def read_response(readline, read) -> tuple[int, bytes]:
    status = int(readline().split()[1])
    length = 0
    while (line := readline()) not in (b"\r\n", b""):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, read(length)


class Client:
    """A raw keep-alive connection: microseconds of overhead, so the figures are the server's."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")

    def send(self, request: bytes) -> tuple[int, bytes]:
        self.sock.sendall(request)
        return read_response(self.file.readline, self.file.read)

    def close(self):
        self.file.close()
        self.sock.close()


class Server:
    """A server process started on a free loopback port, stopped by its PID."""

    def __init__(self, name: str, command: list[str], port: int, request: bytes):
        self.name, self.port, self.request = name, port, request
        started = time.perf_counter()
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: mlflow serve starts children
            # mlflow serve runs `uvicorn` from PATH: make it this virtualenv's
            env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        )
        self.cold_start_s = self.wait_for_first_answer(started)

    def wait_for_first_answer(self, started: float, timeout: float = 120) -> float:
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"bench: {self.name} exited with {self.process.returncode}")
            try:
                client = Client(self.port)
                status, body = client.send(self.request)
                client.close()
                if status == 200:
                    return time.perf_counter() - started
                raise SystemExit(f"bench: {self.name} answered {status}: {body[:300]!r}")
            except OSError:
                time.sleep(0.02)
        raise SystemExit(f"bench: {self.name} gave no answer within {timeout} s")

    def peak_rss_mb(self) -> float:
        """Peak resident memory (VmHWM) summed over the server's process group."""
        total_kb = 0
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                if os.getpgid(int(status.parent.name)) != self.process.pid:
                    continue
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
            except (OSError, ValueError):
                continue
            total_kb += int(fields.get("VmHWM", "0 kB").split()[0])
        return total_kb / 1024

    def stop(self):
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def sequential_ms(port: int, request: bytes, n: int, warmup: int) -> list[float]:
    client = Client(port)
    timings = []
    for i in range(warmup + n):
        started = time.perf_counter()
        status, body = client.send(request)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            raise SystemExit(f"bench: HTTP {status}: {body[:300]!r}")
        if i >= warmup:
            timings.append(elapsed)
    client.close()
    return timings


def throughput(port: int, request: bytes, concurrency: int, total: int) -> float:
    """Requests per second with `concurrency` keep-alive connections sending `total` requests."""
    sent = itertools.count()  # next() on it is atomic: the threads share one budget

    def worker():
        client = Client(port)
        while next(sent) < total:
            status, body = client.send(request)
            if status != 200:
                raise SystemExit(f"bench: HTTP {status} under load: {body[:300]!r}")
        client.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for done in [pool.submit(worker) for _ in range(concurrency)]:
            done.result()
    return total / (time.perf_counter() - started)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def measure(server: Server, batch_request: bytes, args) -> dict:
    single = sequential_ms(server.port, server.request, args.requests, args.warmup)
    batch = sequential_ms(server.port, batch_request, args.requests // 10, args.warmup // 10)
    figures = {
        "p50 ms": percentile(single, 50),
        "p95 ms": percentile(single, 95),
        "p99 ms": percentile(single, 99),
        f"batch {BATCH} p50 ms": percentile(batch, 50),
    }
    for concurrency in (1, 8, 32):
        rate = throughput(server.port, server.request, concurrency, args.load_requests)
        figures[f"req/s c={concurrency}"] = rate
    figures["cold start s"] = server.cold_start_s
    figures["peak RSS MB"] = server.peak_rss_mb()
    return figures


def targets(contract: dict) -> dict:
    """How to start each server and what one request looks like for it."""
    model_uri = f"models:/{contract['model_name']}/{contract['model_version']}"
    python = sys.executable
    return {
        "api": (
            lambda port: [
                python,
                "-m",
                "uvicorn",
                f"{PACKAGE}.api:app",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--log-level",
                "warning",
            ],
            "/predict",
            lambda rows: {"rows": rows},
        ),
        "mlflow serve": (
            lambda port: [
                python,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                model_uri,
                "--env-manager",
                "local",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            "/invocations",
            lambda rows: {"dataframe_records": rows},
        ),
    }


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="timed single-row requests")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--load-requests", type=int, default=2000, help="requests per load level")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per server")
    parser.add_argument("--api-only", action="store_true", help="skip mlflow models serve")
    args = parser.parse_args(argv)

    contract_path = settings.model_dir / CONTRACT_FILE
    if not contract_path.is_file():
        print(f"bench: no model at {contract_path.resolve()}: run `make train` first.")
        return 1
    contract = json.loads(contract_path.read_text())
    row = {feature["name"]: feature["default"] for feature in contract["features"]}
    os.environ.setdefault("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)

    chosen = targets(contract)
    if args.api_only:
        chosen.pop("mlflow serve")
    results = {name: [] for name in chosen}
    for round_ in range(args.rounds):
        for name, (command, path, body) in chosen.items():
            port = free_port()
            one = http_post(port, path, json.dumps(body([row])).encode())
            many = http_post(port, path, json.dumps(body([row] * BATCH)).encode())
            print(f"bench: round {round_ + 1}/{args.rounds}: {name} ...", flush=True)
            server = Server(name, command(port), port, one)
            try:
                results[name].append(measure(server, many, args))
            finally:
                server.stop()
    print_table(results, contract)
    return 0


def print_table(results: dict, contract: dict) -> None:
    """Medians over the rounds; the last column is how many times better the API is."""
    medians = {
        name: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        for name, runs in results.items()
    }
    names = list(medians)
    rounds = len(results[names[0]])
    print(
        f"\nbench: {contract['model']} on {contract['dataset']}, runtime {contract['runtime']}; "
        f"medians of {rounds} interleaved round(s)"
    )
    compare = len(names) == 2
    print(f"{'':<16}" + "".join(f"{name:>14}" for name in names) + ("  api better by" * compare))
    for key, ours in medians[names[0]].items():
        line = f"{key:<16}" + "".join(f"{medians[name][key]:>14.3f}" for name in names)
        if compare:
            theirs = medians[names[1]][key]
            better = ours / theirs if key.startswith("req/s") else theirs / ours
            line += f"{better:>14.2f}x"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
