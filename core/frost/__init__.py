"""FROST threshold Schnorr signing (RFC 9591), generic over a ciphersuite.

Spec: https://www.rfc-editor.org/rfc/rfc9591 and ``specs/chains.md`` §1.

warifu ships FROST(Ed25519, SHA-512) (:data:`FROST_ED25519_SHA512`); its signatures are plain
RFC 8032 Ed25519 signatures. :data:`FROST_SECP256K1_SHA256` exists only to cross-check the
generic core against the RFC's second set of vectors.

Flow: every signer runs :func:`commit` (round 1, may be precomputed) and keeps the
:class:`SigningNonces`; the coordinator builds a :class:`SigningPackage`; every signer runs
:func:`sign` (round 2); the coordinator runs :func:`aggregate`, which verifies before release
and names every cheater.
"""

from .ciphersuite import (
    FROST_ED25519_SHA512,
    FROST_SECP256K1_SHA256,
    SUITES,
    Ciphersuite,
    suite_by_id,
)
from .signing import (
    FORMAT_VERSION,
    SignatureShare,
    SigningCommitments,
    SigningNonces,
    SigningPackage,
    aggregate,
    binding_factor_inputs,
    commit,
    commit_with_randomness,
    compute_binding_factors,
    compute_challenge,
    compute_group_commitment,
    encode_group_commitment_list,
    nonce_generate,
    nonce_generate_from_random_bytes,
    sign,
    verify,
    verify_signature_share,
)

__all__ = [
    "FORMAT_VERSION",
    "FROST_ED25519_SHA512",
    "FROST_SECP256K1_SHA256",
    "SUITES",
    "Ciphersuite",
    "SignatureShare",
    "SigningCommitments",
    "SigningNonces",
    "SigningPackage",
    "aggregate",
    "binding_factor_inputs",
    "commit",
    "commit_with_randomness",
    "compute_binding_factors",
    "compute_challenge",
    "compute_group_commitment",
    "encode_group_commitment_list",
    "nonce_generate",
    "nonce_generate_from_random_bytes",
    "sign",
    "suite_by_id",
    "verify",
    "verify_signature_share",
]
