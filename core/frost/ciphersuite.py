"""FROST ciphersuites: the group, the context string and the hash functions H1..H5.

Spec: https://www.rfc-editor.org/rfc/rfc9591#section-6 (ciphersuites), in particular
https://www.rfc-editor.org/rfc/rfc9591#section-6.1 (FROST(Ed25519, SHA-512)) and
https://www.rfc-editor.org/rfc/rfc9591#section-6.5 (FROST(secp256k1, SHA-256)).

warifu ships FROST(Ed25519, SHA-512). FROST(secp256k1, SHA-256) is defined only so that the
generic protocol code can be cross-checked against a second set of RFC vectors: its 65-byte
Schnorr signatures are verified by no chain we serve (``specs/chains.md`` §0.2).

Notation (RFC 9591 §6):

=========  ============================================================================
``ctx``    the ciphersuite's ``contextString`` (ASCII, no NUL)
``H1``     binding factor hash (``"rho"``), to a scalar
``H2``     challenge hash, to a scalar (Ed25519: no domain separator, equals RFC 8032 ``k``)
``H3``     nonce hash (``"nonce"``), to a scalar
``H4``     message hash (``"msg"``), raw digest
``H5``     commitment list hash (``"com"``), raw digest
=========  ============================================================================
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from warifu.core.curves import ED25519, SECP256K1, Group
from warifu.core.errors import InvalidArguments

__all__ = [
    "FROST_ED25519_SHA512",
    "FROST_SECP256K1_SHA256",
    "SUITES",
    "Ciphersuite",
    "expand_message_xmd_sha256",
    "suite_by_id",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Ciphersuite:
    """A FROST ciphersuite: prime-order group, context string and H1..H5.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-6

    ``suite_id`` is warifu's one-byte wire identifier of the suite; every serialized FROST
    package starts with ``(format_version, suite_id)`` so a blob of one suite can never be
    parsed as another.
    """

    name: str
    suite_id: int
    context_string: bytes
    group: Group
    h1: Callable[[bytes], int]
    h2: Callable[[bytes], int]
    h3: Callable[[bytes], int]
    h4: Callable[[bytes], bytes]
    h5: Callable[[bytes], bytes]

    def serialize_identifier(self, identifier: int) -> bytes:
        """The identifier as the RFC serializes it inside hashes: ``SerializeScalar(i)``.

        Spec: https://www.rfc-editor.org/rfc/rfc9591#section-3.1
        """
        encoded: bytes = self.group.encode_scalar(identifier)
        return encoded

    @property
    def signature_len(self) -> int:
        """``Ne + Ns``: 64 bytes for Ed25519, 65 for secp256k1."""
        point_len: int = self.group.point_len
        scalar_len: int = self.group.scalar_len
        return point_len + scalar_len

    def __repr__(self) -> str:
        return f"Ciphersuite({self.name})"


# --- FROST(Ed25519, SHA-512) ------------------------------------------------------------------

_ED25519_CTX = b"FROST-ED25519-SHA512-v1"
_ED25519_ORDER: int = ED25519.order


def _sha512_mod_l(data: bytes) -> int:
    return int.from_bytes(hashlib.sha512(data).digest(), "little") % _ED25519_ORDER


def _ed25519_h1(m: bytes) -> int:
    return _sha512_mod_l(_ED25519_CTX + b"rho" + m)


def _ed25519_h2(m: bytes) -> int:
    # No domain separator on purpose: the challenge must equal RFC 8032's k = SHA512(R‖A‖M).
    return _sha512_mod_l(m)


def _ed25519_h3(m: bytes) -> int:
    return _sha512_mod_l(_ED25519_CTX + b"nonce" + m)


def _ed25519_h4(m: bytes) -> bytes:
    return hashlib.sha512(_ED25519_CTX + b"msg" + m).digest()


def _ed25519_h5(m: bytes) -> bytes:
    return hashlib.sha512(_ED25519_CTX + b"com" + m).digest()


FROST_ED25519_SHA512 = Ciphersuite(
    name="FROST(Ed25519, SHA-512)",
    suite_id=1,
    context_string=_ED25519_CTX,
    group=ED25519,
    h1=_ed25519_h1,
    h2=_ed25519_h2,
    h3=_ed25519_h3,
    h4=_ed25519_h4,
    h5=_ed25519_h5,
)
"""FROST(Ed25519, SHA-512), RFC 9591 §6.1: the suite warifu ships."""


# --- FROST(secp256k1, SHA-256) ----------------------------------------------------------------

_SECP256K1_CTX = b"FROST-secp256k1-SHA256-v1"
_SECP256K1_ORDER: int = SECP256K1.order
_SHA256_B_IN_BYTES = 32
_SHA256_S_IN_BYTES = 64
_HASH_TO_FIELD_L = 48


def expand_message_xmd_sha256(msg: bytes, dst: bytes, len_in_bytes: int) -> bytes:
    """``expand_message_xmd`` with SHA-256.

    Spec: https://www.rfc-editor.org/rfc/rfc9380#section-5.3.1
    """
    ell = -(-len_in_bytes // _SHA256_B_IN_BYTES)
    if ell > 255 or len_in_bytes > 65535 or len(dst) > 255:
        raise InvalidArguments("expand_message_xmd: parameters out of range")
    dst_prime = dst + len(dst).to_bytes(1, "big")
    z_pad = bytes(_SHA256_S_IN_BYTES)
    l_i_b_str = len_in_bytes.to_bytes(2, "big")
    b_0 = hashlib.sha256(z_pad + msg + l_i_b_str + b"\x00" + dst_prime).digest()
    b_i = hashlib.sha256(b_0 + b"\x01" + dst_prime).digest()
    out = [b_i]
    for i in range(2, ell + 1):
        mixed = bytes(x ^ y for x, y in zip(b_0, b_i, strict=True))
        b_i = hashlib.sha256(mixed + i.to_bytes(1, "big") + dst_prime).digest()
        out.append(b_i)
    return b"".join(out)[:len_in_bytes]


def _secp256k1_hash_to_field(m: bytes, tag: bytes) -> int:
    """``hash_to_field(m, 1)`` into the scalar field, L = 48 (RFC 9380 §5.2, RFC 9591 §6.5)."""
    uniform = expand_message_xmd_sha256(m, _SECP256K1_CTX + tag, _HASH_TO_FIELD_L)
    return int.from_bytes(uniform, "big") % _SECP256K1_ORDER


def _secp256k1_h1(m: bytes) -> int:
    return _secp256k1_hash_to_field(m, b"rho")


def _secp256k1_h2(m: bytes) -> int:
    return _secp256k1_hash_to_field(m, b"chal")


def _secp256k1_h3(m: bytes) -> int:
    return _secp256k1_hash_to_field(m, b"nonce")


def _secp256k1_h4(m: bytes) -> bytes:
    return hashlib.sha256(_SECP256K1_CTX + b"msg" + m).digest()


def _secp256k1_h5(m: bytes) -> bytes:
    return hashlib.sha256(_SECP256K1_CTX + b"com" + m).digest()


FROST_SECP256K1_SHA256 = Ciphersuite(
    name="FROST(secp256k1, SHA-256)",
    suite_id=2,
    context_string=_SECP256K1_CTX,
    group=SECP256K1,
    h1=_secp256k1_h1,
    h2=_secp256k1_h2,
    h3=_secp256k1_h3,
    h4=_secp256k1_h4,
    h5=_secp256k1_h5,
)
"""FROST(secp256k1, SHA-256), RFC 9591 §6.5: a cross-check of the generic core only."""


SUITES: dict[int, Ciphersuite] = {
    FROST_ED25519_SHA512.suite_id: FROST_ED25519_SHA512,
    FROST_SECP256K1_SHA256.suite_id: FROST_SECP256K1_SHA256,
}


def suite_by_id(suite_id: int) -> Ciphersuite:
    """The ciphersuite with wire id ``suite_id``; InvalidArguments(INVALID_ENCODING) if unknown."""
    try:
        return SUITES[suite_id]
    except KeyError:
        raise InvalidArguments(
            f"unknown FROST ciphersuite id {suite_id}", reason="INVALID_ENCODING"
        ) from None
