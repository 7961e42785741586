from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders_project.orders"
    label = "orders"
    verbose_name = "Orders"

    def ready(self):
        # Registers the handlers (@handles) of the messages Orders consumes.
        from common.observability.scrape_time import scrape_time_gauges
        from orders_project.orders import handlers  # noqa: F401
        from orders_project.orders.selectors import orders_waiting_gauges  # models are ready

        scrape_time_gauges(orders_waiting_gauges)
