from django.urls import path
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from common.api.handlers import handler400, handler403, handler404, handler500
from common.observability.views import metrics_view
from gateway_project.gateway import page, views
from gateway_project.gateway.proxy import route_view
from gateway_project.gateway.routes import ROUTES

urlpatterns = [
    *(path(route.path, route_view(route), name=route.name) for route in ROUTES),
    path("", page.page, name="page"),  # a page for a person (docs/gateway.md)
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),  # loopback clients only
    path("openapi.json", views.openapi, name="openapi"),
    path(
        "swagger",
        SpectacularSwaggerView.as_view(url="/openapi.json", permission_classes=[AllowAny]),
        name="swagger-ui",
    ),
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
