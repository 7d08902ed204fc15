"""Dev TLS material for a local cluster: one CA, node certificates, client certificates.

All keys are ECDSA P-256; everything is built with ``cryptography``'s x509 API (no openssl CLI).

- The CA is a self-signed root: ``BasicConstraints(ca, pathlen 0)`` and ``keyCertSign``.
- A **node** certificate carries both ``serverAuth`` and ``clientAuth``: nodes serve gRPC and
  also call each other over mTLS with the same certificate.
- A **client** certificate (wallet service, CLI) carries ``clientAuth`` only.
- The node's identity is the certificate's CN (``node-1``…), which must equal the node name in
  its config; the SAN carries where it listens (``localhost`` and ``127.0.0.1`` by default) so
  ordinary hostname verification works.

PEMs are ``bytes`` (what grpc's ``ssl_*_credentials`` take). Keys are unencrypted PKCS#8: the
caller stores them with mode 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Default lifetime of a leaf certificate (days).
DEFAULT_DAYS = 825
#: Default lifetime of the dev CA (days).
CA_DAYS = 3650
# Tolerate small clock differences between processes/hosts.
_BACKDATE = dt.timedelta(minutes=5)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    if not common_name:
        raise ValueError("common name must not be empty")
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str, *, days: int = CA_DAYS) -> tuple[bytes, bytes]:
    """A new self-signed CA: ``(cert_pem, key_pem)``."""
    key = _new_key()
    name = _name(common_name)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def issue_cert(
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    common_name: str,
    *,
    server: bool,
    client: bool,
    dns: Sequence[str] = ("localhost",),
    ips: Sequence[str] = ("127.0.0.1",),
    days: int = DEFAULT_DAYS,
) -> tuple[bytes, bytes]:
    """A leaf certificate signed by the CA: ``(cert_pem, key_pem)``.

    ``server`` adds the ``serverAuth`` EKU, ``client`` adds ``clientAuth``; nodes get both,
    wallet/CLI clients get ``client`` only. ``dns``/``ips`` go into the SAN.
    """
    if not (server or client):
        raise ValueError("a certificate must allow server or client authentication (or both)")
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key must be an EC key")
    key = _new_key()
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    san: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    san += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if not san:
        raise ValueError("a certificate needs at least one DNS name or IP address")
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def cert_common_name(pem: bytes | str) -> str:
    """The subject CN of a PEM certificate (the node's or client's identity)."""
    data = pem.encode() if isinstance(pem, str) else pem
    cert = x509.load_pem_x509_certificate(data)
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(attrs) != 1:
        raise ValueError("certificate must have exactly one common name")
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode()


__all__ = ["CA_DAYS", "DEFAULT_DAYS", "cert_common_name", "issue_cert", "make_ca"]
