"""A real Django project for the `authd import django` tests, made by Django.

    django_project.py --database URL create DIR   startproject in DIR, migrate, users, dumpdata
    django_project.py --database URL change DIR   change one user (a new email for `staffer`)

The project's database is given on each call (and reaches the project's
settings as AUTHD_TEST_DJANGO_DB), so one project can work on copies of its
database: `sqlite:///path` or a `postgres://` URL (psycopg). `create` makes users with Django's own
`create_user`/`create_superuser`, groups, `is_staff`, an inactive user, an
unusable password and one user per hasher in PASSWORD_HASHERS, writes
`manage.py dumpdata auth.User auth.Group --format json` to DIR/dump.json and
prints JSON: for each user their pk, password, hasher and times. Any failure
exits non-zero with Django's traceback on stderr.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

SETTINGS_TAIL = '''
# --- added by tests/interop/django_project.py ---
import os as _os
from urllib.parse import urlparse as _urlparse

_url = _os.environ["AUTHD_TEST_DJANGO_DB"]
if _url.startswith("sqlite://"):
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                             "NAME": _url[len("sqlite://"):]}}
else:
    _p = _urlparse(_url)
    DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql",
                             "NAME": _p.path.lstrip("/"), "USER": _p.username or "",
                             "PASSWORD": _p.password or "", "HOST": _p.hostname or "",
                             "PORT": str(_p.port or "")}}
# Every hasher authd checks; the first makes new passwords (Django's default).
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "django.contrib.auth.hashers.MD5PasswordHasher",
]
USE_TZ = True
'''

# username, hasher (None: Django's default), what else is true of them.
USERS = [
    ("admin", None, {"superuser": True, "email": "admin@example.com", "last_login": True}),
    ("staffer", "pbkdf2_sha1", {"staff": True, "groups": ["Editors", "Content Team"],
                                 "email": "staffer@example.com"}),
    ("alice", "argon2", {"groups": ["Editors", "Rédacteurs"], "email": "alice@example.com"}),
    ("bob", "bcrypt_sha256", {}),
    ("carol", "scrypt", {"email": "carol@example.com"}),
    ("erin", "bcrypt", {}),
    ("mallory", None, {"active": False}),
    ("nopass", "unusable", {}),
    ("weak", "md5", {}),
]

CREATE_USERS = '''
import json, sys
from datetime import datetime, timezone
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User

spec = json.loads(sys.stdin.read())
out = {}
for name, hasher, extra in spec:
    password = "pw-" + name + "-Correct-Horse-9"
    if extra.get("superuser"):
        user = User.objects.create_superuser(name, extra.get("email", ""), password)
    else:
        user = User.objects.create_user(name, extra.get("email", ""), password)
    if hasher == "unusable":
        user.set_unusable_password()
        password = None
    elif hasher is not None:
        user.password = make_password(password, hasher=hasher)
    user.is_staff = user.is_staff or bool(extra.get("staff"))
    user.is_active = extra.get("active", True)
    if extra.get("last_login"):
        user.last_login = datetime(2026, 11, 30, 12, 0, 0, tzinfo=timezone.utc)
    user.save()
    for group in extra.get("groups", []):
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    user.refresh_from_db()
    out[name] = {
        "pk": str(user.pk),
        "password": password,
        "hasher": user.password.split("$", 1)[0] if password else "unusable",
        "date_joined": int(user.date_joined.timestamp()),
        "last_login": int(user.last_login.timestamp()) if user.last_login else None,
    }
print(json.dumps(out))
'''

CHANGE_USER = '''
from django.contrib.auth.models import User
user = User.objects.get(username="staffer")
user.email = "staffer@new.example.com"
user.save()
'''


def manage(project: Path, *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, str(project / "manage.py"), *args],
        input=stdin, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        sys.exit(f"manage.py {args[0]} failed")
    return done.stdout


def create(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "django", "startproject", "legacy", str(directory)],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        sys.exit("django-admin startproject failed")
    settings = directory / "legacy" / "settings.py"
    settings.write_text(settings.read_text() + SETTINGS_TAIL)
    manage(directory, "migrate", "--noinput")
    # The last line: `shell` may first say what it imported for you.
    made = manage(directory, "shell", "-c", CREATE_USERS, stdin=json.dumps(USERS))
    users = json.loads(made.strip().splitlines()[-1])
    manage(directory, "dumpdata", "auth.User", "auth.Group", "--format", "json",
           "--indent", "1", "-o", str(directory / "dump.json"))
    print(json.dumps({"users": users, "dumpdata": str(directory / "dump.json")}))


def main() -> None:
    args = sys.argv[1:]
    if len(args) != 4 or args[0] != "--database" or args[2] not in ("create", "change"):
        sys.exit(__doc__)
    os.environ["AUTHD_TEST_DJANGO_DB"] = args[1]
    directory = Path(args[3])
    if args[2] == "create":
        create(directory)
    else:
        manage(directory, "shell", "-c", CHANGE_USER)
        print("{}")


if __name__ == "__main__":
    main()
