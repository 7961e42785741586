import pytest

from tests.stack import start_stack, stop_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The whole system, started once for the end-to-end tests of this run."""
    # Two workers per service tier (the default on four cores; one on two): the suite then
    # sees what only a tier of several processes does (metrics added up across workers).
    stack = start_stack(tmp_path_factory.mktemp("stack"), GUNICORN_WORKERS="2")
    yield stack
    stop_stack(stack)
