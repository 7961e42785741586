"""The one `environ.Env()` every settings module reads from.

Values come from the process environment; a `.env` file at the repository root (see
`.env.example`; ENV_FILE names another) fills in what the environment does not set, so
`manage_all.sh`, `manage.py` and the tests all see the same configuration.
"""

import os
from pathlib import Path

import environ

REPO_ROOT = Path(__file__).resolve().parents[2]

env = environ.Env()

_dotenv = Path(os.environ.get("ENV_FILE", REPO_ROOT / ".env"))
if _dotenv.is_file():
    # overwrite=False: a variable set in the environment wins over the file.
    env.read_env(str(_dotenv), overwrite=False)
