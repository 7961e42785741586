"""Django's PostgreSQL backend with a deadline for every answer of the server (base.py).

settings.DATABASES[...]["ENGINE"] = "common.postgresql" (common/settings/base.py sets it
for every postgres:// URL).
"""
