"""Print an env file's variables as shell `export` lines, read by django-environ.

manage_all.sh evaluates the output, so the shell and every Django process read `.env`
with one parser (common/settings/env.py uses the same `read_env`): quoting, `export `
prefixes and comments cannot mean one thing to bash and another to Django.

Usage: python deploy/env_exports.py FILE [--override]
Variables already set in the environment win, unless --override.
"""

import os
import shlex
import sys
from pathlib import Path

import environ


def exports(path: Path, *, override: bool) -> list[str]:
    if not path.is_file():
        return []
    before = dict(os.environ)
    environ.Env.read_env(str(path), overwrite=override)
    return [
        f"export {name}={shlex.quote(value)}"
        for name, value in sorted(os.environ.items())
        if before.get(name) != value
    ]


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or argv[1:] not in ([], ["--override"]):
        print(__doc__, file=sys.stderr)  # noqa: T201 - a CLI's output
        return 2
    print("\n".join(exports(Path(argv[0]), override=len(argv) == 2)))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
