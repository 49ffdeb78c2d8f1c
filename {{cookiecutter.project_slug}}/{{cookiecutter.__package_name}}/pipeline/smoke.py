"""Smoke gate: /predict p95 latency under ML_MAX_LATENCY_MS and the UI answering."""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

from ..settings import get_settings


def wait_until_up(client: httpx.Client, url: str, seconds: float) -> None:
    """Poll url until it answers 200, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if client.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"smoke: FAILED: {url} did not answer 200 within {seconds:.0f} s")
        time.sleep(0.25)


def example_body(client: httpx.Client, api_url: str) -> dict:
    """A valid /predict body built from the model's own contract."""
    contract = client.get(f"{api_url}/model").raise_for_status().json()
    return {"rows": [{f["name"]: f["default"] for f in contract["features"]}]}


def time_predictions(client: httpx.Client, api_url: str, body: dict, warmup: int, n: int) -> list:
    """Milliseconds for each of n sequential /predict calls, after `warmup` untimed ones."""
    timings = []
    for i in range(warmup + n):
        started = time.perf_counter()
        response = client.post(f"{api_url}/predict", json=body)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(
                f"smoke: FAILED: /predict answered {response.status_code}: {response.text}"
            )
        if i >= warmup:
            timings.append(elapsed)
    return timings


def summarize(timings: list) -> dict:
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return {
        "requests": len(timings),
        "p50_ms": round(cuts[49], 3),
        "p95_ms": round(cuts[94], 3),
        "max_ms": round(max(timings), 3),
    }


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-url", default=settings.api_url, help="default: ML_API_URL")
    parser.add_argument("--ui-url", default=settings.ui_url, help="default: ML_UI_URL")
    parser.add_argument("--requests", type=int, default=200, help="timed requests (default 200)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for API and UI")
    parser.add_argument("--max-latency-ms", type=float, default=settings.max_latency_ms)
    args = parser.parse_args(argv)
    api_url, ui_url = args.api_url.rstrip("/"), args.ui_url.rstrip("/")

    with httpx.Client(timeout=10) as client:
        wait_until_up(client, f"{api_url}/ready", args.wait)
        body = example_body(client, api_url)
        figures = summarize(time_predictions(client, api_url, body, args.warmup, args.requests))
        wait_until_up(client, f"{ui_url}/_stcore/health", args.wait)

    figures.update(max_latency_ms=args.max_latency_ms, ui_health="ok")
    figures["passed"] = figures["p95_ms"] < args.max_latency_ms
    Path("reports").mkdir(exist_ok=True)
    Path("reports/smoke.json").write_text(json.dumps(figures, indent=2))
    print(
        f"smoke: /predict over {figures['requests']} requests: p50 {figures['p50_ms']:.2f} ms, "
        f"p95 {figures['p95_ms']:.2f} ms, max {figures['max_ms']:.2f} ms; UI health ok"
    )
    if not figures["passed"]:
        print(
            f"smoke: FAILED: p95 {figures['p95_ms']:.2f} ms is not under {args.max_latency_ms} ms"
        )
        return 1
    print(f"smoke: passed: p95 under {args.max_latency_ms:g} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
