"""Review figures: this change's F1, parity and /predict latency next to the default branch's."""

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import httpx

from ..settings import get_settings

# The hidden line that finds our comment again: one comment per pull request, updated in place.
MARKER = "<!-- review-figures -->"
REPORTS = Path("reports")
PAGES = 20  # comments are read 100 per page: at most this many pages


def read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def commit(env) -> str:
    return env.get("GITHUB_SHA") or env.get("CI_COMMIT_SHA") or env.get("CIRCLE_SHA1") or "local"


def figures(env) -> dict:
    """This commit's figures, from reports/gate.json (`make gate`) and reports/smoke.json
    (`make smoke-local`); a step that did not run leaves its figures out."""
    gate, smoke = read(REPORTS / "gate.json"), read(REPORTS / "smoke.json")
    settings = get_settings()
    found = {
        "commit": commit(env),
        "recorded_at": datetime.now(timezone.utc).isoformat(" ")[:16],
        "min_f1": settings.min_f1,
        "max_parity_diff": settings.max_parity_diff,
        "max_latency_ms": settings.max_latency_ms,
    }
    if gate:
        failures = gate.get("failures", [])
        found.update(
            f1=gate["f1"],
            f1_average=gate["f1_average"],
            min_f1=gate["min_f1"],
            f1_passed=gate["f1"] > gate["min_f1"],
            parity_max_diff=gate["parity_max_diff"],
            parity_passed=not any("disagree" in failure for failure in failures),
        )
    if smoke:
        found.update(
            p50_ms=smoke["p50_ms"],
            p95_ms=smoke["p95_ms"],
            max_latency_ms=smoke["max_latency_ms"],
            latency_passed=smoke["passed"],
        )
    return found


def default_branch(env) -> str:
    event = read(Path(env.get("GITHUB_EVENT_PATH") or "/nonexistent"))
    repository = event.get("repository") or {}
    return repository.get("default_branch") or env.get("CI_DEFAULT_BRANCH") or "default branch"


def on_default_branch(env) -> bool:
    """A push to the default branch: its figures become the record later changes compare with."""
    if env.get("GITHUB_EVENT_NAME") == "push":
        return env.get("GITHUB_REF_NAME") == default_branch(env)
    branch = env.get("CI_COMMIT_BRANCH")
    return bool(branch) and branch == env.get("CI_DEFAULT_BRANCH")


def verdict(passed) -> str:
    return "not measured" if passed is None else ("passed" if passed else "**FAILED**")


def render(now: dict, before: dict, branch: str) -> str:
    """The Markdown of the comment, the job summary and reports/review.md."""

    def row(label, key, unit, text, gate, passed_key, change="{:+.2f}"):
        value, old = now.get(key), before.get(key)
        shown = "not measured" if value is None else text(value) + unit
        recorded = "—" if old is None else text(old) + unit
        delta = change.format(value - old) + unit if change and None not in (value, old) else ""
        judged = verdict(now.get(passed_key)) if passed_key else ""
        return f"| {label} | {shown} | {recorded} | {delta} | {gate} | {judged} |"

    verdicts = [now.get(k) for k in ("f1_passed", "parity_passed", "latency_passed")]
    status = "FAILED" if False in verdicts else ("incomplete" if None in verdicts else "passed")
    average = now.get("f1_average") or before.get("f1_average")
    f1 = f"held-out F1 ({average})" if average else "held-out F1"
    lines = [
        MARKER,
        f"### Review figures: {status}",
        f"Commit `{now['commit'][:12]}` next to `{branch}`'s last recorded figures.",
        "",
        f"| figure | this change | `{branch}` | change | gate | verdict |",
        "|---|---|---|---|---|---|",
        row(
            f1,
            "f1",
            "",
            "{:.4f}".format,
            f"above {now['min_f1']} (ML_MIN_F1)",
            "f1_passed",
            change="{:+.4f}",
        ),
        row(
            "parity: max probability difference, served vs trained",
            "parity_max_diff",
            "",
            "{:.1e}".format,
            f"at most {now['max_parity_diff']:.0e} (ML_MAX_PARITY_DIFF), same labels",
            "parity_passed",
            change=None,
        ),
        row("/predict p50", "p50_ms", " ms", "{:.2f}".format, "", None),
        row(
            "/predict p95",
            "p95_ms",
            " ms",
            "{:.2f}".format,
            f"under {now['max_latency_ms']:g} ms (ML_MAX_LATENCY_MS)",
            "latency_passed",
        ),
        "",
    ]
    if before:
        lines.append(f"`{branch}`: commit `{before['commit'][:12]}`, {before['recorded_at']} UTC.")
    else:
        lines.append(
            f"`{branch}` has no recorded values yet: its pipeline records them with "
            "`make review-record` after its gate and smoke."
        )
    return "\n".join(lines) + "\n"


