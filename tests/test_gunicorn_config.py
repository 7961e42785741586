"""deploy/gunicorn.conf.py: how many web workers each tier runs, and which are recycled."""

import multiprocessing
import runpy

import pytest
from gunicorn.config import Config

from tests.stack import REPO_ROOT

CONFIG = str(REPO_ROOT / "deploy" / "gunicorn.conf.py")
SERVICE, GATEWAY = "orders_project.settings.production", "gateway_project.settings.production"


def config(monkeypatch, *, cores: int, settings: str = SERVICE, **env: str) -> dict:
    for name in ("GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_MAX_REQUESTS",
                 "GATEWAY_WORKERS", "GATEWAY_MAX_REQUESTS", "GUNICORN_WORKER_CLASS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", settings)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(multiprocessing, "cpu_count", lambda: cores)
    return runpy.run_path(CONFIG)


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 1), (3, 1), (4, 2), (8, 4), (64, 4)])
def test_a_service_runs_one_worker_of_four_threads_per_two_cores(monkeypatch, cores, workers):
    settings = config(monkeypatch, cores=cores)

    assert (settings["workers"], settings["threads"]) == (workers, 4)
    assert settings["worker_class"] == "sync"  # gthread, with threads > 1


def test_a_tier_of_one_worker_is_not_recycled_and_one_of_several_is(monkeypatch):
    alone = config(monkeypatch, cores=2)
    several = config(monkeypatch, cores=2, GUNICORN_WORKERS="2")

    assert (alone["workers"], alone["max_requests"]) == (1, 0)
    assert (several["max_requests"], several["max_requests_jitter"]) == (5000, 500)


def test_recycling_is_what_the_variable_asks(monkeypatch):
    assert config(monkeypatch, cores=2, GUNICORN_MAX_REQUESTS="300")["max_requests"] == 300
    assert config(monkeypatch, cores=8, GUNICORN_MAX_REQUESTS="0")["max_requests"] == 0


def test_the_gateway_counts_its_own_workers(monkeypatch):
    gateway = config(monkeypatch, cores=8, settings=GATEWAY, GUNICORN_WORKERS="3")
    two = config(monkeypatch, cores=2, settings=GATEWAY, GATEWAY_WORKERS="2")
    asked = config(monkeypatch, cores=2, settings=GATEWAY, GATEWAY_MAX_REQUESTS="300")

    assert (gateway["workers"], gateway["worker_class"], gateway["max_requests"]) == (
        1,
        "gevent",
        0,
    )
    assert (two["workers"], two["max_requests"]) == (2, 5000)
    assert asked["max_requests"] == 300


def test_gunicorn_builds_no_access_line_of_its_own(monkeypatch):
    """The application writes each request's access line; gunicorn's own, built for every
    request and then dropped, cost 0.15-0.2 ms of CPU per request (docs/performance.md)."""
    settings = config(monkeypatch, cores=2)
    asked_for_access_lines = Config()
    asked_for_access_lines.set("accesslog", "/dev/null")
    logger = settings["logger_class"](asked_for_access_lines)

    assert not logger.access_log_enabled
    logger.access(None, None, None, 0.0)  # gunicorn's Logger would read the response here
