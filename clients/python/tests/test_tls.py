"""TLS to authd: the client trusts a given CA, checks the server's name, and
presents a client certificate for mutual TLS."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.test import Client

import authd

pytestmark = pytest.mark.django_db


def _openssl(*args: str, cwd: Path) -> None:
    try:
        subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)
    except FileNotFoundError as error:
        raise AssertionError("the openssl command line is missing: apt-get install openssl") from error


def _certificates(directory: Path) -> Path:
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req",
        "-x509",
        *ec,
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        cwd=directory,
    )
    for name, ext in (
        ("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "subjectAltName=DNS:client.test\nextendedKeyUsage=clientAuth\n"),
    ):
        (directory / f"{name}.ext").write_text(ext)
        _openssl(
            "req",
            "-new",
            *ec,
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=directory,
        )
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=directory,
        )  # fmt: skip
    return directory


def test_client_over_tls_and_mutual_tls(make_authd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    certs = _certificates(tmp_path)
    server = make_authd(
        "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"),
        "--tls-client-ca", str(certs / "ca.pem"),
    )  # fmt: skip
    ca = authd.Tls(ca_file=certs / "ca.pem")
    with authd.Client(server.target, tls=ca, timeout=10) as c:
        assert c.verify("garbage").reason == "MALFORMED"
    named = authd.Tls(ca_file=certs / "ca.pem", server_name="localhost")
    with authd.Client(server.target, tls=named, timeout=10) as c:
        assert c.verify("garbage").reason == "MALFORMED"
    mutual = authd.Tls(
        ca_file=certs / "ca.pem", cert_file=certs / "client.pem", key_file=certs / "client.key"
    )
    with authd.Client(server.target, tls=mutual, timeout=10) as c:
        assert c.verify("garbage").reason == "MALFORMED"
    # The system's roots do not know the test CA; plaintext gets no answer either.
    with authd.Client(server.target, tls=authd.Tls(), timeout=5) as c, pytest.raises(authd.Unavailable):
        c.verify("garbage")
    with authd.Client(server.target, timeout=5) as c, pytest.raises(authd.Unavailable):
        c.verify("garbage")


def test_django_settings_tls(settings, make_authd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    certs = _certificates(tmp_path)
    server = make_authd("--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"))
    settings.AUTHD = {"TARGET": server.target, "TLS": {"CA_FILE": str(certs / "ca.pem")}, "TIMEOUT": 10}
    answer = Client().get("/drf/me", HTTP_AUTHORIZATION="Bearer garbage")
    assert answer.status_code == 401
    assert "MALFORMED" in answer.json()["detail"]
