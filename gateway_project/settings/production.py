# The order is the point: the gateway's base first, then the production tightening on top.
# ruff: noqa: I001
from gateway_project.settings.base import *
from common.settings.production import *
