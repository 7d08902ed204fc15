"""XRP Ledger transactions: strict parsing, signing bytes, addresses, signature attachment.

Spec: ``specs/chains.md`` §2 (rippled ``STTx.cpp`` / ``PublicKey.cpp``).

- The signing data is ``STX\\0 ‖ serialize(tx without TxnSignature/Signers)``; it includes
  ``SigningPubKey``, so that field is set to the group key *before* the signing bytes are
  built. xrpl-py's binary codec produces it (``encode_for_signing``); warifu never serialises
  XRPL itself.
- Ed25519 keys: ``SigningPubKey = 0xED ‖ A``; the signature is PureEdDSA over the *full*
  signing bytes. secp256k1 keys: ``SigningPubKey`` = 33-byte compressed point; the signature
  is ECDSA over ``SHA512Half(signing bytes)``, strict DER, low S.
- Transaction ID = ``SHA512Half("TXN\\0" ‖ signed blob)``.
- rippled is stricter than xrpl-py's ``is_valid_message``: it requires ``S < L`` for Ed25519
  and strict DER + low S for secp256k1 (:func:`is_canonical_ed25519_signature`,
  :func:`der_is_strict_low_s`). :func:`verify_signature` applies those rules and then
  libsodium / libsecp256k1.

The node does no autofill: ``Fee`` and ``Sequence`` must be in the request, so a policy sees
the final transaction. Everything here is pure (no I/O, no clock, no randomness).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

import nacl.bindings as sodium
from coincurve import PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from nacl.exceptions import BadSignatureError
from xrpl.constants import XRPLException
from xrpl.core.addresscodec import encode_classic_address
from xrpl.core.binarycodec import decode, encode, encode_for_signing

from warifu.core.chains._json import MAX_JSON_DEPTH, json_depth
from warifu.core.curves import group_by_name
from warifu.core.curves.ed25519 import L as _ED25519_L
from warifu.core.curves.secp256k1 import Q as _SECP256K1_Q
from warifu.core.errors import InvalidArguments

#: Default cap on the size of a transaction JSON accepted for signing (matches the node's
#: ``limits.max_request_bytes`` default).
MAX_TX_JSON_BYTES = 64 * 1024

#: HashPrefix::transactionID (``"TXN\\0"``) and HashPrefix::txSign (``"STX\\0"``).
TXN_PREFIX = b"TXN\x00"
STX_PREFIX = b"STX\x00"

ED25519_KEY_PREFIX = 0xED

# Annotated here so the module type-checks even where mypy cannot resolve warifu.* imports.
ED25519_ORDER: int = _ED25519_L
SECP256K1_ORDER: int = _SECP256K1_Q

#: Reasons carried by :class:`InvalidArguments` raised here (stable wire strings).
REASON_INVALID_JSON = "INVALID_JSON"
REASON_INVALID_TRANSACTION = "INVALID_TRANSACTION"
REASON_MISSING_FIELD = "MISSING_FIELD"
REASON_ALREADY_SIGNED = "ALREADY_SIGNED"
REASON_SIGNING_PUBKEY_MISMATCH = "SIGNING_PUBKEY_MISMATCH"
REASON_TOO_LARGE = "TRANSACTION_TOO_LARGE"
REASON_INVALID_PUBLIC_KEY = "INVALID_PUBLIC_KEY"
REASON_NON_CANONICAL_SIGNATURE = "NON_CANONICAL_SIGNATURE"
REASON_INVALID_SIGNATURE = "INVALID_SIGNATURE"

#: Deepest JSON nesting accepted (real transactions stay below 8: Memos[].Memo.MemoData).
MAX_NESTING = 16

#: Fields the node requires because it does no autofill (chains.md §2.1: they must be final).
REQUIRED_FIELDS = ("TransactionType", "Account", "Fee", "Sequence")

# Everything the codec raises for bad input (it has no single exception type: KeyError for an
# unknown field or TransactionType, ValueError for bad hex, decimal/overflow errors, ...).
_CODEC_ERRORS = (
    XRPLException,
    KeyError,
    ValueError,
    TypeError,
    ArithmeticError,
    IndexError,
    RecursionError,
)


class SignedTransaction(NamedTuple):
    """The result of :func:`attach_signature`; unpacks as ``(blob, hash, json)``."""

    tx_blob: str
    """The signed transaction, uppercase hex (what ``submit`` takes)."""
    tx_hash: str
    """The transaction ID, uppercase hex: ``SHA512Half("TXN\\0" ‖ blob)``."""
    tx_json: str
    """The signed transaction decoded back to JSON (canonical field order)."""


def sha512_half(data: bytes) -> bytes:
    """The first 32 bytes of SHA-512 (rippled ``sha512Half``)."""
    return hashlib.sha512(data).digest()[:32]


def secp256k1_digest(signing_bytes: bytes) -> bytes:
    """The 32-byte digest a secp256k1 key signs: ``SHA512Half(signing bytes)`` (chains.md §2.2).

    ``signing_bytes`` is the output of :func:`signing_bytes` (``STX\\0 ‖ fields``). The digest
    is signed as a hash, with no further hashing (coincurve ``hasher=None``).
    """
    return sha512_half(signing_bytes)


def der_signature(r: int, s: int) -> bytes:
    """Strict (minimal) DER ``30 len 02 lenR R 02 lenS S`` of an ECDSA signature ``(r, s)``.

    ``r`` and ``s`` must be in ``[1, n)``. ``s`` is encoded as given: rippled requires low S
    (``s <= n - s``), so normalise first (``warifu.core.chains.eth.normalize_low_s``);
    :func:`attach_signature` refuses a high S. The output passes :func:`der_is_strict_low_s`
    whenever ``s`` is low.
    """
    for name, value in (("r", r), ("s", s)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArguments(f"{name} must be an integer", reason=REASON_INVALID_SIGNATURE)
        if not 1 <= value < SECP256K1_ORDER:
            raise InvalidArguments(f"{name} is not in [1, n)", reason=REASON_INVALID_SIGNATURE)
    return bytes(encode_dss_signature(r, s))


def _ripemd160(data: bytes) -> bytes:
    try:
        return hashlib.new("ripemd160", data).digest()
    except ValueError:  # OpenSSL 3 without the legacy provider
        from Crypto.Hash import RIPEMD160  # pycryptodome, a dependency of xrpl-py

        return bytes(RIPEMD160.new(data).digest())


def signing_pub_key_hex(curve: str, public_key: bytes) -> str:
    """The ``SigningPubKey`` field for a group key (uppercase hex, 33 bytes).

    ``ed25519``: ``"ED" ‖ A`` for the 32-byte RFC 8032 key ``A``. ``secp256k1``: the 33-byte
    compressed SEC1 point (a 65-byte uncompressed point is compressed). The point is validated
    by the curve backend (on the curve; Ed25519: prime-order subgroup, not the identity).
    """
    if curve == "ed25519":
        if len(public_key) != 32:
            raise InvalidArguments(
                "ed25519 public key must be 32 bytes", reason=REASON_INVALID_PUBLIC_KEY
            )
        group_by_name(curve).decode_point(public_key)
        return (bytes([ED25519_KEY_PREFIX]) + public_key).hex().upper()
    if curve == "secp256k1":
        if len(public_key) == 65:
            try:
                public_key = PublicKey(public_key).format(compressed=True)
            except ValueError as exc:
                raise InvalidArguments(
                    "invalid secp256k1 public key", reason=REASON_INVALID_PUBLIC_KEY
                ) from exc
        if len(public_key) != 33:
            raise InvalidArguments(
                "secp256k1 public key must be 33 bytes", reason=REASON_INVALID_PUBLIC_KEY
            )
        group_by_name(curve).decode_point(public_key)
        return public_key.hex().upper()
    raise InvalidArguments(
        f"unsupported curve for XRPL: {curve!r}", reason=REASON_INVALID_PUBLIC_KEY
    )


def _spk_bytes(signing_pub_key: bytes | str) -> bytes:
    if isinstance(signing_pub_key, str):
        try:
            signing_pub_key = bytes.fromhex(signing_pub_key)
        except ValueError as exc:
            raise InvalidArguments(
                "SigningPubKey is not hex", reason=REASON_INVALID_PUBLIC_KEY
            ) from exc
    if len(signing_pub_key) != 33 or signing_pub_key[0] not in (ED25519_KEY_PREFIX, 0x02, 0x03):
        raise InvalidArguments(
            "SigningPubKey must be 33 bytes: 0xED ‖ ed25519 key or a compressed secp256k1 key",
            reason=REASON_INVALID_PUBLIC_KEY,
        )
    return signing_pub_key


def classic_address(signing_pub_key: bytes | str) -> str:
    """The classic address ``r…`` of a 33-byte ``SigningPubKey`` (bytes or hex).

    ``AccountID = RIPEMD160(SHA256(key))`` with the 0xED prefix included for Ed25519, then
    base58check with the ripple alphabet (chains.md §2.4).
    """
    key = _spk_bytes(signing_pub_key)
    return encode_classic_address(_ripemd160(hashlib.sha256(key).digest()))


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for k, v in pairs:
        if k in obj:
            raise InvalidArguments(f"duplicate JSON key {k!r}", reason=REASON_INVALID_JSON)
        obj[k] = v
    return obj


def _reject_constant(name: str) -> Any:
    raise InvalidArguments(f"JSON constant {name} is not allowed", reason=REASON_INVALID_JSON)


def _check_values(value: Any, path: str, depth: int = 0) -> None:
    """XRPL JSON has no floats or booleans and is shallow; reject instead of letting the codec
    coerce a value (``True`` -> 1) or recurse without bound."""
    if depth > MAX_NESTING:
        raise InvalidArguments(
            f"{path}: nested deeper than {MAX_NESTING}", reason=REASON_INVALID_TRANSACTION
        )
    if isinstance(value, bool | float):
        raise InvalidArguments(
            f"{path}: {type(value).__name__} values are not valid in an XRPL transaction",
            reason=REASON_INVALID_TRANSACTION,
        )
    if isinstance(value, dict):
        for k, v in value.items():
            _check_values(v, f"{path}.{k}", depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_values(v, f"{path}[{i}]", depth + 1)


def parse_transaction(
    tx_json: str | bytes,
    signing_pub_key_hex: str | None = None,
    *,
    max_bytes: int = MAX_TX_JSON_BYTES,
) -> dict[str, Any]:
    """Parse and strictly validate an unsigned XRPL transaction given as JSON.

    Returns the transaction in canonical form, ``decode(encode(tx))``: exactly what will be
    signed, so a policy reads the same fields the ledger will (lowercase hex upper-cased,
    an X-address split into classic address and tag, canonical field order).

    Rejected with :class:`InvalidArguments` (``reason``):

    - larger than ``max_bytes`` (``TRANSACTION_TOO_LARGE``);
    - not UTF-8 JSON, duplicate keys, NaN/Infinity (``INVALID_JSON``);
    - not a JSON object, floats or booleans anywhere, anything the binary codec refuses:
      unknown fields, unknown ``TransactionType``, bad field values (``INVALID_TRANSACTION``);
    - missing ``TransactionType``, ``Account``, ``Fee`` or ``Sequence``; the node does no
      autofill (``MISSING_FIELD``);
    - ``TxnSignature`` or ``Signers`` already present (``ALREADY_SIGNED``);
    - ``SigningPubKey`` present and not equal to ``signing_pub_key_hex`` when that is given
      (``SIGNING_PUBKEY_MISMATCH``). An empty one, the default of xrpl-py's ``to_xrpl()``,
      counts as absent: :func:`signing_bytes` fills it in (``Signers`` is refused anyway).

    An ``Account`` that is not the key's own address is allowed (the key may be the account's
    RegularKey); see :func:`uses_regular_key` to report it.
    """
    raw = tx_json.encode("utf-8") if isinstance(tx_json, str) else bytes(tx_json)
    if len(raw) > max_bytes:
        raise InvalidArguments(
            f"transaction JSON is {len(raw)} bytes; the limit is {max_bytes}",
            reason=REASON_TOO_LARGE,
        )
    try:
        text = raw.decode("utf-8")
        if json_depth(text) > MAX_JSON_DEPTH:  # not left to sys.getrecursionlimit() (_json.py)
            raise json.JSONDecodeError(f"nested deeper than {MAX_JSON_DEPTH}", text, 0)
        tx = json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    # ValueError also covers an integer beyond Python's int-string conversion limit (4300
    # digits), which json.loads raises as a plain ValueError, not a JSONDecodeError.
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidArguments(
            f"transaction is not valid JSON: {exc}", reason=REASON_INVALID_JSON
        ) from exc
    if not isinstance(tx, dict):
        raise InvalidArguments(
            f"transaction must be a JSON object, not {type(tx).__name__}",
            reason=REASON_INVALID_TRANSACTION,
        )
    for name in REQUIRED_FIELDS:
        if name not in tx:
            raise InvalidArguments(
                f"transaction has no {name} (no autofill)", reason=REASON_MISSING_FIELD
            )
    if "TxnSignature" in tx:
        raise InvalidArguments(
            "transaction is already signed (TxnSignature present)", reason=REASON_ALREADY_SIGNED
        )
    if "Signers" in tx:
        raise InvalidArguments(
            "transaction is already multi-signed (Signers present)", reason=REASON_ALREADY_SIGNED
        )
    _check_values(tx, "tx")
    if not isinstance(tx["TransactionType"], str):
        raise InvalidArguments(
            "TransactionType must be a string", reason=REASON_INVALID_TRANSACTION
        )
    if not isinstance(tx["Sequence"], int):
        raise InvalidArguments("Sequence must be an integer", reason=REASON_INVALID_TRANSACTION)
    try:
        blob = encode(tx)
        canonical: dict[str, Any] = decode(blob)
    except _CODEC_ERRORS as exc:
        raise InvalidArguments(
            f"invalid XRPL transaction: {type(exc).__name__}: {exc}",
            reason=REASON_INVALID_TRANSACTION,
        ) from exc
    if signing_pub_key_hex is not None and "SigningPubKey" in canonical:
        _check_signing_pub_key(canonical, _spk_bytes(signing_pub_key_hex).hex().upper())
    return canonical


def _check_signing_pub_key(tx: dict[str, Any], expected_upper_hex: str) -> None:
    present = tx.get("SigningPubKey")
    if present == "":
        return  # xrpl-py's to_xrpl() gives an empty SigningPubKey: the node fills it
    if not isinstance(present, str) or present.upper() != expected_upper_hex:
        raise InvalidArguments(
            f"SigningPubKey {present!r} is not this key's {expected_upper_hex}",
            reason=REASON_SIGNING_PUBKEY_MISMATCH,
        )


def uses_regular_key(tx: dict[str, Any], signing_pub_key_hex: str) -> bool:
    """True if ``tx["Account"]`` is not the key's own address.

    Such a transaction is valid on the ledger only if the key is the account's RegularKey; a
    verifier must then read the RegularKey from the ledger (chains.md §2.5).
    """
    return bool(tx.get("Account") != classic_address(signing_pub_key_hex))


def signing_bytes(tx: dict[str, Any], signing_pub_key_hex: str) -> bytes:
    """Set ``tx["SigningPubKey"]`` (in place) and return the bytes to sign: ``STX\\0 ‖ fields``.

    Ed25519 signs these bytes as the message; secp256k1 signs ``sha512_half`` of them.
    A different ``SigningPubKey`` already in ``tx`` is an error, never silently replaced.
    """
    spk = _spk_bytes(signing_pub_key_hex).hex().upper()
    if "SigningPubKey" in tx:
        _check_signing_pub_key(tx, spk)
    if "TxnSignature" in tx or "Signers" in tx:
        raise InvalidArguments("transaction is already signed", reason=REASON_ALREADY_SIGNED)
    tx["SigningPubKey"] = spk
    try:
        data = bytes.fromhex(encode_for_signing(tx))
    except _CODEC_ERRORS as exc:
        raise InvalidArguments(
            f"invalid XRPL transaction: {type(exc).__name__}: {exc}",
            reason=REASON_INVALID_TRANSACTION,
        ) from exc
    if not data.startswith(STX_PREFIX):  # pragma: no cover - the codec's contract
        raise InvalidArguments("codec returned no STX prefix", reason=REASON_INVALID_TRANSACTION)
    return data


def is_canonical_ed25519_signature(sig: bytes) -> bool:
    """rippled ``ed25519Canonical``: 64 bytes and ``S < L`` (S little-endian, ``sig[32:]``)."""
    return len(sig) == 64 and int.from_bytes(sig[32:], "little") < ED25519_ORDER


def _der_part(buf: bytes) -> tuple[int, bytes] | None:
    """rippled ``sigPart``: ``02 len value`` with a minimal, positive, non-zero value."""
    if len(buf) < 3 or buf[0] != 0x02:
        return None
    n = buf[1]
    rest = buf[2:]
    if n > len(rest) or n < 1 or n > 33:
        return None
    if rest[0] & 0x80:
        return None  # negative
    if rest[0] == 0:
        if n == 1:
            return None  # zero
        if not rest[1] & 0x80:
            return None  # padded without need
    return int.from_bytes(rest[:n], "big"), rest[n:]


def der_is_strict_low_s(sig: bytes) -> bool:
    """rippled ``ecdsaCanonicality(sig) == fullyCanonical``: strict DER, ``r, s < n``, low S.

    ``30 len 02 lenR R 02 lenS S`` with 8–72 bytes in total, no trailing bytes, minimal
    positive integers, and ``s <= n - s``.
    """
    if not 8 <= len(sig) <= 72 or sig[0] != 0x30 or sig[1] != len(sig) - 2:
        return False
    r_part = _der_part(sig[2:])
    if r_part is None:
        return False
    r, rest = r_part
    s_part = _der_part(rest)
    if s_part is None:
        return False
    s, rest = s_part
    if rest or r >= SECP256K1_ORDER or s >= SECP256K1_ORDER:
        return False
    return s <= SECP256K1_ORDER - s


def _check_signature_form(signature: bytes, spk: bytes) -> None:
    if spk[0] == ED25519_KEY_PREFIX:
        if not is_canonical_ed25519_signature(signature):
            raise InvalidArguments(
                "Ed25519 signature must be 64 bytes with S < L (rippled ed25519Canonical)",
                reason=REASON_NON_CANONICAL_SIGNATURE,
            )
    elif not der_is_strict_low_s(signature):
        raise InvalidArguments(
            "secp256k1 signature must be strict DER with low S (rippled fullyCanonical)",
            reason=REASON_NON_CANONICAL_SIGNATURE,
        )


def verify_signature(message: bytes, signature: bytes, signing_pub_key: str | bytes) -> None:
    """Verify an XRPL signature as rippled does; raise :class:`InvalidArguments` if invalid.

    ``message`` is the signing bytes (``STX\\0 ‖ fields``). Ed25519: ``S < L`` then libsodium
    (which also rejects non-canonical and small-order ``R``/``A``). secp256k1: strict DER +
    low S, then libsecp256k1 over ``sha512_half(message)`` with no further hashing.
    """
    spk = _spk_bytes(signing_pub_key)
    _check_signature_form(signature, spk)
    try:
        if spk[0] == ED25519_KEY_PREFIX:
            # libsodium crypto_sign_open: raises BadSignatureError if invalid
            sodium.crypto_sign_open(signature + message, spk[1:])
            return
        ok = PublicKey(spk).verify(signature, sha512_half(message), hasher=None)
    except (BadSignatureError, ValueError, TypeError) as exc:
        raise InvalidArguments(
            f"signature does not verify: {exc}", reason=REASON_INVALID_SIGNATURE
        ) from exc
    if not ok:
        raise InvalidArguments("signature does not verify", reason=REASON_INVALID_SIGNATURE)


def attach_signature(tx: dict[str, Any], signature: bytes) -> SignedTransaction:
    """Set ``TxnSignature`` on a copy of ``tx`` (which carries ``SigningPubKey``) and encode it.

    The signature's *form* is checked against rippled's canonicality rules for the key type
    (the cryptographic check is :func:`verify_signature` / :func:`verify_signed_blob`).
    Returns ``(tx_blob, tx_hash, tx_json)``; ``tx_hash`` equals xrpl-py's
    ``Transaction.get_hash()``.
    """
    spk_hex = tx.get("SigningPubKey")
    if not isinstance(spk_hex, str) or not spk_hex:
        raise InvalidArguments("transaction has no SigningPubKey", reason=REASON_MISSING_FIELD)
    if "TxnSignature" in tx or "Signers" in tx:
        raise InvalidArguments("transaction is already signed", reason=REASON_ALREADY_SIGNED)
    _check_signature_form(signature, _spk_bytes(spk_hex))
    signed = dict(tx)
    signed["TxnSignature"] = signature.hex().upper()
    try:
        blob = encode(signed).upper()
        decoded = decode(blob)
    except _CODEC_ERRORS as exc:
        raise InvalidArguments(
            f"invalid XRPL transaction: {type(exc).__name__}: {exc}",
            reason=REASON_INVALID_TRANSACTION,
        ) from exc
    tx_hash = sha512_half(TXN_PREFIX + bytes.fromhex(blob)).hex().upper()
    return SignedTransaction(blob, tx_hash, json.dumps(decoded, separators=(",", ":")))


def verify_signed_blob(tx_blob: str) -> dict[str, Any]:
    """Decode a single-signed blob and verify its signature as rippled does; return the tx.

    This is the external-verifier recipe of chains.md §2.5 with rippled's canonicality rules
    added. It does not check that ``SigningPubKey`` derives to ``Account`` (RegularKey).
    """
    try:
        tx: dict[str, Any] = decode(tx_blob)
        message = bytes.fromhex(encode_for_signing(tx))
    except _CODEC_ERRORS as exc:
        raise InvalidArguments(
            f"invalid XRPL blob: {exc}", reason=REASON_INVALID_TRANSACTION
        ) from exc
    sig_hex = tx.get("TxnSignature")
    spk_hex = tx.get("SigningPubKey")
    if not isinstance(sig_hex, str) or not isinstance(spk_hex, str) or not spk_hex:
        raise InvalidArguments("blob is not single-signed", reason=REASON_MISSING_FIELD)
    verify_signature(message, bytes.fromhex(sig_hex), spk_hex)
    return tx


__all__ = [
    "MAX_TX_JSON_BYTES",
    "REQUIRED_FIELDS",
    "SignedTransaction",
    "attach_signature",
    "classic_address",
    "der_is_strict_low_s",
    "der_signature",
    "is_canonical_ed25519_signature",
    "parse_transaction",
    "secp256k1_digest",
    "sha512_half",
    "signing_bytes",
    "signing_pub_key_hex",
    "uses_regular_key",
    "verify_signature",
    "verify_signed_blob",
]
