from django.apps import AppConfig


class SampleAppConfig(AppConfig):
    name = "common.tests.sampleapp"
    label = "sampleapp"
