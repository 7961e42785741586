from django.urls import path

from orders_project.orders import views

urlpatterns = [
    path("orders", views.OrderListCreateView.as_view(), name="order-list"),
    # Any single path segment: a malformed id is a 404 like an unknown one.
    path("orders/<str:order_id>", views.OrderDetailView.as_view(), name="order-detail"),
]
