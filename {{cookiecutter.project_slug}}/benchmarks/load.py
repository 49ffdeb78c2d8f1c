"""Load test: concurrent /predict clients (locust, headless), bounded in time and count, with a
pass/fail threshold on the error rate and the p95 latency."""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import gevent
from locust.env import Environment

from benchmarks.locustfile import Predict
from {{ cookiecutter.__package_name }}.settings import get_settings

PACKAGE = get_settings.__module__.split(".")[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_api(workers: int, port: int, timeout: float = 120) -> subprocess.Popen:
    """uvicorn with `workers` processes on a loopback port, once it answers /ready."""
    command = [sys.executable, "-m", "uvicorn", f"{PACKAGE}.api:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    process = subprocess.Popen(command, start_new_session=True)  # its group: the workers too
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /ready HTTP/1.0\r\n\r\n")
                if b" 200 " in sock.recv(64):
                    return process
        except OSError:
            pass
        time.sleep(0.2)
    stop(process)
    raise SystemExit(f"load: FAILED: the API did not start on 127.0.0.1:{port} in {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)  # the process group this script started
    process.wait(timeout=30)


def run(url: str, users: int, seconds: float, max_requests: int) -> dict:
    """`users` clients for at most `seconds` or `max_requests` requests, after a 1 s warm-up."""
    env = Environment(user_classes=[Predict], host=url)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(1)
    env.stats.reset_all()
    started = time.monotonic()
    stats = env.stats.get("/predict", "POST")
    while time.monotonic() - started < seconds and stats.num_requests < max_requests:
        gevent.sleep(0.05)
    elapsed = time.monotonic() - started
    runner.quit()
    return {
        "users": users,
        "requests": stats.num_requests,
        "req_per_s": round(stats.num_requests / elapsed, 1),
        "p50_ms": stats.get_response_time_percentile(0.50),
        "p95_ms": stats.get_response_time_percentile(0.95),
        "p99_ms": stats.get_response_time_percentile(0.99),
        "errors": stats.num_failures,
        "error_rate": stats.num_failures / max(stats.num_requests, 1),
    }


def problems(row: dict, max_error_rate: float, max_p95_ms: float) -> list[str]:
    where = f"{row['users']} users" + (f", {row['workers']} workers" if row["workers"] else "")
    found = []
    if row["requests"] == 0:
        found.append(f"no answer at all ({where})")
    if row["error_rate"] > max_error_rate:
        found.append(f"error rate {row['error_rate']:.2%} > {max_error_rate:.2%} ({where})")
    if row["requests"] and row["p95_ms"] >= max_p95_ms:
        found.append(f"p95 {row['p95_ms']} ms is not under {max_p95_ms} ms ({where})")
    return found


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=settings.api_url, help="the API (default: ML_API_URL)")
    workers = "start the API here, on loopback, with each number of uvicorn workers in turn"
    parser.add_argument("--workers", type=int, nargs="*", help=workers)
    parser.add_argument("--users", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=10, help="per level (default 10)")
    parser.add_argument("--max-requests", type=int, default=50_000, help="per level")
    parser.add_argument("--max-error-rate", type=float, default=0.0)
    parser.add_argument("--max-p95-ms", type=float, default=settings.max_latency_ms)
    args = parser.parse_args(argv)

    rows = []
    for workers in args.workers or [None]:
        port = free_port()
        api = start_api(workers, port) if workers else None
        url = f"http://127.0.0.1:{port}" if workers else args.url.rstrip("/")
        try:
            for users in args.users:
                rows.append(run(url, users, args.seconds, args.max_requests) | {"workers": workers})
        finally:
            if api:
                stop(api)

    print(f"load: POST /predict, one row, on {url if not args.workers else 'loopback'}")
    print("| workers | users | requests | req/s | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['workers'] or '-'} | {r['users']} | {r['requests']} | {r['req_per_s']} | "
            f"{r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['errors']} |"
        )
    failures = [p for r in rows for p in problems(r, args.max_error_rate, args.max_p95_ms)]
    Path("reports").mkdir(exist_ok=True)
    verdict = {"runs": rows, "passed": not failures, "failures": failures}
    Path("reports/load.json").write_text(json.dumps(verdict, indent=2))
    for problem in failures:
        print(f"load: FAILED: {problem}")
    if failures:
        return 1
    print(f"load: passed: errors <= {args.max_error_rate:.2%}, p95 under {args.max_p95_ms} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
