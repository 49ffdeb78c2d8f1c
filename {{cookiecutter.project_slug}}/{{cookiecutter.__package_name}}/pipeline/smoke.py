"""Smoke gate: /predict answers right (the trained label, probabilities summing to 1) with p95
latency under ML_MAX_LATENCY_MS, and the UI, in a real browser, shows the model's answer."""

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import Error as BrowserError
from playwright.sync_api import Locator, Page, sync_playwright

from ..settings import get_settings

SCREENSHOT = Path("reports/ui.png")  # the page as the browser last saw it, kept for CI
# What Streamlit draws: an uncaught exception, an st.error, an st.metric's value.
EXCEPTION = '[data-testid="stException"]'
ERROR = '[data-testid="stAlertContentError"]'
METRIC = '[data-testid="stMetricValue"]'


def wait_until_up(client: httpx.Client, what: str, url: str, seconds: float) -> None:
    """Poll url until it answers 200, for at most `seconds`; else fail saying what it answered."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            answer = client.get(url, timeout=2).status_code
            if answer == 200:
                return
        except httpx.HTTPError as exc:
            answer = str(exc) or type(exc).__name__
        if time.monotonic() > deadline:
            raise SystemExit(
                f"smoke: FAILED: the {what} at {url} did not answer 200 within {seconds:g} s "
                f"(last: {answer})"
            )
        time.sleep(0.25)


def served_example(client: httpx.Client, api_url: str) -> dict:
    """The served contract's example: a row of defaults and the label the trained model gives it."""
    contract = client.get(f"{api_url}/model").raise_for_status().json()
    if "example" not in contract:
        raise SystemExit(
            "smoke: FAILED: the served model/contract.json has no example row and label "
            "(written by an older `make train`): train again"
        )
    return contract["example"]


def check_answer(response: httpx.Response, expected: str) -> None:
    """The example row's prediction: the trained model's label, probabilities summing to 1."""
    try:
        [prediction] = response.json()["predictions"]
        label, total = prediction["label"], math.fsum(prediction["probabilities"].values())
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SystemExit(f"smoke: FAILED: /predict answered no prediction: {response.text[:200]}")
    if label != expected:
        raise SystemExit(
            f"smoke: FAILED: /predict labels the example row {label!r}, "
            f"the trained model labels it {expected!r}"
        )
    if not math.isclose(total, 1, abs_tol=1e-4):
        raise SystemExit(f"smoke: FAILED: /predict probabilities sum to {total:.6g}, not 1")


def time_predictions(client: httpx.Client, api_url: str, example: dict, warmup: int, n: int):
    """Milliseconds for each of n sequential /predict calls of the example row, after `warmup`
    untimed ones; every answer is checked (outside the timing)."""
    body = {"rows": [example["row"]]}
    timings = []
    for i in range(warmup + n):
        started = time.perf_counter()
        response = client.post(f"{api_url}/predict", json=body)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(
                f"smoke: FAILED: /predict answered {response.status_code}: {response.text[:200]}"
            )
        check_answer(response, example["label"])
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


def one_line(exc: Exception) -> str:
    """An error's message on one line, without Playwright's call log."""
    return " ".join(str(exc).split("Call log:")[0].split())


class PageProblem(Exception):
    """What the browser saw instead of what the smoke waited for."""


def wait_for(page: Page, wanted: Locator, what: str, seconds: float) -> None:
    """Wait until `wanted` shows, unless an exception or an error shows first."""
    problem = page.locator(EXCEPTION).or_(page.locator(ERROR))
    try:
        wanted.or_(problem).first.wait_for(timeout=seconds * 1000)
    except BrowserError:
        raise PageProblem(f"shows no {what} within {seconds:g} s") from None
    if page.locator(EXCEPTION).count():
        shown = page.locator(EXCEPTION).get_by_test_id("stExceptionMessage").first.inner_text()
        raise PageProblem(f"shows an exception: {shown}")
    if page.locator(ERROR).count():
        raise PageProblem(f"shows an error: {page.locator(ERROR).first.inner_text()}")


