"""Certificate data as a real server reads it: a PFX/PKCS#12 file, a DER certificate or a PEM
text, base64-encoded in `CertificateData.NewValue`; anything else is refused.

A real server parses the upload on create and refuses what it cannot read with "Could not parse
certificate data. Possible causes: 1) The certificate format is not supported. 2) The password
is incorrect. 3) The file is corrupt. Error: Unable to parse certificate '<name>' (id: ): ..."
(OctopusDeploy/Issues#7156; "Unable to parse certificate" also Issues#7302, #7570). Formats:
`CertificateFormat {Pkcs12, Der, Pem}` (Octopus.Client `Model/CertificateFormat.cs`); real
uploads: base64 DER and base64 PKCS#12 (go-octopusdeploy `test/e2e/certificate_service_test.go`),
base64 of a PEM file (SpaceCloner `src/Cloners/CertificateCloner.ps1`).

The emulator reads DER far enough to check the structure and to fill the fields the server
computes (thumbprint, subject, issuer, validity, serial). It does not decrypt PKCS#12, so it
cannot check a PFX password, and a PFX's thumbprint is a stand-in: the SHA-1 of the file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from snapshotsync.emulator.schema import JsonDict

PARSE_ERROR = (
    "Could not parse certificate data. Possible causes: 1) The certificate format is not "
    "supported. 2) The password is incorrect. 3) The file is corrupt. Error: Unable to parse "
    "certificate '{name}' (id: ): {detail}"
)
_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----"
)
# Attribute types of a distinguished name, as .NET prints them.
_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "S",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "1.2.840.113549.1.9.1": "E",
}
_SEQUENCE, _SET, _INTEGER, _OID = 0x30, 0x31, 0x02, 0x06


class CertificateError(ValueError):
    """The data is not a certificate the server could read; the message says why."""


def read(name: str, data: Any) -> JsonDict:
    """The server-computed fields of a certificate uploaded as `data` (base64 text)."""
    if not isinstance(data, str) or not data.strip():
        raise CertificateError(PARSE_ERROR.format(name=name, detail="no certificate data"))
    try:
        # .NET's Convert.FromBase64String skips white space, so wrapped base64 is fine.
        raw = base64.b64decode(re.sub(r"\s+", "", data), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateError(
            PARSE_ERROR.format(name=name, detail="the data is not valid base64")
        ) from None
    try:
        return _read(raw)
    except _Malformed as error:
        raise CertificateError(PARSE_ERROR.format(name=name, detail=str(error))) from None


class _Malformed(Exception):
    pass


def _read(raw: bytes) -> JsonDict:
    pem = _PEM_CERTIFICATE.search(raw)
    if pem is not None:
        try:
            der = base64.b64decode(re.sub(rb"\s+", b"", pem.group(1)), validate=True)
        except (binascii.Error, ValueError):
            raise _Malformed("the PEM certificate block is not valid base64") from None
        fields = _x509(der)
        fields["CertificateDataFormat"] = "Pem"
        fields["HasPrivateKey"] = b"PRIVATE KEY-----" in raw
        return fields
    if not raw or raw[0] != _SEQUENCE:
        raise _Malformed("the data is neither PKCS#12, DER nor PEM")
    _, start, end = _tlv(raw, 0)
    if end != len(raw):
        raise _Malformed("extra data found after object")
    first_tag, first_start, first_end = _tlv(raw, start)
    if first_tag == _INTEGER:
        if raw[first_start:first_end] != b"\x03":
            raise _Malformed("unsupported PKCS#12 version")
        content_tag, _, _ = _tlv(raw, first_end)
        if content_tag != _SEQUENCE:
            raise _Malformed("malformed PKCS#12 content")
        return {
            "CertificateDataFormat": "Pkcs12",
            "HasPrivateKey": True,
            "Thumbprint": hashlib.sha1(raw).hexdigest().upper(),  # a stand-in, see above
        }
    fields = _x509(raw)
    fields["CertificateDataFormat"] = "Der"
    fields["HasPrivateKey"] = False
    return fields


def _x509(der: bytes) -> JsonDict:
    """The fields of an X.509 certificate in DER."""
    tag, start, end = _tlv(der, 0)
    if tag != _SEQUENCE or end != len(der):
        raise _Malformed("the certificate is not a DER SEQUENCE")
    tbs_tag, position, tbs_end = _tlv(der, start)
    if tbs_tag != _SEQUENCE:
        raise _Malformed("the certificate has no tbsCertificate")
    elements = []
    while position < tbs_end:
        element = _tlv(der, position)
        elements.append(element)
        position = element[2]
    if elements and elements[0][0] == 0xA0:  # [0] version
        elements = elements[1:]
    if len(elements) < 5:
        raise _Malformed("the certificate is truncated")
    serial, _, issuer, validity, subject = elements[:5]
    if serial[0] != _INTEGER or validity[0] != _SEQUENCE:
        raise _Malformed("the certificate's fields are malformed")
    not_before, not_after = _validity(der, validity)
    issuer_name, subject_name = _name(der, issuer), _name(der, subject)
    now = datetime.now(UTC)
    return {
        "Thumbprint": hashlib.sha1(der).hexdigest().upper(),  # SHA-1, as Octopus shows it
        "SerialNumber": der[serial[1] : serial[2]].hex().upper(),
        "SubjectDistinguishedName": _dn(subject_name),
        "SubjectCommonName": _first(subject_name, "CN"),
        "SubjectOrganization": _first(subject_name, "O"),
        "IssuerDistinguishedName": _dn(issuer_name),
        "IssuerCommonName": _first(issuer_name, "CN"),
        "IssuerOrganization": _first(issuer_name, "O"),
        "SelfSigned": der[issuer[1] : issuer[2]] == der[subject[1] : subject[2]],
        "NotBefore": not_before.isoformat(timespec="milliseconds"),
        "NotAfter": not_after.isoformat(timespec="milliseconds"),
        "IsExpired": not_after < now,
    }


def _tlv(data: bytes, position: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the element at `position`."""
    if position + 2 > len(data):
        raise _Malformed("the data ends in the middle of an element")
    tag, first = data[position], data[position + 1]
    position += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or position + count > len(data):
            raise _Malformed("an element has an unsupported length")
        length = int.from_bytes(data[position : position + count], "big")
        position += count
    if position + length > len(data):
        raise _Malformed("an element is longer than the data")
    return tag, position, position + length


