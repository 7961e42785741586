"""Settings for pytest: the real PostgreSQL and RabbitMQ, isolated per run."""

from common.settings.test_environment import prepare_test_environment

prepare_test_environment()

# ruff: noqa: E402, I001 - the service's base first, then the shared test values on top.
from orders_project.settings.base import *
from common.settings.test import *

DATABASES = {"default": as_database_administrator(DATABASES["default"])}
