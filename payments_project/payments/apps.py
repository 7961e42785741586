from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments_project.payments"
    label = "payments"
    verbose_name = "Payments"

    def ready(self):
        # Registers the handlers (@handles) of the messages Payments consumes.
        from common.observability.scrape_time import scrape_time_gauges
        from payments_project.payments import handlers  # noqa: F401
        from payments_project.payments.selectors import last_audit_gauges  # models are ready

        scrape_time_gauges(last_audit_gauges)
