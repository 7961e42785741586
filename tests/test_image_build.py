"""deploy/Dockerfile's Django build steps, run without Docker: each `RUN ... manage.py ...`
runs in a subprocess on a copy of the build context (what .dockerignore lets through) with
only the variables the Dockerfile gives it, plus PATH (to this virtualenv's python, which
stands for the image's) and HOME. A build step that needs a variable the build does not set
fails here, not on the first `docker build` (issue 12: collectstatic needed
INTERNAL_API_TOKEN and the image could not build)."""

import fnmatch
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.stack import REPO_ROOT

DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"


@dataclass
class Step:
    """A RUN instruction with the state of the build when it runs."""

    workdir: str
    env: dict[str, str]  # ARG and ENV values in force
    command: str | list[str]  # shell form, or exec form (a JSON array)


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each instruction: comments dropped, continuations joined."""
    result, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):  # a comment inside a continued instruction
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        result.append((keyword.upper(), arguments.strip()))
        pending = ""
    return result


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), value)


def _assignments(arguments: str, env: dict[str, str]) -> dict[str, str]:
    """ENV/ARG arguments: `A=1 B="two words"`, or the legacy `ENV A one value`."""
    words = shlex.split(arguments)
    if "=" not in words[0]:
        name, _, value = arguments.partition(" ")
        return {name: _expand(value.strip(), env)}
    pairs = dict(word.partition("=")[::2] for word in words)
    return {name: _expand(value, env) for name, value in pairs.items()}


@dataclass
class Build:
    steps: list[Step]  # every RUN of the last stage
    env: dict[str, str]  # the variables the image runs with (its ENV)
    workdir: str  # the image's working directory


def read_dockerfile(text: str) -> Build:
    """The last stage: its RUN steps with the WORKDIR and variables each runs with."""
    build = Build([], {}, "/")
    args: dict[str, str] = {}  # ARG values: there while building, gone when the image runs
    for keyword, arguments in instructions(text):
        if keyword == "FROM":  # a new stage starts afresh
            build, args = Build([], {}, "/"), {}
        elif keyword == "ARG":
            args |= _assignments(arguments, args | build.env)
        elif keyword == "ENV":
            build.env |= _assignments(arguments, args | build.env)
        elif keyword == "WORKDIR":
            build.workdir = posixpath.join(build.workdir, _expand(arguments, args | build.env))
        elif keyword == "RUN":
            command = json.loads(arguments) if arguments.startswith("[") else arguments
            build.steps.append(Step(build.workdir, args | build.env, command))
    return build


def copy_build_context(destination: Path) -> None:
    """The repository as `COPY . .` sees it: without what .dockerignore excludes."""
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not [p for p in patterns if p.startswith("!")], "exceptions are not modelled here"

    def excluded(relative: str) -> bool:
        return any(
            fnmatch.fnmatchcase(relative, pattern)
            or (pattern.startswith("**/") and fnmatch.fnmatchcase(relative, pattern[3:]))
            for pattern in patterns
        )

    def ignore(directory: str, names: list[str]) -> set[str]:
        base = Path(directory).relative_to(REPO_ROOT)
        return {name for name in names if excluded((base / name).as_posix())}

    shutil.copytree(REPO_ROOT, destination, ignore=ignore, symlinks=True)


def _in_copy(value: str, workdir: str, copy: Path) -> str:
    """The image's WORKDIR paths (/app, /app/static) mapped onto the copy."""
    return re.sub(rf"(?<![\w./-]){re.escape(workdir)}(?=/|\s|$|[\"'])", str(copy), value)


def run_step(step: Step, copy: Path, home: Path) -> subprocess.CompletedProcess:
    env = {name: _in_copy(value, step.workdir, copy) for name, value in step.env.items()}
    env |= {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home)}
    if isinstance(step.command, str):
        command = ["/bin/sh", "-c", _in_copy(step.command, step.workdir, copy)]
    else:
        command = [_in_copy(word, step.workdir, copy) for word in step.command]
    return subprocess.run(  # noqa: S603 - the Dockerfile's own build steps
        command, cwd=copy, env=env, capture_output=True, text=True, timeout=300
    )


BUILD = read_dockerfile(DOCKERFILE.read_text())
DJANGO_STEPS = [step for step in BUILD.steps if "manage.py" in str(step.command)]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The copy of the build context after every Django build step ran on it."""
    root = tmp_path_factory.mktemp("image")
    copy, home = root / "app", root / "home"
    home.mkdir()
    copy_build_context(copy)
    for step in DJANGO_STEPS:
        assert step.workdir != "/", "the Django steps run from the WORKDIR the code is copied to"
        result = run_step(step, copy, home)
        assert result.returncode == 0, (
            f"build step failed with only the Dockerfile's variables {sorted(step.env)}:\n"
            f"{step.command}\n{result.stdout[-2000:]}{result.stderr[-4000:]}"
        )
    return copy


def test_the_dockerfile_has_django_build_steps():
    assert any("collectstatic" in str(step.command) for step in DJANGO_STEPS)


def test_the_django_build_steps_run_with_only_what_the_dockerfile_sets(built):
    assert (built / "payments_project" / "manage.py").is_file()


def test_static_files_are_where_the_image_serves_them_from(built):
    static_root = Path(_in_copy(BUILD.env["DJANGO_STATIC_ROOT"], BUILD.workdir, built))
    # The manifest the production storage (CompressedManifestStaticFilesStorage) reads,
    # and what the admin and Swagger UI load.
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    assert "admin/css/base.css" in manifest
    assert any(name.startswith("drf_spectacular_sidecar/swagger-ui-dist/") for name in manifest)
    assert (static_root / manifest["admin/css/base.css"]).is_file()


def test_the_build_context_leaves_local_state_out(tmp_path):
    copy = tmp_path / "context"
    copy_build_context(copy)
    for local in (".git", ".venv", "var", ".env"):
        assert not (copy / local).exists(), local


def test_the_dockerfile_reader():
    text = (
        "FROM python:3.11-slim AS base\nENV A=1\n"
        "FROM python:3.11-slim\n# comment\nARG B=two\n"
        'ENV C="three words" \\\n    D=$B/${B}\nENV E legacy value\nWORKDIR /app\nWORKDIR sub\n'
        "RUN X=1 \\\n  # a comment inside\n  python manage.py check\n"
        'RUN ["python", "manage.py", "migrate"]\n'
    )
    build = read_dockerfile(text)
    first, second = build.steps
    assert first == Step(
        "/app/sub",
        {"B": "two", "C": "three words", "D": "two/two", "E": "legacy value"},
        "X=1    python manage.py check",
    )
    assert second.command == ["python", "manage.py", "migrate"]
    assert build.env == {"C": "three words", "D": "two/two", "E": "legacy value"}
    assert build.workdir == "/app/sub"
    assert _in_copy("S=/app/static /application", "/app", Path("/copy")) == (
        "S=/copy/static /application"
    )


def test_a_step_gets_nothing_from_the_test_process(tmp_path):
    os.environ["SHOULD_NOT_LEAK"] = "1"
    try:
        step = Step("/app", {"ONLY": "this"}, "env")
        result = run_step(step, tmp_path, tmp_path)
    finally:
        del os.environ["SHOULD_NOT_LEAK"]
    names = {line.partition("=")[0] for line in result.stdout.splitlines()}
    assert names - {"PWD", "SHLVL", "_"} == {"ONLY", "PATH", "HOME"}
