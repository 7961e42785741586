"""A fault that cannot be injected fails its scenario: the report never claims a kill or a
pause that did not happen."""

import signal

import pytest

from tests.chaos.faults import FaultNotInjected, Faults
from tests.stack import Stack


@pytest.fixture
def faults_of_a_stopped_stack(tmp_path) -> Faults:
    """No supervisord runs under this VAR_DIR: no process of it is running."""
    return Faults(Stack(env={"VAR_DIR": str(tmp_path)}, ports={}, databases={}))


def test_killing_a_process_that_is_not_running_fails(faults_of_a_stopped_stack):
    with pytest.raises(FaultNotInjected, match="orders-worker is not running"):
        faults_of_a_stopped_stack.inject_worker_kill(0)


def test_pausing_a_process_that_is_not_running_fails(faults_of_a_stopped_stack):
    with pytest.raises(FaultNotInjected):
        faults_of_a_stopped_stack.signal_group("payments-worker", signal.SIGSTOP)


def test_a_pool_child_kill_without_a_pool_child_fails(faults_of_a_stopped_stack):
    with pytest.raises(FaultNotInjected, match="no pool child"):
        faults_of_a_stopped_stack.inject_pool_child_kill(1)
