import os

from common.celery import create_celery_app

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_project.settings.production")

app = create_celery_app("orders")
