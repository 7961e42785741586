from django.urls import include, path

from common.api.handlers import handler400, handler403, handler404, handler500
from common.api.urls import service_urlpatterns

urlpatterns = [path("", include("orders_project.orders.urls")), *service_urlpatterns]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
