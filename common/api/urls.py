"""URLs every service serves beside its API, and Django's error views as problem details.

A service's urls.py: `urlpatterns = [path("", include(<app urls>)), *service_urlpatterns]`
and `from common.api.urls import handler400, handler403, handler404, handler500`.
"""

from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from common.api import health

service_urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/", admin.site.urls),
]

handler400 = "common.api.problems.bad_request"
handler403 = "common.api.problems.permission_denied"
handler404 = "common.api.problems.page_not_found"
handler500 = "common.api.problems.server_error"
