from django.core.management.base import BaseCommand, CommandError

from gateway_project.gateway.openapi_build import build_public_document, render, service_schema
from gateway_project.gateway.views import OPENAPI_FILE


class Command(BaseCommand):
    help = "Write gateway/openapi.json from the services' schemas (--check: only compare)."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true")

    def handle(self, *args, **options):
        schemas = {service: service_schema(service) for service in ("orders", "payments")}
        text = render(build_public_document(schemas))
        if options["check"]:
            if OPENAPI_FILE.read_text() != text:
                raise CommandError(
                    "gateway/openapi.json is out of date: run manage.py build_openapi"
                )
            self.stdout.write("gateway/openapi.json matches the services.")
            return
        OPENAPI_FILE.write_text(text)
        self.stdout.write(f"Wrote {OPENAPI_FILE}")
