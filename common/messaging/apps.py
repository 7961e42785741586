from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "common.messaging"
    label = "messaging"
    verbose_name = "Messaging (outbox and inbox)"
