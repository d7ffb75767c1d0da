"""A Django database made by Django itself, imported by `authd import django`,
then logged in to through AuthdBackend with the users' original passwords."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SLOW
from django.contrib.auth import authenticate, get_user_model

import authd

pytestmark = pytest.mark.django_db

HERE = Path(__file__).resolve().parent


def test_imported_django_users_log_in_with_their_old_passwords(settings, make_authd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "django.sqlite3"
    made = subprocess.run(
        [sys.executable, str(HERE / "django_source.py"), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    users = json.loads(made.stdout)
    server = make_authd()
    server.cli("import", "django", "--django-database", f"sqlite://{source}")

    # The Django side keeps its rows and primary keys; one was renamed locally
    # since, and is still found: by its primary key, authd's external_id.
    model = get_user_model()
    for name, row in users.items():
        local = "root-renamed-locally" if name == "root" else name
        model.objects.create(pk=row["pk"], username=local)
    settings.AUTHD = {"TARGET": server.target, "TIMEOUT": SLOW, "CREATE_USERS": False}

    with authd.Client(server.target, timeout=SLOW) as client:
        for name, row in users.items():
            assert authenticate(None, username=name, password="not " + row["password"]) is None
            user = authenticate(None, username=name, password=row["password"])
            assert user is not None, f"{name} ({row['hasher']}) could not log in with the old password"
            assert user.pk == row["pk"]
            claims = client.verify(user.authd_tokens.access_token).claims
            assert claims is not None
            assert claims.external_id == str(row["pk"])
            # The hash was upgraded at that login; the password still works.
            again = authenticate(None, username=name, password=row["password"])
            assert again is not None
            assert again.pk == row["pk"]
        root = client.login("root", users["root"]["password"])
        assert root.user is not None
        assert "admin" in root.user.roles
