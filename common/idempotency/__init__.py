"""Idempotency-Key handling with Stripe's semantics, for any service's POST endpoints."""
