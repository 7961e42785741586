"""URLs every service serves beside its API, and Django's error views as problem details.

A service's urls.py: `urlpatterns = [path("", include(<app urls>)), *service_urlpatterns]`
and `from common.api.handlers import handler400, handler403, handler404, handler500`.
"""

from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from common.api import health
from common.observability.views import metrics_view

service_urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    # The services' own documents stay readable without the internal token (the gateway's
    # build_openapi reads them); they reveal nothing the public document does not.
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[AllowAny]),
        name="swagger-ui",
    ),
    path("admin/", admin.site.urls),
]
