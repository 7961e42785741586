from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders_project.orders"
    label = "orders"
    verbose_name = "Orders"
