"""TEACHING.md cannot rot: every exercise is replayed on a baked project. Its `diff` blocks are
applied with `git apply`, one branch each, and merged; every `$ make ...` of its `console` block is
run, and each line the guide shows under a command must begin a line of that command's output, in
order (timings in ms or s and loopback ports excepted); a command showing FAILED must fail, any
other must pass. One bake, trained once per worker; each exercise works on its own copy."""

import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import TEMPLATE, free_port, make, require_tool, run

GUIDE = "TEACHING.md"
SOURCE = TEMPLATE / "{{cookiecutter.project_slug}}" / GUIDE
HEADING = re.compile(r"^### Exercise (\d+): (.+)$", re.M)
BLOCK = re.compile(r"^```(diff|console)\n(.*?)^```$", re.S | re.M)
GIT = ["git", "-c", "user.name=Teacher", "-c", "user.email=teacher@example.com",
       "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]  # fmt: skip


@dataclass
class Command:
    argv: list[str]  # VAR=value ... make TARGET ...
    expected: list[str] = field(default_factory=list)

    @property
    def must_fail(self) -> bool:
        return any("FAILED" in line for line in self.expected)


@dataclass
class Exercise:
    number: int
    title: str
    diffs: list[str]
    commands: list[Command]


def parse(text: str) -> dict[int, Exercise]:
    """The exercises of the guide: each heading's diff blocks and console commands."""
    headings = list(HEADING.finditer(text))
    exercises = {}
    for heading, following in zip(headings, headings[1:] + [None]):
        end = following.start() if following else text.find("\n## ", heading.end())
        body = text[heading.end() : end if end != -1 else len(text)]
        diffs, commands = [], []
        for kind, content in BLOCK.findall(body):
            if kind == "diff":
                diffs.append(content)
                continue
            for line in content.splitlines():
                if line.startswith("$ "):
                    commands.append(Command(shlex.split(line[2:])))
                elif line.strip() and line.strip() != "...":
                    assert commands, f"exercise {heading[1]}: output before any `$ ` command"
                    commands[-1].expected.append(line.rstrip())
        exercises[int(heading[1])] = Exercise(int(heading[1]), heading[2], diffs, commands)
    return exercises


def line_pattern(line: str) -> re.Pattern:
    """An expected line as a pattern for the start of an output line; timings (12.34 ms, 4.5 s)
    and loopback ports (the test picks free ones) free."""
    escaped = re.escape(line)
    timings = re.sub(r"\d+(?:\\\.\d+)?(?=\\?\ m?s\b)", r"[0-9.]+", escaped)
    return re.compile(re.sub(r"(?<=127\\\.0\\\.0\\\.1:)\d+", r"\\d+", timings))


def assert_shows(command: Command, output: str) -> None:
    """Each expected line begins a line of the output, in the guide's order."""
    lines = [line.rstrip() for line in output.splitlines()]
    position = 0
    for expected in command.expected:
        wanted = line_pattern(expected)
        found = next((i for i in range(position, len(lines)) if wanted.match(lines[i])), None)
        assert found is not None, (
            f"`{shlex.join(command.argv)}` no longer prints, after line {position}:\n"
            f"  {expected}\n"
            f"--- its output (update {GUIDE} from it):\n" + "\n".join(lines[-60:])
        )
        position = found + 1


def exercise_numbers() -> list[int]:
    return [int(number) for number, _ in HEADING.findall(SOURCE.read_text())]


@pytest.fixture(scope="module")
def trained(bake_session) -> Path:
    """The default bake with model/ from `make train` (the smoke exercises serve it)."""
    project = bake_session()
    if not (project / "model" / "contract.json").is_file():
        make(project, "train")
    return project


def test_the_guide_has_five_exercises_each_with_a_change_and_a_command(bake_session):
    exercises = parse((bake_session() / GUIDE).read_text())
    assert sorted(exercises) == [1, 2, 3, 4, 5], "the issue asks for these five"
    for exercise in exercises.values():
        assert exercise.diffs, f"exercise {exercise.number} shows no change"
        assert exercise.commands, f"exercise {exercise.number} runs nothing"
        for command in exercise.commands:
            assert "make" in command.argv, command.argv
        failing = [command for command in exercise.commands if command.must_fail]
        assert bool(failing) == (exercise.number != 4), "only exercise 4 passes to the end"
    assert len(exercises[4].diffs) == 3, "exercise 4: one branch per owner"


def test_every_make_target_the_guide_names_exists(bake_session):
    project = bake_session()
    targets = set(re.findall(r"^  (?:\x1b\[36m)?([\w-]+)", make(project, "help").stdout, re.M))
    named = set(re.findall(r"`make ([a-z][\w-]*)", (project / GUIDE).read_text()))
    named |= {t for line in re.findall(r"^\$ (.*)$", (project / GUIDE).read_text(), re.M)
              for t in shlex.split(line)[1:] if "=" not in t}  # fmt: skip
    assert named and named <= targets, f"not in `make help`: {sorted(named - targets)}"


@pytest.mark.slow
@pytest.mark.parametrize("number", exercise_numbers(), ids=lambda n: f"exercise-{n}")
def test_exercise_replays_as_the_guide_says(trained, tmp_path, number):
    exercise = parse((trained / GUIDE).read_text())[number]
    if any("smoke" in arg for command in exercise.commands for arg in command.argv):
        require_tool("chromium")  # the smoke opens the page in it
    project = Path(shutil.copytree(trained, tmp_path / trained.name, symlinks=True))
    git = lambda *args: run([*GIT, *args], cwd=project)  # noqa: E731
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "the default branch")
    # One branch per diff, each from the default branch, then merged: what the owners do.
    for index, diff in enumerate(exercise.diffs):
        patch = tmp_path / f"change-{index}.diff"
        patch.write_text(diff)
        git("switch", "-q", "-c", f"owner-{index}", "main")
        applied = run([*GIT, "apply", str(patch)], cwd=project, check=False)
        assert applied.returncode == 0, (
            f"exercise {number}: diff {index + 1} no longer applies; update {GUIDE}:\n"
            + applied.stderr
        )
        git("commit", "-q", "-a", "-m", f"change {index + 1}")
        git("switch", "-q", "main")
    for index in range(len(exercise.diffs)):
        merged = run([*GIT, "merge", "--no-edit", f"owner-{index}"], cwd=project, check=False)
        assert merged.returncode == 0, f"exercise {number}: branch {index + 1}: {merged.stdout}"

    ports = [f"API_PORT={free_port()}", f"UI_PORT={free_port()}"]
    for command in exercise.commands:
        assignments = command.argv[: command.argv.index("make")]
        targets = command.argv[command.argv.index("make") + 1 :]
        env = dict(assignment.split("=", 1) for assignment in assignments)
        result = make(project, *targets, *ports, check=False, env=env)
        output = result.stdout + result.stderr
        assert_shows(command, output)
        if command.must_fail:
            assert result.returncode != 0, f"`{shlex.join(command.argv)}` passed:\n{output}"
        else:
            assert result.returncode == 0, f"`{shlex.join(command.argv)}` failed:\n{output}"