def _children(data: bytes, element: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    found = []
    position = element[1]
    while position < element[2]:
        child = _tlv(data, position)
        found.append(child)
        position = child[2]
    return found


def _name(data: bytes, element: tuple[int, int, int]) -> list[tuple[str, str]]:
    """A distinguished name as (attribute, value) pairs in encoded order."""
    if element[0] != _SEQUENCE:
        raise _Malformed("a distinguished name is malformed")
    pairs = []
    for rdn in _children(data, element):
        if rdn[0] != _SET:
            raise _Malformed("a distinguished name is malformed")
        for attribute in _children(data, rdn):
            parts = _children(data, attribute)
            if len(parts) != 2 or parts[0][0] != _OID:
                raise _Malformed("a distinguished name is malformed")
            oid = _oid(data[parts[0][1] : parts[0][2]])
            value = data[parts[1][1] : parts[1][2]].decode("utf-8", errors="replace")
            pairs.append((_NAMES.get(oid, oid), value))
    return pairs


def _oid(encoded: bytes) -> str:
    if not encoded:
        raise _Malformed("an object identifier is empty")
    numbers = [encoded[0] // 40, encoded[0] % 40]
    value = 0
    for byte in encoded[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            numbers.append(value)
            value = 0
    return ".".join(str(n) for n in numbers)


def _dn(pairs: list[tuple[str, str]]) -> str:
    """As .NET prints it: last attribute first."""
    return ", ".join(f"{key}={value}" for key, value in reversed(pairs))


def _first(pairs: list[tuple[str, str]], key: str) -> str:
    return next((value for name, value in pairs if name == key), "")


def _validity(data: bytes, element: tuple[int, int, int]) -> tuple[datetime, datetime]:
    times = _children(data, element)
    if len(times) != 2:
        raise _Malformed("the certificate's validity is malformed")
    return _time(data, times[0]), _time(data, times[1])


def _time(data: bytes, element: tuple[int, int, int]) -> datetime:
    text = data[element[1] : element[2]].decode("ascii", errors="replace")
    formats = {0x17: "%y%m%d%H%M%SZ", 0x18: "%Y%m%d%H%M%SZ"}
    if element[0] not in formats:
        raise _Malformed("the certificate's validity is malformed")
    try:
        return datetime.strptime(text, formats[element[0]]).replace(tzinfo=UTC)
    except ValueError:
        raise _Malformed(f"the certificate's validity '{text}' is malformed") from None
