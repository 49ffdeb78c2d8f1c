"""Hostile template answers: each one bakes a project that parses and lints clean, or is refused.

The free-text answers (project_name, description, author_name, author_email) land in Python
strings, TOML strings, comments of YAML files and Makefiles, the README and the LICENSE. Each case
below feeds one hostile string into project_name, description and author_name at once (quotes,
backslashes, `{{`/`{%`, `${{ }}`, YAML/TOML/Make/shell specials, very long, non-ASCII, emoji,
invisible characters) and is either

- BAKED: every *.toml, *.yml/*.yaml and *.json of the bake parses, `black --check` and `flake8`
  pass (one call each for all bakes), `make help` reads the Makefile, and the text reads back
  unchanged from pyproject.toml (description) and settings.py (PROJECT_NAME); or
- REFUSED: the pre-gen hook prints one `ERROR: <answer> ...` line and nothing is written.

Anything else is BROKEN, and the test fails if there is one, or if a case lands on the other side
than expected. The values are wrapped in `{% raw %}`: that is what a typed answer is (cookiecutter
renders only its defaults and --no-input/extra_context values as Jinja, never typed text). Figures:
printed and written to build/hostile-answers.json.
"""

import ast
import json
import tomllib
from pathlib import Path

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from conftest import PROJECT_VENV, TEMPLATE, run

BAKE, REFUSE = "baked clean", "refused"
# (label, text, expected): the text goes into project_name, description and author_name.
TEXTS = [
    ("double quotes", 'The "best" model, """triple""" too', BAKE),
    ("single quotes", "O'Brien's model, '''triple''' too", BAKE),
    ("backslashes", r"C:\new\table \u0041 \x41 \N{DASH} \\ \"", BAKE),
    ("trailing backslash", "ends with a backslash \\", BAKE),
    ("jinja expression", "{{ cookiecutter.project_slug }} {{ 7 * 7 }} {{", BAKE),
    ("jinja statement", "{% if True %}x{% endif %} {# comment #} {%", BAKE),
    ("actions expression", "${{ secrets.GITHUB_TOKEN }} ${{ github.event.issue.title }}", BAKE),
    ("yaml specials", "- item: &a *a !!python/object ? | > % @ ` #not a comment", BAKE),
    ("yaml flow", "{a: b} [c, d] --- ... : ", BAKE),
    ("toml specials", "[tool.x] key = 'v' # = [[a]] \"\"\" ''' \\", BAKE),
    ("make specials", "$(shell false) $$HOME ${PATH} ; \\ % := ?=", BAKE),
    ("shell", "`id` $(id) && echo pwned; rm -rf ~ | cat > /tmp/x", BAKE),
    ("html", "<script>alert('x')</script> &amp; & < >", BAKE),
    ("percent and braces", "%s %(name)s {0} {name} %% {{}}", BAKE),
    ("non-ascii", "Ünïcödé Prøject — café 中文 日本語 العربية עברית", BAKE),
    ("emoji", "🚀 Rocket 🐧 model 👩‍🔬 𝔘𝔫𝔦", BAKE),
    ("invisible", "zero\u200bwidth\ufeffbom\u00a0nbsp\u202eright-to-left", BAKE),
    ("very long", "A long line of text, " * 23, BAKE),  # 483 characters
    ("newline", "first line\nsecond line", REFUSE),
    ("carriage return", "first\rsecond", REFUSE),
    ("tab", "a\ttab", REFUSE),
    ("NUL", "a\x00b", REFUSE),
    ("escape sequence", "\x1b[31mred\x1b[0m", REFUSE),
    ("DEL", "a\x7fb", REFUSE),
    ("YAML line break NEL", "a\x85b", REFUSE),
    ("unicode line separator", "a\u2028b", REFUSE),
    ("unicode paragraph separator", "a\u2029b", REFUSE),
    ("too long", "x" * 501, REFUSE),
    ("blank", "   ", REFUSE),
]
# (label, answers, expected): the slug derived from project_name, and the email.
OTHERS = [
    ("slug from non-ASCII name", {"project_name": "Ünïcödé Prøject 中文"}, BAKE),
    ("slug from a name with quotes", {"project_name": 'It\'s "quoted" {{x}}'}, BAKE),
    ("slug from emoji only", {"project_name": "🚀 🐧"}, REFUSE),
    ("slug from a long name", {"project_name": "word " * 20}, REFUSE),
    ("slug from a leading digit", {"project_name": "42 answers"}, REFUSE),
    ("odd but valid email", {"author_email": "o'brien+ml.team@sub.example.co.uk"}, BAKE),
    ("email with quotes", {"author_email": 'x"y@example.com'}, REFUSE),
    ("email with a header", {"author_email": "jane@example.com\nBcc: x@example.com"}, REFUSE),
    ("email in brackets", {"author_email": "<jane@example.com>"}, REFUSE),
    ("email without domain", {"author_email": "jane@localhost"}, REFUSE),
    ("not an email", {"author_email": "jane doe"}, REFUSE),
]
FREE_TEXT = ("project_name", "description", "author_name", "author_email")