def predicted_in_browser(ui_url: str, seconds: float, chromium: str | None) -> str:
    """Open the UI in headless Chromium (`chromium`, else Playwright's own), press Predict on the
    default row and return the class the page shows. reports/ui.png keeps the page."""
    SCREENSHOT.parent.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=chromium or None)
        except BrowserError as exc:
            raise SystemExit(
                f"smoke: FAILED: Chromium does not start ({str(exc).splitlines()[0]}); "
                "`make browser` installs Playwright's, or set CHROMIUM to one"
            ) from None
        page = browser.new_page()
        try:
            page.goto(ui_url, timeout=seconds * 1000)
            wait_for(page, page.get_by_role("button", name="Predict"), "Predict form", seconds)
            page.get_by_role("button", name="Predict").click()
            wait_for(page, page.locator(METRIC), "predicted class", seconds)
            return page.locator(METRIC).first.inner_text()
        except PageProblem as exc:
            raise SystemExit(
                f"smoke: FAILED: the UI at {ui_url} {one_line(exc)} (see {SCREENSHOT})"
            )
        except BrowserError as exc:
            raise SystemExit(f"smoke: FAILED: the browser at {ui_url}: {one_line(exc)}") from None
        finally:
            with contextlib.suppress(BrowserError):
                page.screenshot(path=SCREENSHOT, full_page=True)
            browser.close()


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-url", default=settings.api_url, help="default: ML_API_URL")
    parser.add_argument("--ui-url", default=settings.ui_url, help="default: ML_UI_URL")
    parser.add_argument("--requests", type=int, default=200, help="timed requests (default 200)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for API and UI")
    parser.add_argument("--max-latency-ms", type=float, default=settings.max_latency_ms)
    parser.add_argument(
        "--chromium",
        default=os.environ.get("CHROMIUM"),
        help="the Chromium binary to drive (default: CHROMIUM, else Playwright's own)",
    )
    parser.add_argument("--page-timeout", type=float, default=30, help="seconds per page step")
    args = parser.parse_args(argv)
    api_url, ui_url = args.api_url.rstrip("/"), args.ui_url.rstrip("/")

    with httpx.Client(timeout=10) as client:
        wait_until_up(client, "API", f"{api_url}/ready", args.wait)
        try:
            example = served_example(client, api_url)
            timings = time_predictions(client, api_url, example, args.warmup, args.requests)
        except httpx.HTTPError as exc:
            raise SystemExit(f"smoke: FAILED: the API at {api_url} stopped answering ({exc})")
        figures = summarize(timings)
        wait_until_up(client, "UI", f"{ui_url}/_stcore/health", args.wait)
    started = time.perf_counter()
    shown = predicted_in_browser(ui_url, args.page_timeout, args.chromium)
    browser_s = round(time.perf_counter() - started, 2)
    if shown != example["label"]:
        raise SystemExit(
            f"smoke: FAILED: the UI at {ui_url} shows the class {shown!r} for the default row, "
            f"the trained model {example['label']!r} (see {SCREENSHOT})"
        )

    figures.update(
        max_latency_ms=args.max_latency_ms, ui_health="ok", ui_shows=shown, ui_s=browser_s
    )
    figures["passed"] = figures["p95_ms"] < args.max_latency_ms
    Path("reports").mkdir(exist_ok=True)
    Path("reports/smoke.json").write_text(json.dumps(figures, indent=2))
    print(
        f"smoke: /predict over {figures['requests']} requests: p50 {figures['p50_ms']:.2f} ms, "
        f"p95 {figures['p95_ms']:.2f} ms, max {figures['max_ms']:.2f} ms; every answer "
        f"{example['label']!r} as trained; the UI in Chromium shows {shown!r} ({browser_s:.1f} s)"
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
