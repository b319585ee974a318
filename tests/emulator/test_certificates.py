"""Certificates over real HTTP: `CertificateData` must be a PFX, DER or PEM certificate, as a
real server parses it; what the server computes from it comes back on GET."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from tests.emulator.test_http import assert_400, sample_certificate
from tests.helpers import Emulator

PARSE_ERROR = (
    "Could not parse certificate data. Possible causes: 1) The certificate format is not "
    "supported. 2) The password is incorrect. 3) The file is corrupt. Error: Unable to parse "
    "certificate 'Wildcard' (id: )"
)


def pem_text() -> bytes:
    return base64.b64decode(re.sub(r"\s+", "", sample_certificate("source")))


def der() -> str:
    """The source sample's certificate in DER, base64 (the body of its PEM block)."""
    body = pem_text().split(b"-----")[2]
    return re.sub(r"\s+", "", body.decode())


def upload(e: Emulator, data: Any, **fields: Any) -> Any:
    body = {"Name": "Wildcard", "CertificateData": {"HasValue": True, "NewValue": data}, **fields}
    return e.post("certificates", body)


@pytest.mark.parametrize(
    ("sample", "expected_format", "private_key"),
    [("source", "Pem", False), ("destination", "Pkcs12", True)],
)
def test_pem_and_pfx_uploads_are_read(
    emulator: Emulator, sample: str, expected_format: str, private_key: bool
) -> None:
    response = upload(emulator, sample_certificate(sample))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["CertificateDataFormat"] == expected_format
    assert created["HasPrivateKey"] is private_key
    assert re.fullmatch(r"[0-9A-F]{40}", created["Thumbprint"])
    assert created["CertificateData"] == {"HasValue": True, "NewValue": None, "Hint": None}


def test_a_der_upload_gives_the_certificates_facts(emulator: Emulator) -> None:
    created = upload(emulator, der()).json()
    assert created["CertificateDataFormat"] == "Der"
    assert created["SubjectCommonName"] == "*.octofx.example"
    assert created["SubjectOrganization"] == "OctoFX source"
    assert created["SelfSigned"] is True and created["IsExpired"] is False
    assert created["NotBefore"] < created["NotAfter"]
    # The same certificate as PEM has the same thumbprint (SHA-1 of the DER).
    pem = upload(emulator, sample_certificate("source"), Name="Wildcard PEM").json()
    assert pem["Thumbprint"] == created["Thumbprint"]


@pytest.mark.parametrize(
    "data",
    [
        "MIIsourcecertificatebytes",  # the old sample's placeholder: not even base64
        "MIIB",  # a SEQUENCE header and nothing after it
        base64.b64encode(b"not a certificate").decode(),
        base64.b64encode(
            b"-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n"
        ).decode(),
        "",
        None,
    ],
)
def test_anything_else_is_refused_with_the_servers_words(emulator: Emulator, data: Any) -> None:
    assert_400(upload(emulator, data), PARSE_ERROR)
    assert emulator.get("certificates/all") == []


def test_extra_bytes_after_the_certificate_are_refused(emulator: Emulator) -> None:
    padded = base64.b64encode(base64.b64decode(der()) + b"\x00\x00").decode()
    assert_400(upload(emulator, padded), PARSE_ERROR, "extra data")


def test_certificate_data_is_writeable_on_create_only(emulator: Emulator) -> None:
    created = upload(emulator, sample_certificate("source"), CertificateDataFormat="Der").json()
    assert created["CertificateDataFormat"] == "Pem"  # computed, not taken
    stored = emulator.instance.docs["certificates"][created["Id"]]["CertificateData"]
    changed = {
        **created,
        "Notes": "renewed",
        "CertificateData": {"HasValue": True, "NewValue": "MIIB"},
    }
    response = emulator.put(f"certificates/{created['Id']}", changed)
    assert response.status_code == 200, response.text
    after = emulator.instance.docs["certificates"][created["Id"]]
    assert after["Notes"] == "renewed" and after["CertificateData"] == stored
    assert after["Thumbprint"] == created["Thumbprint"]
