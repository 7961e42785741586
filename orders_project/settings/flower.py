"""Flower's settings: Orders' production settings (Flower shows the workers of both services
through Orders' Celery configuration, in the lean app without Django's apps:
common/lean_celery.py), with a broker user of its own that may read the Celery events and
inspect Orders' workers, and nothing else (deploy/broker_users.py, docs/security.md)."""

from orders_project.settings.production import *

CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = broker_settings("FLOWER_BROKER_URL")
