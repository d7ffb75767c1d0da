"""settings.AUTHD is checked at start-up, with errors naming the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from authd.django import conf


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "'TARGET'] is missing"),
        ({"TARGET": ""}, "'TARGET'] must be a non-empty"),
        ({"TARGET": 50051}, "'TARGET'] must be a non-empty"),
        ({"TARGET": "h:1", "TIMEOUT": "2"}, "'TIMEOUT'] must be a number"),
        ({"TARGET": "h:1", "TIMEOUT": 0}, "'TIMEOUT'] must be greater than 0"),
        ({"TARGET": "h:1", "TIMEOUT": True}, "'TIMEOUT'] must be a number"),
        ({"TARGET": "h:1", "RETRIES": 1.5}, "'RETRIES'] must be an integer"),
        ({"TARGET": "h:1", "CREATE_USERS": "yes"}, "'CREATE_USERS'] must be True or False"),
        ({"TARGET": "h:1", "VERIFY_CACHE_SECONDS": -1}, "'VERIFY_CACHE_SECONDS'] must be at least 0"),
        ({"TARGET": "h:1", "AUTH_HEADER_TYPES": ()}, "'AUTH_HEADER_TYPES']"),
        ({"TARGET": "h:1", "AUTH_HEADER_TYPES": ("Bearer", 3)}, "'AUTH_HEADER_TYPES']"),
        ({"TARGET": "h:1", "TLS": "yes"}, "'TLS'] must be None, True or a dict"),
        ({"TARGET": "h:1", "TLS": {"CA": "x"}}, "'TLS'] has unknown keys"),
        (
            {"TARGET": "h:1", "TLS": {"CA_FILE": "/no/such/ca.pem"}},
            "CA_FILE '/no/such/ca.pem' is not a readable file",
        ),
        ({"TARGET": "h:1", "TARGETS": "h:1"}, "unknown keys ['TARGETS']"),
        ("127.0.0.1:50051", "must be a dict"),
    ],
)
def test_bad_settings_name_the_key(value: object, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as bad:
        conf.parse(value)
    assert message in str(bad.value)


def test_good_settings_have_defaults() -> None:
    s = conf.parse({"TARGET": "127.0.0.1:50051", "AUTH_HEADER_TYPES": "JWT", "TLS": True})
    assert s.auth_header_types == ("JWT",)
    assert s.timeout == 5.0
    assert s.tls is not None
    assert not s.create_users
    assert s.verify_cache_seconds == 2.0


def test_app_ready_checks_the_settings(settings) -> None:  # type: ignore[no-untyped-def]
    settings.AUTHD = {"TIMEOUT": 5}
    with pytest.raises(ImproperlyConfigured, match="'TARGET'] is missing"):
        apps.get_app_config("authd").ready()


def test_a_project_with_bad_settings_does_not_start() -> None:
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "testproject.bad_settings", "PYTHONPATH": str(tests)}
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured: settings.AUTHD['TARGET'] is missing" in done.stderr
