"""The Django project the tests run: DRF, django-ninja and plain views behind authd."""

SECRET_KEY = "tests-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "testproject.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "authd.django",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "authd.django.AuthdMiddleware",
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

AUTHENTICATION_BACKENDS = ["authd.django.AuthdBackend"]

# The tests point TARGET at the authd they start (the `authd_settings` fixture).
AUTHD = {"TARGET": "127.0.0.1:50051"}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["authd.django.AuthdAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
