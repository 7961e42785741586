"""Code shared by the Orders and Payments services: settings, API conventions, idempotency."""
