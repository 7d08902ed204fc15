"""The floors a threshold signature is compared with, measured in the same run.

- ``single-key.ecdsa-secp256k1.sign``: one recoverable secp256k1 signature over a 32-byte digest
  with one whole key in this process (coincurve, libsecp256k1): what a single hot wallet pays.
- ``single-key.eddsa-ed25519.sign``: one Ed25519 signature (PyNaCl, libsodium).
- ``vault-transit.ed25519.sign`` / ``vault-transit.ecdsa-p256.sign``: one ``transit/sign`` call
  to a real OpenBao transit engine over HTTP on 127.0.0.1, the whole key inside one Vault: what
  an operator would otherwise use. Vault/OpenBao transit has **no secp256k1 key type**, so the
  ECDSA comparison is with P-256. The calls go through :func:`warifu.client.openbao.api_request`
  (plain HTTP, a new connection per call, as ``warifu`` itself talks to OpenBao); hvac is only
  allowed in the node's storage adapter. Each key's signature is verified once, with the public
  key the engine reports, so the floor is a real signature.

(``grpc.rtt`` needs the cluster; the harness measures it on the client's own channel.)
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import coincurve
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from nacl.signing import SigningKey, VerifyKey

from warifu.client import openbao

MESSAGE = b"warifu benchmark: the same 32-ish bytes every time...."
TRANSIT_MOUNT = "bench-transit"
VAULT_NO_SECP256K1 = (
    "Vault/OpenBao transit has no secp256k1 key type: the ECDSA Vault floor is ecdsa-p256 "
    "(a different curve with the same kind of work: one ECDSA signature inside one server)."
)


def timed(fn: Callable[[], Any], count: int, warmup: int) -> list[float]:
    """Milliseconds of ``count`` sequential calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        fn()
        out.append(1000.0 * (time.perf_counter() - t0))
    return out


def single_key(count: int) -> dict[str, list[float]]:
    """The in-process single-key signatures."""
    secp = coincurve.PrivateKey()
    digest = hashlib.sha256(MESSAGE).digest()
    ed = SigningKey.generate()
    sig = secp.sign_recoverable(digest, hasher=None)
    assert coincurve.PublicKey.from_signature_and_message(sig, digest, hasher=None) == (
        secp.public_key
    )
    ed.verify_key.verify(MESSAGE, ed.sign(MESSAGE).signature)
    return {
        "single-key.ecdsa-secp256k1.sign": timed(
            lambda: secp.sign_recoverable(digest, hasher=None), count, count // 10 + 10
        ),
        "single-key.eddsa-ed25519.sign": timed(lambda: ed.sign(MESSAGE), count, count // 10 + 10),
    }


def _free_port_pair() -> int:
    """A port ``p`` with ``p`` and ``p + 1`` free on 127.0.0.1 (OpenBao binds both)."""
    for _ in range(200):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            p = int(a.getsockname()[1])
            if p >= 65534:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", p + 1))
                except OSError:
                    continue
                return p
    raise RuntimeError("no free port pair on 127.0.0.1")


@dataclass(frozen=True, slots=True)
class Vault:
    """An OpenBao/Vault to sign with: its address and a token allowed to use transit."""

    addr: str
    token: str
    started: bool


@contextlib.contextmanager
def vault(addr: str | None = None, token: str | None = None) -> Iterator[Vault]:
    """The given Vault, or a dev OpenBao started for the benchmark (and stopped after)."""
    if addr:
        yield Vault(addr, token or "", False)
        return
    with tempfile.TemporaryDirectory(prefix="warifu-bench-bao-") as tmp:
        server = openbao.start_openbao(Path(tmp) / "bao", _free_port_pair(), dev=True)
        try:
            yield Vault(server.addr, server.root_token, True)
        finally:
            openbao.stop_openbao(server)


def _ok(resp: tuple[int, dict[str, Any]], what: str) -> dict[str, Any]:
    status, body = resp
    if status >= 400:
        raise RuntimeError(f"OpenBao {what}: HTTP {status} {body.get('errors')}")
    return body


def _setup_transit(v: Vault) -> None:
    status, mounts = openbao.api_request(v.addr, "GET", "sys/mounts", token=v.token)
    table = mounts.get("data", mounts) if status < 400 else {}
    if f"{TRANSIT_MOUNT}/" not in table:
        _ok(
            openbao.api_request(
                v.addr,
                "POST",
                f"sys/mounts/{TRANSIT_MOUNT}",
                token=v.token,
                body={"type": "transit"},
            ),
            "mount transit",
        )
    for name, kind in (("bench-ed25519", "ed25519"), ("bench-p256", "ecdsa-p256")):
        _ok(
            openbao.api_request(
                v.addr, "POST", f"{TRANSIT_MOUNT}/keys/{name}", token=v.token, body={"type": kind}
            ),
            f"create {kind} key",
        )


def _public_key(v: Vault, name: str) -> str:
    body = _ok(
        openbao.api_request(v.addr, "GET", f"{TRANSIT_MOUNT}/keys/{name}", token=v.token),
        "read key",
    )
    keys = body["data"]["keys"]
    return str(keys[str(body["data"]["latest_version"])]["public_key"])


def _sign(v: Vault, path: str, message_b64: str) -> str:
    body = _ok(
        openbao.api_request(
            v.addr,
            "POST",
            f"{TRANSIT_MOUNT}/sign/{path}",
            token=v.token,
            body={"input": message_b64},
        ),
        "sign",
    )
    return str(body["data"]["signature"])


def _raw(sig: str) -> bytes:
    # "vault:v1:<base64>"
    return base64.b64decode(sig.split(":", 2)[2])


def vault_transit(v: Vault, count: int) -> dict[str, list[float]]:
    """``transit/sign`` with an ed25519 and an ecdsa-p256 key; each verified once first."""
    _setup_transit(v)
    msg = base64.b64encode(MESSAGE).decode()
    ed_sig = _raw(_sign(v, "bench-ed25519", msg))
    VerifyKey(base64.b64decode(_public_key(v, "bench-ed25519"))).verify(MESSAGE, ed_sig)
    p256 = serialization.load_pem_public_key(_public_key(v, "bench-p256").encode())
    assert isinstance(p256, ec.EllipticCurvePublicKey)
    p256.verify(_raw(_sign(v, "bench-p256/sha2-256", msg)), MESSAGE, ec.ECDSA(hashes.SHA256()))
    warm = count // 10 + 10
    return {
        "vault-transit.ed25519.sign": timed(lambda: _sign(v, "bench-ed25519", msg), count, warm),
        "vault-transit.ecdsa-p256.sign": timed(
            lambda: _sign(v, "bench-p256/sha2-256", msg), count, warm
        ),
    }


__all__ = ["VAULT_NO_SECP256K1", "Vault", "single_key", "timed", "vault", "vault_transit"]