class AnyTagLoader(yaml.SafeLoader):
    """SafeLoader that reads custom tags (GitLab's !reference) as plain data."""


AnyTagLoader.add_multi_constructor(
    "!", lambda loader, suffix, node: loader.construct_sequence(node)
    if isinstance(node, yaml.SequenceNode) else None,
)  # fmt: skip


def cases():
    for index, (label, text, expected) in enumerate(TEXTS):
        answers = {"project_name": text, "description": text, "author_name": text}
        answers["project_slug"] = f"hostile_{index}"
        yield label, answers, expected
    yield from OTHERS


def as_typed(answers: dict) -> dict:
    """Free text as typed: cookiecutter renders --no-input values as Jinja, typed ones not."""
    return {k: f"{{% raw %}}{v}{{% endraw %}}" if k in FREE_TEXT else v for k, v in answers.items()}


def text_files(package: str) -> list:
    """The generated Python files whose template writes a free-text answer into them."""
    source = TEMPLATE / "{{cookiecutter.project_slug}}"
    return [
        str(path.relative_to(source)).replace("{{cookiecutter.__package_name}}", package)
        for path in sorted(source.rglob("*.py"))
        if any(f"cookiecutter.{name}" in path.read_text() for name in FREE_TEXT)
    ]


def parse_errors(project: Path) -> list:
    problems = []
    for path in sorted(project.rglob("*")):
        if ".git" in path.parts or not path.is_file():
            continue
        try:
            if path.suffix == ".toml":
                tomllib.loads(path.read_text(encoding="utf-8"))
            elif path.suffix in (".yml", ".yaml"):
                list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=AnyTagLoader))
            elif path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
        except Exception as exc:  # any parser's error is a broken bake
            problems.append(f"{path.relative_to(project)}: {type(exc).__name__}: {exc}"[:300])
    return problems


def read_back(project: Path, answers: dict) -> list:
    """The text as written: TOML's description/author and settings.py's PROJECT_NAME."""
    problems = []
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    expected = {k: answers.get(k) for k in FREE_TEXT}
    if expected["description"] is not None and meta["description"] != expected["description"]:
        problems.append(f"pyproject description reads {meta['description']!r}")
    author = meta["authors"][0]
    for key, field in (("author_name", "name"), ("author_email", "email")):
        if expected[key] is not None and author[field] != expected[key]:
            problems.append(f"pyproject author {field} reads {author[field]!r}")
    settings = project / project.name / "settings.py"
    tree = ast.parse(settings.read_text(encoding="utf-8"))
    names = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PROJECT_NAME"
    ]
    if expected["project_name"] is not None and names != [expected["project_name"]]:
        problems.append(f"settings.PROJECT_NAME reads {names!r}")
    return problems


