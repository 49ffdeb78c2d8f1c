"""Review figures: the Markdown, the default branch's record, and one comment per pull or merge
request, posted to a stand-in of the GitHub and GitLab APIs (no network)."""

import json

import httpx
import pytest

from {{ cookiecutter.__package_name }}.pipeline import review

GATE = {
    "f1": 0.9861,
    "f1_average": "binary",
    "min_f1": 0.9,
    "parity_max_diff": 1.2e-07,
    "runtime": "onnx",
    "passed": True,
    "failures": [],
}
SMOKE = {"requests": 200, "p50_ms": 2.1, "p95_ms": 3.4, "max_latency_ms": 200.0, "passed": True}
REPOSITORY = "team/service"


def write_reports(tmp_path, gate=GATE, smoke=SMOKE):
    (tmp_path / "reports").mkdir(exist_ok=True)
    (tmp_path / "reports" / "gate.json").write_text(json.dumps(gate))
    (tmp_path / "reports" / "smoke.json").write_text(json.dumps(smoke))


class GitHubStandIn:
    """The three calls of GitHub's REST API the posting makes, answered as GitHub answers them,
    on an in-memory list of issue comments; every request is recorded."""

    def __init__(self, comments=()):
        self.comments = [dict(c) for c in comments]
        self.requests = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        assert request.headers["authorization"] == "Bearer write-token"
        path = request.url.path
        if path == f"/repos/{REPOSITORY}/issues/7/comments" and request.method == "GET":
            page, size = int(request.url.params["page"]), int(request.url.params["per_page"])
            return httpx.Response(200, json=self.comments[(page - 1) * size : page * size])
        if path == f"/repos/{REPOSITORY}/issues/7/comments" and request.method == "POST":
            comment = {"id": 1000 + len(self.comments), "body": json.loads(request.content)["body"]}
            self.comments.append(comment)
            return httpx.Response(201, json=comment)
        if path.startswith(f"/repos/{REPOSITORY}/issues/comments/") and request.method == "PATCH":
            [comment] = [c for c in self.comments if str(c["id"]) == path.rsplit("/", 1)[1]]
            comment["body"] = json.loads(request.content)["body"]
            return httpx.Response(200, json=comment)
        return httpx.Response(404, json={"message": "Not Found"})


def github_env(tmp_path, head=REPOSITORY, fork=False) -> dict:
    event = {
        "pull_request": {
            "number": 7,
            "head": {"repo": {"full_name": head, "fork": fork} if head else None},
            "base": {"repo": {"full_name": REPOSITORY}},
        },
        "repository": {"full_name": REPOSITORY, "default_branch": "main"},
    }
    (tmp_path / "event.json").write_text(json.dumps(event))
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_SHA": "a" * 40,
        "GITHUB_API_URL": "https://api.github.test",
        "GITHUB_TOKEN": "write-token",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }


def test_says_when_the_default_branch_has_no_recorded_values_yet(tmp_path, capsys):
    write_reports(tmp_path)
    assert review.main([], env={}) == 0
    text = (tmp_path / "reports" / "review.md").read_text()
    assert "has no recorded values yet" in text
    assert "| held-out F1 (binary) | 0.9861 | — |" in text
    assert "| /predict p95 | 3.40 ms | — |" in text
    assert "### Review figures: passed" in capsys.readouterr().out


def test_shows_the_recorded_default_branch_figures_and_the_change(tmp_path):
    write_reports(tmp_path, gate=GATE | {"f1": 0.97}, smoke=SMOKE | {"p95_ms": 3.0})
    assert review.main(["--record"], env={"CI_COMMIT_SHA": "b" * 40}) == 0
    write_reports(tmp_path)
    assert review.main([], env={}) == 0
    text = (tmp_path / "reports" / "review.md").read_text()
    assert "| held-out F1 (binary) | 0.9861 | 0.9700 | +0.0161 |" in text
    assert "| /predict p95 | 3.40 ms | 3.00 ms | +0.40 ms |" in text
    assert f"commit `{'b' * 12}`" in text


def test_shows_each_failed_gate_and_what_was_not_measured(tmp_path):
    failure = "the API disagrees with the trained model on the held-out set (...)"
    gate = GATE | {"f1": 0.5, "passed": False, "failures": ["F1 0.5000 ...", failure]}
    write_reports(tmp_path, gate=gate)
    (tmp_path / "reports" / "smoke.json").unlink()
    assert review.main([], env={}) == 0
    text = (tmp_path / "reports" / "review.md").read_text()
    assert "### Review figures: FAILED" in text
    assert text.count("**FAILED**") == 2
    assert "| /predict p95 | not measured |" in text


def test_recording_without_a_gate_report_fails_and_says_why(tmp_path, capsys):
    assert review.main(["--record"], env={}) == 1
    assert "run `make gate` first" in capsys.readouterr().out
    assert not (tmp_path / "reports" / "baseline.json").exists()


