"""Production tightening, star-imported after a service's base settings.

It only makes values stricter; everything environment-specific is still read from the
environment (.env.example lists the variables).
"""

from django.core.exceptions import ImproperlyConfigured

from common.settings.env import env

DEBUG = False

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

# Static files (admin, Swagger UI) are collected once and served compressed by WhiteNoise.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
