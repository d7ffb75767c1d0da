"""The Django app ``authd.django``: checks ``settings.AUTHD`` at start-up."""

from __future__ import annotations

from django.apps import AppConfig

from authd.django import conf


class AuthdConfig(AppConfig):
    """Put ``"authd.django"`` in ``INSTALLED_APPS`` to have a bad ``settings.AUTHD``
    stop start-up (``ImproperlyConfigured`` naming the key) rather than the first request."""

    name = "authd.django"
    label = "authd"
    verbose_name = "authd"

    def ready(self) -> None:
        """Checks the settings."""
        conf.reset()
        conf.get()