def test_creates_one_comment_then_updates_it_never_a_second(tmp_path, capsys):
    someone = {"id": 1, "body": "Looks good to me"}
    github = GitHubStandIn(comments=[someone])
    env = github_env(tmp_path)
    write_reports(tmp_path)
    assert review.main([], env=env, transport=httpx.MockTransport(github)) == 0
    assert "commented on pull request #7" in capsys.readouterr().out
    [ours] = [c for c in github.comments if review.MARKER in c["body"]]
    assert "0.9861" in ours["body"]

    write_reports(tmp_path, gate=GATE | {"f1": 0.9512})
    assert review.main([], env=env, transport=httpx.MockTransport(github)) == 0
    assert f"updated the comment {ours['id']}" in capsys.readouterr().out
    assert len(github.comments) == 2  # someone's and ours
    assert github.comments[0] == someone
    [ours] = [c for c in github.comments if review.MARKER in c["body"]]
    assert "0.9512" in ours["body"] and "0.9861" not in ours["body"]
    methods = [method for method, _ in github.requests]
    assert methods == ["GET", "POST", "GET", "PATCH"]
    assert (tmp_path / "summary.md").read_text().count("### Review figures") == 2


def test_finds_its_comment_on_a_later_page(tmp_path):
    chatter = [{"id": i, "body": f"comment {i}"} for i in range(150)]
    github = GitHubStandIn(comments=[*chatter, {"id": 999, "body": f"{review.MARKER}\nold"}])
    write_reports(tmp_path)
    review.main([], env=github_env(tmp_path), transport=httpx.MockTransport(github))
    assert len(github.comments) == 151
    assert "0.9861" in github.comments[-1]["body"]


@pytest.mark.parametrize("head", ["someone/service", None], ids=["fork", "deleted-fork"])
def test_a_pull_request_from_a_fork_gets_nothing_posted(tmp_path, capsys, head):
    def refuse(request):
        raise AssertionError(f"a request was made for a fork's pull request: {request.url}")

    env = github_env(tmp_path, head=head, fork=True)
    write_reports(tmp_path)
    assert review.main([], env=env, transport=httpx.MockTransport(refuse)) == 0
    out = capsys.readouterr().out
    assert "comes from the fork" in out
    assert "nothing posted with a write token" in out
    assert "### Review figures" in (tmp_path / "summary.md").read_text()


def test_a_push_without_a_pull_request_posts_nothing(tmp_path, capsys):
    env = github_env(tmp_path)
    (tmp_path / "event.json").write_text(json.dumps({"ref": "refs/heads/main"}))
    write_reports(tmp_path)
    assert review.main([], env=env, transport=httpx.MockTransport(GitHubStandIn())) == 0
    assert "not a pull request: nothing posted" in capsys.readouterr().out


def test_a_refused_token_fails_in_one_line(tmp_path, capsys):
    def forbidden(request):
        return httpx.Response(403, json={"message": "Resource not accessible by integration"})

    write_reports(tmp_path)
    assert review.main([], env=github_env(tmp_path), transport=httpx.MockTransport(forbidden)) == 1
    assert "review: FAILED to post the figures: Client error '403 Forbidden'" in (
        capsys.readouterr().out
    )


def gitlab_env(source="42") -> dict:
    return {
        "GITLAB_CI": "true",
        "CI_API_V4_URL": "https://gitlab.test/api/v4",
        "CI_MERGE_REQUEST_IID": "3",
        "CI_MERGE_REQUEST_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": source,
        "CI_DEFAULT_BRANCH": "main",
        "GITLAB_REVIEW_TOKEN": "project-token",
    }


def test_gitlab_creates_one_note_then_updates_it(tmp_path, capsys):
    notes, calls = [], []

    def gitlab(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        assert request.headers["private-token"] == "project-token"
        assert request.url.path.startswith("/api/v4/projects/42/merge_requests/3/notes")
        if request.method == "GET":
            return httpx.Response(200, json=notes)
        if request.method == "POST":
            notes.append({"id": 77, "body": json.loads(request.content)["body"]})
            return httpx.Response(201, json=notes[-1])
        assert request.method == "PUT" and request.url.path.endswith("/notes/77")
        notes[0]["body"] = json.loads(request.content)["body"]
        return httpx.Response(200, json=notes[0])

    write_reports(tmp_path)
    assert review.main([], env=gitlab_env(), transport=httpx.MockTransport(gitlab)) == 0
    write_reports(tmp_path, gate=GATE | {"f1": 0.9512})
    assert review.main([], env=gitlab_env(), transport=httpx.MockTransport(gitlab)) == 0
    assert calls == ["GET", "POST", "GET", "PUT"]
    assert len(notes) == 1 and "0.9512" in notes[0]["body"]
    assert "updated the note 77 on merge request !3" in capsys.readouterr().out


def test_gitlab_posts_nothing_for_a_fork_or_without_a_token(tmp_path, capsys):
    def refuse(request):
        raise AssertionError(f"a request was made: {request.url}")

    write_reports(tmp_path)
    review.main([], env=gitlab_env(source="99"), transport=httpx.MockTransport(refuse))
    assert "comes from a fork: nothing posted" in capsys.readouterr().out
    no_token = gitlab_env() | {"GITLAB_REVIEW_TOKEN": ""}
    review.main([], env=no_token, transport=httpx.MockTransport(refuse))
    assert "no GITLAB_REVIEW_TOKEN: nothing posted" in capsys.readouterr().out
