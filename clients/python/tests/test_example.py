"""examples/django works: its login view and protected DRF view, against the real authd."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from authd_server import REPO
from conftest import PASSWORD

EXAMPLE = REPO / "examples" / "django"

SCRIPT = """
import json, django
from django.core.management import call_command
django.setup()
call_command("migrate", verbosity=0)
from django.test import Client
web = Client(SERVER_NAME="127.0.0.1")
login = web.post("/api/login", {"username": "alice", "password": PASSWORD}, content_type="application/json")
token = login.json()["access_token"]
me = web.get("/api/me", HTTP_AUTHORIZATION="Bearer " + token)
wrong = web.post("/api/login", {"username": "alice", "password": "nope"}, content_type="application/json")
bad = web.get("/api/me", HTTP_AUTHORIZATION="Token garbage")
print(json.dumps({"login": login.status_code, "me": me.status_code, "body": me.json(),
                  "wrong": wrong.status_code, "bad": bad.status_code}))
"""


def test_example_login_and_protected_view(make_authd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = make_authd()
    server.add_user("alice", PASSWORD, roles=["admin"])
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "exampleproject.settings",
        "PYTHONPATH": str(EXAMPLE),
        "AUTHD_TARGET": server.target,
        "EXAMPLE_DJANGO_DB": str(tmp_path / "example.sqlite3"),
    }
    done = subprocess.run(
        [sys.executable, "-c", f"PASSWORD = {PASSWORD!r}\n{SCRIPT}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=EXAMPLE,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["login"] == 200
    assert answer["me"] == 200
    assert answer["body"]["username"] == "alice"
    assert answer["body"]["roles"] == ["admin"]
    assert answer["wrong"] == 401
    assert answer["bad"] == 401