def find_ours(client: httpx.Client, url: str) -> dict | None:
    """Our earlier comment (or note) on this pull (merge) request, by its marker."""
    for page in range(1, PAGES + 1):
        batch = client.get(url, params={"per_page": 100, "page": page}).raise_for_status().json()
        for comment in batch:
            if MARKER in (comment.get("body") or ""):
                return comment
        if len(batch) < 100:
            return None
    return None


def post_github(body: str, env, transport=None) -> str:
    event = read(Path(env.get("GITHUB_EVENT_PATH") or "/nonexistent"))
    pull = event.get("pull_request")
    if not pull:
        return "review: not a pull request: nothing posted (the figures are in the job summary)"
    repository = env["GITHUB_REPOSITORY"]
    head = (pull.get("head") or {}).get("repo") or {}
    # A fork's code must not run next to a write token: say so and post nothing. The head repo is
    # compared by name (head.repo.fork alone: in a repository that is itself a fork, every pull
    # request's head repo is a fork).
    if not head or head.get("full_name") != repository:
        return (
            f"review: the pull request comes from the fork {head.get('full_name') or '(deleted)'}: "
            "nothing posted with a write token; the figures are in the job summary"
        )
    token = env.get("GITHUB_TOKEN")
    if not token:
        return "review: no GITHUB_TOKEN: nothing posted (the figures are in the job summary)"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
    api = env.get("GITHUB_API_URL", "https://api.github.com")
    with httpx.Client(base_url=api, headers=headers, transport=transport, timeout=30) as client:
        comments = f"/repos/{repository}/issues/{pull['number']}/comments"
        ours = find_ours(client, comments)
        if ours:
            url = f"/repos/{repository}/issues/comments/{ours['id']}"
            client.patch(url, json={"body": body}).raise_for_status()
            return f"review: updated the comment {ours['id']} on pull request #{pull['number']}"
        created = client.post(comments, json={"body": body}).raise_for_status().json()
        return f"review: commented on pull request #{pull['number']} (comment {created['id']})"


def post_gitlab(body: str, env, transport=None) -> str:
    request = env.get("CI_MERGE_REQUEST_IID")
    if not request:
        return "review: not a merge request pipeline: nothing posted (reports/review.md)"
    if env.get("CI_MERGE_REQUEST_SOURCE_PROJECT_ID") != env.get("CI_MERGE_REQUEST_PROJECT_ID"):
        return "review: the merge request comes from a fork: nothing posted with a write token"
    token = env.get("GITLAB_REVIEW_TOKEN")
    if not token:
        return "review: no GITLAB_REVIEW_TOKEN: nothing posted (the figures: reports/review.md)"
    project = env["CI_MERGE_REQUEST_PROJECT_ID"]
    headers = {"PRIVATE-TOKEN": token}
    with httpx.Client(
        base_url=env["CI_API_V4_URL"], headers=headers, transport=transport, timeout=30
    ) as client:
        notes = f"/projects/{project}/merge_requests/{request}/notes"
        ours = find_ours(client, notes)
        if ours:
            client.put(f"{notes}/{ours['id']}", json={"body": body}).raise_for_status()
            return f"review: updated the note {ours['id']} on merge request !{request}"
        created = client.post(notes, json={"body": body}).raise_for_status().json()
        return f"review: noted on merge request !{request} (note {created['id']})"


def post(body: str, env, transport=None) -> str:
    """One comment per pull/merge request, created once and updated after; a line saying what."""
    if env.get("GITHUB_ACTIONS") == "true":
        return post_github(body, env, transport)
    if env.get("GITLAB_CI") == "true":
        return post_gitlab(body, env, transport)
    return "review: nothing to post here (reports/review.md; CircleCI keeps it as an artifact)"


def main(argv: list[str] | None = None, env=None, transport=None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, default=REPORTS / "baseline.json")
    parser.add_argument(
        "--record", action="store_true", help="default branch: record this commit's figures"
    )
    args = parser.parse_args(argv)
    now = figures(env)
    if args.record or on_default_branch(env):
        if "f1" not in now:
            print("review: nothing to record: no reports/gate.json (run `make gate` first)")
            return 1
        args.baseline.parent.mkdir(parents=True, exist_ok=True)
        args.baseline.write_text(json.dumps(now, indent=2))
        print(f"review: recorded commit {now['commit'][:12]}'s figures in {args.baseline}")
        return 0
    body = render(now, read(args.baseline), default_branch(env))
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "review.md").write_text(body)
    (REPORTS / "review.json").write_text(json.dumps(now, indent=2))
    print(body)
    if env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a") as summary:
            summary.write(body)
    try:
        print(post(body, env, transport))
    except httpx.HTTPError as exc:
        print(f"review: FAILED to post the figures: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
