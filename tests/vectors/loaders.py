"""Tiny loaders for the stored test vectors: JSON in, typed records out.

The records keep every value as raw bytes (hex-decoded) exactly as the file has it; decoding
into points and scalars is the test's business, so a loader bug cannot hide a decoder bug.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FROST_DIR = Path(__file__).parent / "frost"


@dataclass(frozen=True)
class FrostRoundOne:
    """One signer's round-one values."""

    identifier: int
    hiding_nonce_randomness: bytes
    binding_nonce_randomness: bytes
    hiding_nonce: bytes
    binding_nonce: bytes
    hiding_nonce_commitment: bytes
    binding_nonce_commitment: bytes
    binding_factor_input: bytes
    binding_factor: bytes


@dataclass(frozen=True)
class FrostSigningVector:
    """A full FROST signing vector (RFC 9591 Appendix E layout, also used by ZF)."""

    id: str
    group: str
    max_participants: int
    min_participants: int
    num_participants: int
    participant_list: tuple[int, ...]
    group_secret_key: bytes
    group_public_key: bytes
    message: bytes
    share_polynomial_coefficients: tuple[bytes, ...]
    participant_shares: dict[int, bytes]
    round_one: tuple[FrostRoundOne, ...]
    sig_shares: dict[int, bytes]
    sig: bytes


def _load(path: Path) -> Any:
    with path.open() as f:
        return json.load(f)


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


def load_frost_signing_vector(relpath: str) -> FrostSigningVector:
    """Load ``tests/vectors/frost/<relpath>`` (RFC or ZF ``vectors*.json``)."""
    data = _load(FROST_DIR / relpath)
    cfg, inputs = data["config"], data["inputs"]
    # RFC files call the group key ``group_public_key``, ZF files ``verifying_key_key``.
    group_public_key = inputs.get("group_public_key", inputs.get("verifying_key_key"))
    if group_public_key is None:
        raise KeyError(f"{relpath}: no group public key field")
    return FrostSigningVector(
        id=relpath,
        group=cfg["group"],
        max_participants=int(cfg["MAX_PARTICIPANTS"]),
        min_participants=int(cfg["MIN_PARTICIPANTS"]),
        num_participants=int(cfg["NUM_PARTICIPANTS"]),
        participant_list=tuple(int(i) for i in inputs["participant_list"]),
        group_secret_key=_h(inputs["group_secret_key"]),
        group_public_key=_h(group_public_key),
        message=_h(inputs["message"]),
        share_polynomial_coefficients=tuple(_h(c) for c in inputs["share_polynomial_coefficients"]),
        participant_shares={
            int(p["identifier"]): _h(p["participant_share"]) for p in inputs["participant_shares"]
        },
        round_one=tuple(
            FrostRoundOne(
                identifier=int(o["identifier"]),
                hiding_nonce_randomness=_h(o["hiding_nonce_randomness"]),
                binding_nonce_randomness=_h(o["binding_nonce_randomness"]),
                hiding_nonce=_h(o["hiding_nonce"]),
                binding_nonce=_h(o["binding_nonce"]),
                hiding_nonce_commitment=_h(o["hiding_nonce_commitment"]),
                binding_nonce_commitment=_h(o["binding_nonce_commitment"]),
                binding_factor_input=_h(o["binding_factor_input"]),
                binding_factor=_h(o["binding_factor"]),
            )
            for o in data["round_one_outputs"]["outputs"]
        ),
        sig_shares={
            int(o["identifier"]): _h(o["sig_share"]) for o in data["round_two_outputs"]["outputs"]
        },
        sig=_h(data["final_output"]["sig"]),
    )


FROST_SIGNING_VECTOR_FILES: tuple[str, ...] = (
    "rfc9591/frost-ed25519-sha512.json",
    "rfc9591/frost-secp256k1-sha256.json",
    "zf-frost/ed25519/vectors.json",
    "zf-frost/secp256k1/vectors.json",
    "zf-frost/ed25519/vectors-big-identifier.json",
    "zf-frost/secp256k1/vectors-big-identifier.json",
)


def load_frost_signing_vectors() -> list[FrostSigningVector]:
    """Every FROST signing vector we store, RFC first."""
    return [load_frost_signing_vector(p) for p in FROST_SIGNING_VECTOR_FILES]


@dataclass(frozen=True)
class FrostInvalidElement:
    """An element encoding that ``DeserializeElement`` must reject (ZF ``elements.json``)."""

    id: str
    group: str
    encoding: bytes


def load_frost_invalid_elements() -> list[FrostInvalidElement]:
    """ZF ``elements.json`` of both suites."""
    out = []
    for group in ("ed25519", "secp256k1"):
        rel = f"zf-frost/{group}/elements.json"
        data = _load(FROST_DIR / rel)
        out.append(
            FrostInvalidElement(
                id=rel, group=group, encoding=_h(data["elements"]["invalid_element"])
            )
        )
    return out
