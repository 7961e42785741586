import pytest

from tests.stack import start_stack, stop_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The whole system, started once for the end-to-end tests of this run."""
    stack = start_stack(tmp_path_factory.mktemp("stack"))
    yield stack
    stop_stack(stack)
