"""Production tightening, star-imported after a service's base settings.

It only makes values stricter; everything environment-specific is still read from the
environment (.env.example lists the variables).
"""

from django.core.exceptions import ImproperlyConfigured

from common.logging import logging_settings
from common.settings.env import env

DEBUG = False

# One JSON object per log line, for the log pipeline; LOG_FORMAT=plain for a person.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = logging_settings(LOG_FORMAT, env.str("LOG_LEVEL", default="INFO"))

SECRET_KEY = env.str("DJANGO_SECRET_KEY")
if len(SECRET_KEY) < 32 or SECRET_KEY.startswith("change-me"):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be a random value of 32+ characters.")

# Services accept API calls only with it (from the gateway), so it must be set.
INTERNAL_API_TOKEN = env.str("INTERNAL_API_TOKEN")
if len(INTERNAL_API_TOKEN) < 16:
    raise ImproperlyConfigured("INTERNAL_API_TOKEN must be a random value of 16+ characters.")

# No default: production names its hosts explicitly.
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# TLS is terminated in front of the services; these follow the deployment. A plain-HTTP
# deployment on localhost (manage_all.sh) sets DJANGO_SECURE_COOKIES=false.
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# The proxy that terminates TLS says a request came over HTTPS in X-Forwarded-Proto (it must
# overwrite what a client sent). Empty turns it off: a plain-HTTP deployment without such a
# proxy (manage_all.sh, the compose file as published) must not believe a client's header.
_proxy_ssl_header = env.str("DJANGO_SECURE_PROXY_SSL_HEADER", default="X-Forwarded-Proto")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header else None
)
# Sent only on requests that came over HTTPS (browsers ignore it over HTTP anyway). A year,
# as the HSTS preload list and Mozilla's guidelines ask; 0 turns it off, a short value tries
# it first. Subdomains: those of the host that sends it (the API's host), not the whole domain.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Off by default: HTTP to HTTPS redirection is the TLS proxy's job. Behind it, the gateway
# calls the services, and health checks call every process, over plain HTTP on the internal
# network; a redirect there would break them.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)

# `manage.py check --deploy` is clean (tests/test_check_deploy.py) but for these, on purpose:
SILENCED_SYSTEM_CHECKS = [
    # W008, SECURE_SSL_REDIRECT off: the TLS proxy in front redirects (see above).
    "security.W008",
    # W021, SECURE_HSTS_PRELOAD off: joining browsers' preload list is the domain owner's
    # commitment, and only a registrable domain can join, not the API's host.
    "security.W021",
]

# Static files (admin, Swagger UI) are collected once and served compressed by WhiteNoise.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
