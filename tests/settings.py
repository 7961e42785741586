"""Settings of the end-to-end test process itself. It talks to the system only over HTTP
(and reads its databases with psycopg); the services run with their own settings, started
by manage_all.sh."""

from common.settings.test_environment import prepare_test_environment

prepare_test_environment()

from common.settings.base import *
from common.settings.test import *

DATABASES = {}
