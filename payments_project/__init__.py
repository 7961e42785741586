"""The Payments service: accounts, balances and the ledger of every balance change."""

# The Celery app is created with the project, so wake-ups sent from web requests use this
# service's broker settings and task queue.
from payments_project.celery import app as celery_app

__all__ = ["celery_app"]
