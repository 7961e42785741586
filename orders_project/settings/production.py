# The order is the point: the service's base first, then the production tightening on top.
# ruff: noqa: I001
from orders_project.settings.base import *
from common.settings.production import *
