"""Makes a Django database the way a Django project does, for the import test.

``python django_source.py DB_PATH`` runs Django's own ``migrate`` on an SQLite
file and creates users with Django's own ``create_user``/``create_superuser``,
each password hashed by another of Django's hashers; prints JSON
``{username: {"pk", "password", "hasher"}}``.
"""

from __future__ import annotations

import json
import sys

import django
from django.conf import settings

HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]


def main() -> None:
    settings.configure(
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": sys.argv[1]}},
        PASSWORD_HASHERS=HASHERS,
        USE_TZ=True,
    )
    django.setup()
    from django.contrib.auth.hashers import make_password  # noqa: PLC0415 (after django.setup())
    from django.contrib.auth.models import Group, User  # noqa: PLC0415 (after django.setup())
    from django.core.management import call_command  # noqa: PLC0415 (after django.setup())

    call_command("migrate", verbosity=0)
    made: dict[str, dict[str, object]] = {}
    admin = User.objects.create_superuser("root", "root@example.com", "root has a long passphrase")
    made["root"] = {"pk": admin.pk, "password": "root has a long passphrase", "hasher": "pbkdf2_sha256"}
    editors = Group.objects.create(name="editors")
    for algorithm in ("pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "scrypt"):
        name = f"user_{algorithm}"
        password = f"{algorithm} remembers the old orchard"
        user = User.objects.create_user(name, f"{name}@example.com")
        user.password = make_password(password, hasher=algorithm)
        user.save()
        user.groups.add(editors)
        made[name] = {"pk": user.pk, "password": password, "hasher": algorithm}
    print(json.dumps(made))


if __name__ == "__main__":
    main()
