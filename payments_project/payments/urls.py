from django.urls import path

from payments_project.payments import internal_views, views

urlpatterns = [
    path("accounts", views.AccountCreateView.as_view(), name="account-create"),
    path("accounts/deposit", views.DepositView.as_view(), name="account-deposit"),
    path("accounts/balance", views.BalanceView.as_view(), name="account-balance"),
    # For the reconciliation in Orders; not routed by the gateway.
    path("internal/payments", internal_views.OrderPaymentsView.as_view(), name="order-payments"),
]
