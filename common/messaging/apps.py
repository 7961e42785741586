from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "common.messaging"
    label = "messaging"
    verbose_name = "Messaging (outbox and inbox)"

    def ready(self):
        from common.messaging.backlog import backlog_gauges  # models are ready only now
        from common.observability.scrape_time import scrape_time_gauges

        scrape_time_gauges(backlog_gauges)
