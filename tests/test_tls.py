"""Dev TLS material (client/tls.py): chains verify with cryptography's verifier and in grpc."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from warifu.client.tls import cert_common_name, issue_cert, make_ca


@pytest.fixture(scope="module")
def ca() -> tuple[bytes, bytes]:
    return make_ca("warifu-test-ca")


@pytest.fixture(scope="module")
def node_cert(ca: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    return issue_cert(*ca, "node-1", server=True, client=True)


@pytest.fixture(scope="module")
def client_cert(ca: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    return issue_cert(*ca, "warifu-cli", server=False, client=True)


def _load(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def _store(ca_pem: bytes) -> Store:
    return Store([_load(ca_pem)])


def test_ca_is_a_p256_ca(ca: tuple[bytes, bytes]) -> None:
    cert = _load(ca[0])
    assert cert_common_name(ca[0]) == "warifu-test-ca"
    assert cert.issuer == cert.subject
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    key = serialization.load_pem_private_key(ca[1], password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert key.public_key() == cert.public_key()


def test_node_cert_verifies_as_server_and_as_client(
    ca: tuple[bytes, bytes], node_cert: tuple[bytes, bytes]
) -> None:
    leaf = _load(node_cert[0])
    assert cert_common_name(node_cert[0]) == "node-1"
    assert cert_common_name(node_cert[0].decode()) == "node-1"
    builder = PolicyBuilder().store(_store(ca[0]))
    chain = builder.build_server_verifier(x509.DNSName("localhost")).verify(leaf, [])
    assert chain[-1] == _load(ca[0])
    builder.build_server_verifier(x509.IPAddress(ipaddress.ip_address("127.0.0.1"))).verify(
        leaf, []
    )
    verified = builder.build_client_verifier().verify(leaf, [])
    assert verified.chain[0] == leaf
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key = serialization.load_pem_private_key(node_cert[1], password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key() == leaf.public_key()


def test_client_cert_is_client_only(
    ca: tuple[bytes, bytes], client_cert: tuple[bytes, bytes]
) -> None:
    leaf = _load(client_cert[0])
    assert cert_common_name(client_cert[0]) == "warifu-cli"
    builder = PolicyBuilder().store(_store(ca[0]))
    builder.build_client_verifier().verify(leaf, [])
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(VerificationError):
        builder.build_server_verifier(x509.DNSName("localhost")).verify(leaf, [])


def test_cert_from_another_ca_does_not_verify(ca: tuple[bytes, bytes]) -> None:
    other = make_ca("warifu-test-ca")  # same name, different key
    foreign = _load(issue_cert(*other, "node-1", server=True, client=True)[0])
    builder = PolicyBuilder().store(_store(ca[0]))
    with pytest.raises(VerificationError):
        builder.build_server_verifier(x509.DNSName("localhost")).verify(foreign, [])
    with pytest.raises(VerificationError):
        builder.build_client_verifier().verify(foreign, [])
    # and it does verify against its own CA, so the failure above is the CA, not the cert
    PolicyBuilder().store(_store(other[0])).build_client_verifier().verify(foreign, [])


def test_san_is_what_was_asked_for(ca: tuple[bytes, bytes]) -> None:
    pem, _ = issue_cert(
        *ca, "node-9", server=True, client=False, dns=["node9.example"], ips=["::1", "10.0.0.9"]
    )
    leaf = _load(pem)
    builder = PolicyBuilder().store(_store(ca[0]))
    builder.build_server_verifier(x509.DNSName("node9.example")).verify(leaf, [])
    with pytest.raises(VerificationError):
        builder.build_server_verifier(x509.DNSName("localhost")).verify(leaf, [])
    with pytest.raises(VerificationError):
        builder.build_client_verifier().verify(leaf, [])
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("::1"),
        ipaddress.ip_address("10.0.0.9"),
    ]


def test_issue_cert_rejects_useless_requests(ca: tuple[bytes, bytes]) -> None:
    with pytest.raises(ValueError):
        issue_cert(*ca, "x", server=False, client=False)
    with pytest.raises(ValueError):
        issue_cert(*ca, "x", server=True, client=True, dns=[], ips=[])
    with pytest.raises(ValueError):
        issue_cert(*ca, "", server=True, client=True)


# --- the same material in a real mTLS handshake (grpc / BoringSSL) ------------------------


@pytest.fixture(scope="module")
def mtls_server(ca: tuple[bytes, bytes], node_cert: tuple[bytes, bytes]) -> Iterator[int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    svc = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(svc, server)
    creds = grpc.ssl_server_credentials(
        [(node_cert[1], node_cert[0])], root_certificates=ca[0], require_client_auth=True
    )
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    try:
        yield port
    finally:
        server.stop(None).wait()


def _check(port: int, ca_pem: bytes, cert: tuple[bytes, bytes], target: str = "localhost") -> int:
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca_pem, private_key=cert[1], certificate_chain=cert[0]
    )
    with grpc.secure_channel(f"{target}:{port}", creds) as ch:
        resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        return int(resp.status)


def test_grpc_mtls_accepts_our_client_and_node_certs(
    mtls_server: int,
    ca: tuple[bytes, bytes],
    client_cert: tuple[bytes, bytes],
    node_cert: tuple[bytes, bytes],
) -> None:
    port = mtls_server
    assert _check(port, ca[0], client_cert) == health_pb2.HealthCheckResponse.SERVING
    assert _check(port, ca[0], node_cert, "127.0.0.1") == health_pb2.HealthCheckResponse.SERVING


def test_grpc_mtls_rejects_a_client_of_another_ca(
    mtls_server: int, ca: tuple[bytes, bytes]
) -> None:
    port = mtls_server
    other = make_ca("other-ca")
    foreign = issue_cert(*other, "warifu-cli", server=False, client=True)
    with pytest.raises(grpc.RpcError) as ei:
        _check(port, ca[0], foreign)
    assert ei.value.code() == grpc.StatusCode.UNAVAILABLE
