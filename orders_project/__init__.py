"""The Orders service: orders, and their payment outcome learned from Payments' events."""

# The Celery app is created with the project, so wake-ups sent from web requests use this
# service's broker settings and task queue.
from orders_project.celery import app as celery_app

__all__ = ["celery_app"]
