"""Password hashes made by Django's own hashers, as JSON test vectors.

Run by tests/api/django_hashes.rs with the suite's Python (AUTHD_TEST_PYTHON,
tests/interop/requirements.txt: Django, bcrypt, argon2-cffi). Prints
{"django": <version>, "vectors": [...]}, one vector per format Django 5.x
makes, each with its hasher's default costs:

    {"name": ..., "hasher": <Django's algorithm name>, "encoded": <hash>,
     "right": [passwords that match], "wrong": [passwords that do not]}

Django makes argon2 hashes of one kind only (argon2id, v=19); the argon2i,
v=16 and version-less ones are made with argon2-cffi's low-level API (the
library Django's argon2 hasher calls) and carry Django's `argon2` prefix.
Every vector is checked with Django's own `check_password` before it is
printed, so each is a hash Django itself accepts for the right passwords. Every password holds the test suite's marker
(`pwmark7q`), so its log scanner catches one that leaks.
"""

import json
import sys

import django
from django.conf import settings

settings.configure(
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.BCryptPasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
)
django.setup()

import argon2  # noqa: E402  (after Django's set-up, as Django loads it)
from django.contrib.auth.hashers import (  # noqa: E402
    check_password,
    get_hasher,
    make_password,
)


def password(name):
    """A password of its own per vector, not ASCII-only."""
    return f"{name} Ünïcode pässwörd pwmark7q"


def wrong_for(right):
    return [right.upper(), right[:-1]]


def vector(name, encoded, right, wrong):
    return {
        "name": name,
        "hasher": encoded.split("$", 1)[0],
        "encoded": encoded,
        "right": right,
        "wrong": wrong,
    }


def made_by(name, hasher):
    right = password(name)
    return vector(name, make_password(right, hasher=hasher), [right], wrong_for(right))


def argon2_low_level(name, kind, version, drop_version=False):
    """Django's `argon2` prefix on a hash argon2-cffi makes with `kind` and
    `version` (Django's default costs), optionally without its `v=` field
    as argon2 libraries before version 1.3 wrote it."""
    right = password(name)
    hasher = get_hasher("argon2")
    salt = hasher.salt()
    data = argon2.low_level.hash_secret(
        right.encode(),
        salt.encode(),
        time_cost=hasher.time_cost,
        memory_cost=hasher.memory_cost,
        parallelism=hasher.parallelism,
        hash_len=argon2.DEFAULT_HASH_LENGTH,
        type=kind,
        version=version,
    ).decode("ascii")
    if drop_version:
        data = data.replace("$v=16$", "$", 1)
    return vector(name, "argon2" + data, [right], wrong_for(right))


def bcrypt_truncated():
    """Plain bcrypt with a password over 72 bytes: Django hashes its first
    72 bytes, so any password with the same first 72 bytes matches."""
    right = password("bcrypt-long") + " " + "x" * 60
    assert len(right.encode()) > 72
    first72 = right.encode()[:72]
    same_start = (first72 + b" and then something else").decode()
    v = vector(
        "bcrypt_over_72_bytes",
        make_password(right, hasher="bcrypt"),
        [right, same_start],
        [first72[:71].decode(errors="ignore"), right.upper()],
    )
    return v


def main():
    vectors = [
        made_by("pbkdf2_sha256", "pbkdf2_sha256"),
        made_by("pbkdf2_sha1", "pbkdf2_sha1"),
        made_by("argon2id", "argon2"),
        argon2_low_level("argon2i", argon2.low_level.Type.I, 19),
        argon2_low_level("argon2id_v16", argon2.low_level.Type.ID, 16),
        argon2_low_level("argon2i_no_version", argon2.low_level.Type.I, 16, True),
        made_by("bcrypt_sha256", "bcrypt_sha256"),
        made_by("bcrypt", "bcrypt"),
        bcrypt_truncated(),
        made_by("scrypt", "scrypt"),
        made_by("md5", "md5"),
    ]
    unusable = make_password(None)
    vectors.append(
        vector("unusable", unusable, [], [password("unusable"), unusable, "!"])
    )
    # Django's own check: each right password matches. (The wrong ones are
    # other passwords, checked by Django only where bcrypt's truncation
    # makes that less than obvious: each check costs Django's full cost.)
    for v in vectors:
        for p in v["right"]:
            assert check_password(p, v["encoded"]), (v["name"], "right")
        if v["name"] in ("bcrypt_over_72_bytes", "unusable"):
            for p in v["wrong"]:
                assert not check_password(p, v["encoded"]), (v["name"], "wrong")
    json.dump({"django": django.get_version(), "vectors": vectors}, sys.stdout)


if __name__ == "__main__":
    main()
