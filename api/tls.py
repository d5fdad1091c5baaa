"""A unit's own certificate authority and server certificate, for HTTPS on a network with no
public CA in reach: phones open the camera only on a secure page.

The authority is made once and kept (``ca.pem``, ``ca-key.pem``); each phone trusts it once.
Server certificates for the unit's names and addresses are issued from it as often as needed.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from rxtrace.trace.errors import ParseError

__all__ = ["IssuedCertificate", "issue_server_certificate"]

CA_DAYS = 3650
# Apple's devices refuse a TLS server certificate valid for more than 825 days.
SERVER_DAYS = 825


@dataclass(frozen=True)
class IssuedCertificate:
    ca_cert: Path
    ca_created: bool
    cert: Path
    key: Path
    names: tuple[str, ...]
    not_after: datetime
    ca_sha256: str

    def to_dict(self) -> dict[str, object]:
        return {
            "ca_cert": str(self.ca_cert),
            "ca_created": self.ca_created,
            "cert": str(self.cert),
            "key": str(self.key),
            "names": list(self.names),
            "not_after": self.not_after.isoformat(),
            "ca_sha256": self.ca_sha256,
        }


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _subject_names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
            continue
        except ValueError:
            pass
        label = host.strip().lower().rstrip(".")
        if not label or len(label) > 253 or not all(c.isalnum() or c in "-.*" for c in label):
            raise ParseError(f"Failed to parse '{host[:60]}' as a host name or IP address.")
        names.append(x509.DNSName(label))
    return names


def _load_or_make_ca(folder: Path, unit: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, bool]:
    cert_path, key_path = folder / "ca.pem", folder / "ca-key.pem"
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ParseError(f"'{key_path}' is not the EC key rxtrace makes for its authority.")
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), key, False
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{unit} rxtrace CA"),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    _write_private(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    # The same certificate in DER: what Android's "install a CA certificate" asks for.
    (folder / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    return cert, key, True


def issue_server_certificate(folder: Path, hosts: list[str], *, unit: str = "rxtrace") -> IssuedCertificate:
    """Make the unit's authority in ``folder`` unless it is there, and a server certificate
    for ``hosts`` (names and IP addresses) signed by it: ``server.pem`` (with the authority
    after it) and ``server-key.pem``."""
    if not hosts:
        raise ParseError("A server certificate needs at least one host name or IP address.")
    names = _subject_names(hosts)
    ca_cert, ca_key, created = _load_or_make_ca(folder, unit)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    not_after = now + timedelta(days=SERVER_DAYS)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_encipherment=False, content_commitment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "server.pem", folder / "server-key.pem"
    _write_private(key_path, key)
    cert_path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    )
    fingerprint = ca_cert.fingerprint(hashes.SHA256()).hex(":").upper()
    return IssuedCertificate(
        folder / "ca.pem",
        created,
        cert_path,
        key_path,
        tuple(hosts),
        not_after.replace(tzinfo=None),
        fingerprint,
    )
