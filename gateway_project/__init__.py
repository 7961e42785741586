"""The API gateway: the only public entry point, a thin proxy to Orders and Payments."""
