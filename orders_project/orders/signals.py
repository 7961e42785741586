"""Signals Orders sends for others to observe; nothing in Orders depends on a receiver."""

from django.dispatch import Signal

# Sent with `orders` (a list of Order) when orders are first reported as stuck (NEW past
# ORDERS_STUCK_AFTER_SECONDS). The metric of the observability work connects here.
stuck_orders_reported = Signal()
