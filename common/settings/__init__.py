"""Shared settings: `env` (the one `environ.Env()`) and `base` (what every service starts from)."""
