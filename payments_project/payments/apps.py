from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments_project.payments"
    label = "payments"
    verbose_name = "Payments"
