from django.apps import AppConfig


class SampleAppConfig(AppConfig):
    name = "common.tests.sampleapp"
    label = "sampleapp"

    def ready(self):
        # Registers the handlers (@handles) of the sample messages.
        from common.tests.sampleapp import handlers  # noqa: F401
