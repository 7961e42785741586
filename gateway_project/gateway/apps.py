from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway_project.gateway"
    label = "gateway"
    verbose_name = "API gateway"