@pytest.mark.baked
@pytest.mark.timeout(900)
def test_hostile_answers_bake_clean_or_are_refused(tmp_path, capfd):
    outcomes, baked, broken = {}, {}, {}
    for label, answers, expected in cases():
        out = tmp_path / f"case{len(outcomes)}"
        out.mkdir()
        capfd.readouterr()
        try:
            project = Path(
                cookiecutter(
                    str(TEMPLATE), no_input=True, output_dir=out, extra_context=as_typed(answers)
                )
            )
        except FailedHookException:
            stderr = capfd.readouterr().err
            errors = [line for line in stderr.splitlines() if line.startswith("ERROR: ")]
            fields = set(answers) | {"project_slug"}
            if list(out.iterdir()):
                broken[label] = f"refused but wrote {[p.name for p in out.iterdir()]}"
            elif not errors or not any(e.split()[1] in fields for e in errors):
                broken[label] = f"refused without a line naming the answer: {stderr[-400:]!r}"
            outcomes[label] = REFUSE
            continue
        except Exception as exc:  # cookiecutter itself failed: neither baked nor refused
            broken[label] = f"{type(exc).__name__}: {exc}"[:300]
            outcomes[label] = "broken"
            continue
        outcomes[label] = BAKE
        baked[label] = project
        problems = parse_errors(project)
        try:
            problems += read_back(project, answers)
        except Exception as exc:  # pyproject.toml or settings.py does not even parse
            problems.append(f"read back: {type(exc).__name__}: {exc}"[:300])
        help_text = run(["make", "--no-print-directory", "help"], cwd=project, check=False)
        if help_text.returncode != 0 or "lint" not in help_text.stdout:
            problems.append(f"make help: {help_text.stderr[-300:]}")
        if problems:
            broken[label] = problems

    # Lint the Python files the answers are written into, in every bake, in one call per linter
    # with the projects' own settings (identical in all bakes; the rest of a bake does not depend
    # on these answers and `make lint` of a default bake is tested in test_baked).
    first = next(iter(baked.values()))
    dirs = [str(p / f) for p in baked.values() for f in text_files(p.name)]
    lint = {
        "black": [str(PROJECT_VENV / "bin" / "black"), "--check", "--config",
                  str(first / "pyproject.toml"), *dirs],
        "flake8": [str(PROJECT_VENV / "bin" / "flake8"), "--config", str(first / ".flake8"), *dirs],
    }  # fmt: skip
    for linter, command in lint.items():
        result = run(command, cwd=tmp_path, check=False)
        for line in (result.stdout + result.stderr).splitlines():
            for label, path in baked.items():
                if str(path) in line:
                    broken.setdefault(label, []).append(f"{linter}: {line[-200:]}")
        assert result.returncode == 0 or broken, f"{linter} failed: {result.stderr[-500:]}"

    wrong_side = {
        label: f"expected {expected}, got {outcomes[label]}"
        for label, _, expected in cases()
        if outcomes[label] != expected and label not in broken
    }
    figures = {
        "tried": len(outcomes),
        "baked_clean": sum(o == BAKE for o in outcomes.values()) - len(set(broken) & set(baked)),
        "refused": sum(o == REFUSE for o in outcomes.values()),
        "broken": len(broken),
        "fields_per_case": "project_name, description, author_name (or the one answer named)",
    }
    (TEMPLATE / "build").mkdir(exist_ok=True)
    (TEMPLATE / "build" / "hostile-answers.json").write_text(
        json.dumps({**figures, "outcomes": outcomes, "broken": broken}, indent=2)
    )
    with capfd.disabled():
        print(f"\nhostile answers: {json.dumps(figures)}")
    assert not broken, json.dumps(broken, indent=2, ensure_ascii=False)
    assert not wrong_side, wrong_side
