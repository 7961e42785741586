"""Test fixtures and helpers every service's tests use (loaded by the root conftest.py)."""
