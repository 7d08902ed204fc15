"""Ethereum: signing hashes built from the transaction itself, signature assembly, addresses.

Spec: ``specs/chains.md`` §3 (and §0 items 4–6).

- The node receives the *transaction* (the JSON/dict eth-account's ``sign_transaction``
  accepts), validates it strictly (:func:`parse_transaction`) and builds the signing hash
  with eth-account's own serializers; warifu writes no RLP and no EIP-712 encoding itself.
- Supported: EIP-1559 (type 2) and legacy EIP-155 (``chainId`` required: the pre-155 form
  has no chain id and is never produced), EIP-191 ``personal_sign`` (version 0x45) and EIP-712
  typed data (full-message form).
- Signatures are ``(r, s, recid)`` over a 32-byte digest. Transactions need low S (EIP-2;
  py-evm refuses high S although ``Account.recover_transaction`` accepts it), so
  :func:`normalize_low_s` replaces ``s`` by ``n - s`` and flips the recovery id.
  ``v`` is ``yParity = recid`` for type 2, ``chainId·2 + 35 + recid`` for legacy, and
  ``27 + recid`` for messages. Ethereum cannot carry recid 2/3 (``UNSUPPORTED_RECID``).
- Addresses are EIP-55 checksummed. An address *given to us* must carry a valid checksum: a
  wrong mixed case is a typo the checksum exists to catch, and an all-lowercase (or
  all-uppercase) address carries no checksum at all, so both are refused
  (``INVALID_ADDRESS_CHECKSUM``), as eth-account itself refuses them.

Everything here is pure (no I/O, no clock, no randomness). Bad input raises
:class:`~warifu.core.errors.InvalidArguments` with a stable ``reason``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

from coincurve import PublicKey

from warifu.core.chains._json import MAX_JSON_DEPTH, json_depth
from warifu.core.curves.secp256k1 import Q as _SECP256K1_Q
from warifu.core.errors import InvalidArguments

# py_ecc, which eth-account imports through eth-keyfile (BLS keystores, unused here), raises the
# interpreter's recursion limit to 100000 as an import side effect. That is process-wide state:
# it would let deeply nested input recurse until the C stack overflows. Keep the process's limit.
_RECURSION_LIMIT = sys.getrecursionlimit()
import rlp.exceptions  # noqa: E402
from eth_abi.exceptions import EncodingError, ParseError  # noqa: E402
from eth_account._utils.legacy_transactions import (  # noqa: E402
    encode_transaction,
    serializable_unsigned_transaction_from_dict,
)
from eth_account.messages import (  # noqa: E402
    _hash_eip191_message,
    encode_defunct,
    encode_typed_data,
)
from eth_utils.address import is_checksum_address, to_checksum_address  # noqa: E402
from eth_utils.crypto import keccak  # noqa: E402
from eth_utils.exceptions import ValidationError  # noqa: E402

sys.setrecursionlimit(_RECURSION_LIMIT)

SECP256K1_ORDER: int = _SECP256K1_Q
HALF_ORDER: int = SECP256K1_ORDER // 2
"""Low S means ``s <= (n - 1) / 2`` (EIP-2; libsecp256k1's normalised form)."""

#: Default cap on a transaction given as JSON (matches the node's ``limits.max_request_bytes``).
MAX_TX_JSON_BYTES = 64 * 1024
#: Default cap on a personal_sign message and on an EIP-712 JSON document.
MAX_MESSAGE_BYTES = 64 * 1024

#: EIP-2294: the largest chain id for which ``chainId·2 + 36`` still fits in 64 bits (``v``
#: is a uint64 on the wire).
MAX_CHAIN_ID = (2**64 - 1) // 2 - 36
#: EIP-2681: a nonce is below ``2**64 - 1``.
MAX_NONCE = 2**64 - 2
MAX_GAS = 2**64 - 1
MAX_UINT256 = 2**256 - 1

TYPE_LEGACY = 0
TYPE_EIP1559 = 2

#: Reasons carried by :class:`InvalidArguments` raised here (stable wire strings). Those shared
#: with ``xrpl.py`` have the same spelling and meaning.
REASON_INVALID_JSON = "INVALID_JSON"
REASON_INVALID_TRANSACTION = "INVALID_TRANSACTION"
REASON_TOO_LARGE = "TRANSACTION_TOO_LARGE"
REASON_MISSING_FIELD = "MISSING_FIELD"
REASON_UNKNOWN_FIELD = "UNKNOWN_FIELD"
REASON_INVALID_FIELD = "INVALID_FIELD"
REASON_ALREADY_SIGNED = "ALREADY_SIGNED"
REASON_UNSUPPORTED_TX_TYPE = "UNSUPPORTED_TRANSACTION_TYPE"
REASON_INVALID_ADDRESS = "INVALID_ADDRESS"
REASON_INVALID_ADDRESS_CHECKSUM = "INVALID_ADDRESS_CHECKSUM"
REASON_SENDER_MISMATCH = "SENDER_MISMATCH"
REASON_INVALID_DIGEST_LENGTH = "INVALID_DIGEST_LENGTH"
REASON_INVALID_PUBLIC_KEY = "INVALID_PUBLIC_KEY"
REASON_INVALID_SIGNATURE = "INVALID_SIGNATURE"
REASON_NON_CANONICAL_SIGNATURE = "NON_CANONICAL_SIGNATURE"
REASON_UNSUPPORTED_RECID = "UNSUPPORTED_RECID"
REASON_EMPTY_MESSAGE = "EMPTY_MESSAGE"
REASON_MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
REASON_INVALID_TYPED_DATA = "INVALID_TYPED_DATA"

#: Fields a transaction of each type may carry (``from`` is checked, then dropped, as
#: eth-account's ``sign_transaction`` does).
_LEGACY_FIELDS = frozenset({"nonce", "gasPrice", "gas", "to", "value", "data", "chainId", "from"})
_EIP1559_FIELDS = frozenset(
    {
        "type",
        "chainId",
        "nonce",
        "maxPriorityFeePerGas",
        "maxFeePerGas",
        "gas",
        "to",
        "value",
        "data",
        "accessList",
        "from",
    }
)
_REQUIRED = {
    TYPE_LEGACY: ("chainId", "nonce", "gasPrice", "gas"),
    TYPE_EIP1559: ("chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gas"),
}
_SIGNATURE_FIELDS = ("v", "r", "s", "yParity")
#: Fields that make eth-account pick a transaction type other than 0 or 2.
_OTHER_TYPE_FIELDS = ("maxFeePerBlobGas", "blobVersionedHashes", "authorizationList")
_QUANTITY_BOUNDS = {
    "chainId": (1, MAX_CHAIN_ID),
    "nonce": (0, MAX_NONCE),
    "gas": (0, MAX_GAS),
    "gasPrice": (0, MAX_UINT256),
    "maxPriorityFeePerGas": (0, MAX_UINT256),
    "maxFeePerGas": (0, MAX_UINT256),
    "value": (0, MAX_UINT256),
}

_HEX_QUANTITY = re.compile(r"0x[0-9a-fA-F]+")
_HEX_DATA = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HEX_WORD = re.compile(r"0x[0-9a-fA-F]{64}")

# Everything eth-account / eth-abi / rlp raise for input they refuse (they have no single
# exception type).
_LIB_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,
    RecursionError,
    ValidationError,
    EncodingError,
    ParseError,
    rlp.exceptions.RLPException,
)


def _fail(message: str, reason: str) -> InvalidArguments:
    return InvalidArguments(message, reason=reason)


# --- digests, signatures, addresses -------------------------------------------------------


def check_digest(digest: bytes | bytearray) -> bytes:
    """Return ``digest`` if it is exactly 32 bytes; else ``INVALID_DIGEST_LENGTH``."""
    if not isinstance(digest, bytes | bytearray) or len(digest) != 32:
        size = len(digest) if isinstance(digest, bytes | bytearray) else type(digest).__name__
        raise _fail(f"a digest is 32 bytes, got {size}", REASON_INVALID_DIGEST_LENGTH)
    return bytes(digest)


def _check_rs(r: int, s: int) -> None:
    for name, value in (("r", r), ("s", s)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(f"{name} must be an integer", REASON_INVALID_SIGNATURE)
        if not 1 <= value < SECP256K1_ORDER:
            raise _fail(f"{name} is not in [1, n)", REASON_INVALID_SIGNATURE)


def _check_recid(recid: int, allowed: tuple[int, ...]) -> None:
    if isinstance(recid, bool) or not isinstance(recid, int) or recid not in (0, 1, 2, 3):
        raise _fail(f"recovery id {recid!r} is not 0..3", REASON_INVALID_SIGNATURE)
    if recid not in allowed:
        raise _fail(
            f"recovery id {recid} cannot be expressed in Ethereum's v (R.x >= n); "
            "start a new session",
            REASON_UNSUPPORTED_RECID,
        )


def _check_low_s_signature(r: int, s: int, recid: int) -> None:
    _check_rs(r, s)
    if s > HALF_ORDER:
        raise _fail(
            "s is in the high half (EIP-2): call normalize_low_s first",
            REASON_NON_CANONICAL_SIGNATURE,
        )
    _check_recid(recid, (0, 1))


def normalize_low_s(r: int, s: int, recid: int) -> tuple[int, int, int]:
    """``(r, s, recid)`` with ``s`` in the low half: ``s > n/2`` becomes ``n - s``, recid ^= 1.

    ``(r, n - s)`` is the same ECDSA signature negated (it verifies for the same key), and
    negating ``s`` is the same as negating ``R``, so the parity bit of the recovery id flips
    (chains.md §0.6, §3.2). A recovery id of 2/3 is passed through (bit 0 flips);
    :meth:`EthTransaction.assemble` and :func:`message_signature` refuse it.
    """
    _check_rs(r, s)
    _check_recid(recid, (0, 1, 2, 3))
    if s > HALF_ORDER:
        return r, SECP256K1_ORDER - s, recid ^ 1
    return r, s, recid


def eth_address(public_key: bytes) -> str:
    """The EIP-55 address of a secp256k1 key (33-byte compressed or 65-byte uncompressed).

    ``keccak256(X ‖ Y)[12:]`` over the 64-byte uncompressed point without the 0x04 prefix
    (chains.md §3.4); the point is parsed by libsecp256k1 (on the curve, ``x < p``).
    """
    if not isinstance(public_key, bytes | bytearray) or len(public_key) not in (33, 65):
        raise _fail(
            "a secp256k1 public key is 33 (compressed) or 65 (uncompressed) bytes",
            REASON_INVALID_PUBLIC_KEY,
        )
    try:
        point = PublicKey(bytes(public_key)).format(compressed=False)
    except (ValueError, TypeError) as exc:
        raise _fail(f"invalid secp256k1 public key: {exc}", REASON_INVALID_PUBLIC_KEY) from exc
    return str(to_checksum_address(keccak(point[1:])[12:]))


def recover_address(digest: bytes, r: int, s: int, recid: int) -> str:
    """The address whose key produced ``(r, s, recid)`` over ``digest`` (ecrecover).

    No hashing is applied to ``digest`` (chains.md §0.5: coincurve with ``hasher=None``).
    High S is recovered too (like the ``ecrecover`` precompile); callers that need EIP-2 check
    it separately. Raises ``INVALID_SIGNATURE`` if no key recovers.
    """
    digest = check_digest(digest)
    _check_rs(r, s)
    _check_recid(recid, (0, 1, 2, 3))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([recid])
    try:
        key = PublicKey.from_signature_and_message(sig, digest, hasher=None)
    except (ValueError, TypeError) as exc:
        raise _fail(
            f"no public key recovers from this signature: {exc}", REASON_INVALID_SIGNATURE
        ) from exc
    return eth_address(key.format(compressed=True))


def message_signature(r: int, s: int, recid: int) -> str:
    """The 65-byte message signature ``0x r ‖ s ‖ v`` with ``v = 27 + recid`` (0x-hex).

    This is what ``Account.sign_message`` returns and ``Account.recover_message`` takes. ``s``
    must already be low (:func:`normalize_low_s`): ``ecrecover`` would accept a high ``s`` but
    OpenZeppelin's ``ECDSA.recover`` (and most contracts) refuse it.
    """
    _check_low_s_signature(r, s, recid)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([27 + recid])
    return "0x" + raw.hex()


# --- transactions ---------------------------------------------------------------------------


class SignedEthTransaction(NamedTuple):
    """The result of :meth:`EthTransaction.assemble`."""

    raw_transaction: str
    """The signed transaction, 0x-hex (what ``eth_sendRawTransaction`` takes)."""
    hash: str
    """The transaction hash ``keccak256(raw)``, 0x-hex."""
    r: int
    s: int
    v: int
    """``yParity`` (0/1) for type 2; ``chainId·2 + 35 + recid`` for legacy (EIP-155)."""


class EthTransaction:
    """A validated, unsigned Ethereum transaction (type 2 or legacy EIP-155).

    Built only by :func:`parse_transaction`. The signing hash is computed once, by
    eth-account's serializer, from :attr:`fields`.
    """

    __slots__ = ("_fields", "_sender", "_signing_hash", "_tx_type", "_unsigned")

    def __init__(self, fields: dict[str, Any], tx_type: int, sender: str | None) -> None:
        self._fields = fields
        self._tx_type = tx_type
        self._sender = sender
        try:
            self._unsigned = serializable_unsigned_transaction_from_dict(dict(fields))
            signing_hash = bytes(self._unsigned.hash())
        except _LIB_ERRORS as exc:
            raise _fail(
                f"eth-account refused the transaction: {type(exc).__name__}: {exc}",
                REASON_INVALID_TRANSACTION,
            ) from exc
        self._signing_hash = check_digest(signing_hash)

    @property
    def tx_type(self) -> int:
        """``2`` (EIP-1559) or ``0`` (legacy, EIP-155)."""
        return self._tx_type

    @property
    def fields(self) -> dict[str, Any]:
        """A copy of the canonical fields that are signed (JSON-ready: ints and 0x-hex).

        ``to`` is absent for a contract creation; ``value`` and ``data`` are always present.
        """
        return json.loads(json.dumps(self._fields))  # type: ignore[no-any-return]

    @property
    def chain_id(self) -> int:
        return int(self._fields["chainId"])

    @property
    def nonce(self) -> int:
        return int(self._fields["nonce"])

    @property
    def to(self) -> str | None:
        """The checksummed recipient, or ``None`` for a contract creation."""
        to = self._fields.get("to")
        return str(to) if to is not None else None

    @property
    def value(self) -> int:
        return int(self._fields["value"])

    @property
    def data(self) -> bytes:
        return bytes.fromhex(str(self._fields["data"])[2:])

    @property
    def sender(self) -> str | None:
        """The ``from`` field if the request carried one (checked against the key's address
        when :func:`parse_transaction` was given ``sender``); it is not part of what is signed.
        """
        return self._sender

    def to_json(self) -> str:
        """The canonical fields as compact JSON (what a policy or an audit log records)."""
        return json.dumps(self._fields, separators=(",", ":"))

    def signing_hash(self) -> bytes:
        """The 32-byte digest to sign (chains.md §3.1).

        Type 2: ``keccak256(0x02 ‖ rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas,
        gas, to, value, data, accessList]))``. Legacy: ``keccak256(rlp([nonce, gasPrice, gas,
        to, value, data, chainId, 0, 0]))``.
        """
        return self._signing_hash

    def v_for(self, recid: int) -> int:
        """``v`` for a recovery id: ``yParity`` for type 2, ``chainId·2 + 35 + recid``
        (EIP-155) for legacy."""
        _check_recid(recid, (0, 1))
        if self._tx_type == TYPE_EIP1559:
            return recid
        return self.chain_id * 2 + 35 + recid

    def assemble(
        self, r: int, s: int, recid: int, *, address: str | None = None
    ) -> SignedEthTransaction:
        """Attach ``(r, s, recid)`` and encode the signed transaction.

        ``s`` must be low (EIP-2; :func:`normalize_low_s`), ``recid`` 0 or 1. The signature
        must recover a key from :meth:`signing_hash`; with ``address`` it must recover
        exactly that address (``INVALID_SIGNATURE`` otherwise). The result is byte-identical
        to ``Account.sign_transaction`` for the same transaction and ``(r, s)``.
        """
        _check_low_s_signature(r, s, recid)
        recovered = recover_address(self._signing_hash, r, s, recid)
        if address is not None and recovered != address:
            raise _fail(f"signature recovers {recovered}, not {address}", REASON_INVALID_SIGNATURE)
        v = self.v_for(recid)
        try:
            raw = bytes(encode_transaction(self._unsigned, vrs=(v, r, s)))
        except _LIB_ERRORS as exc:  # pragma: no cover - validated at parse time
            raise _fail(
                f"eth-account could not encode the transaction: {exc}",
                REASON_INVALID_TRANSACTION,
            ) from exc
        return SignedEthTransaction("0x" + raw.hex(), "0x" + keccak(raw).hex(), r, s, v)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for k, v in pairs:
        if k in obj:
            raise _fail(f"duplicate JSON key {k!r}", REASON_INVALID_JSON)
        obj[k] = v
    return obj


def _reject_constant(name: str) -> Any:
    raise _fail(f"JSON constant {name} is not allowed", REASON_INVALID_JSON)


def _load_json(raw: bytes, what: str, invalid_reason: str) -> Any:
    try:
        text = raw.decode("utf-8")
        if json_depth(text) > MAX_JSON_DEPTH:  # not left to sys.getrecursionlimit() (_json.py)
            raise json.JSONDecodeError(f"nested deeper than {MAX_JSON_DEPTH}", text, 0)
        return json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
        )
    # ValueError also covers an integer beyond Python's int-string conversion limit (4300
    # digits), which json.loads raises as a plain ValueError, not a JSONDecodeError.
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _fail(f"{what} is not valid JSON: {exc}", invalid_reason) from exc


def _bytes_to_hex(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def _checksum_address(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _HEX_ADDRESS.fullmatch(value):
        raise _fail(f"{name} must be a 0x-prefixed 20-byte hex address", REASON_INVALID_ADDRESS)
    if not is_checksum_address(value):
        raise _fail(
            f"{name} {value} has no valid EIP-55 checksum (expected "
            f"{to_checksum_address(value)}); an unchecksummed address is refused",
            REASON_INVALID_ADDRESS_CHECKSUM,
        )
    return value


def _quantity(value: Any, name: str) -> int:
    """An integer as eth-account takes it: a JSON int or a 0x-hex string, within bounds."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _fail(
            f"{name} must be an integer or a 0x-hex string, not {type(value).__name__}",
            REASON_INVALID_FIELD,
        )
    if isinstance(value, str):
        if not _HEX_QUANTITY.fullmatch(value) or len(value) > 2 + 64 + 16:
            raise _fail(f"{name} {value[:80]!r} is not a 0x-hex quantity", REASON_INVALID_FIELD)
        value = int(value, 16)
    number = int(value)
    low, high = _QUANTITY_BOUNDS[name]
    if not low <= number <= high:
        raise _fail(f"{name} {number} is outside [{low}, {high}]", REASON_INVALID_FIELD)
    return number


def _data(value: Any) -> str:
    if isinstance(value, bytes | bytearray):  # pragma: no cover - converted before
        return "0x" + bytes(value).hex()
    if not isinstance(value, str) or not _HEX_DATA.fullmatch(value):
        raise _fail("data must be 0x-prefixed hex with an even length", REASON_INVALID_FIELD)
    return value.lower()


def _access_list(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _fail("accessList must be a list", REASON_INVALID_FIELD)
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or set(entry) != {"address", "storageKeys"}:
            raise _fail(f"accessList[{i}] must be {{address, storageKeys}}", REASON_INVALID_FIELD)
        keys = entry["storageKeys"]
        if not isinstance(keys, list) or not all(
            isinstance(k, str) and _HEX_WORD.fullmatch(k) for k in keys
        ):
            raise _fail(
                f"accessList[{i}].storageKeys must be a list of 32-byte 0x-hex words",
                REASON_INVALID_FIELD,
            )
        out.append(
            {
                "address": _checksum_address(entry["address"], f"accessList[{i}].address"),
                "storageKeys": [k.lower() for k in keys],
            }
        )
    return out


def _transaction_type(tx: dict[str, Any]) -> int:
    """Type 2 or legacy, decided as eth-account decides (explicit ``type``, else the fee
    fields); every other type is refused."""
    for name in _OTHER_TYPE_FIELDS:
        if name in tx:
            raise _fail(
                f"{name} belongs to a type-3/4 transaction; only EIP-1559 (type 2) and "
                "legacy EIP-155 transactions are supported",
                REASON_UNSUPPORTED_TX_TYPE,
            )
    if "type" in tx:
        t = tx["type"]
        ok = (isinstance(t, int) and not isinstance(t, bool)) or (
            isinstance(t, str) and _HEX_QUANTITY.fullmatch(t) is not None and len(t) <= 6
        )
        if not ok:
            raise _fail("type must be 2 or '0x2'", REASON_INVALID_FIELD)
        number = int(t, 16) if isinstance(t, str) else t
        if number != TYPE_EIP1559:
            raise _fail(
                f"transaction type {number} is not supported (only 2; a legacy transaction "
                "has no type field)",
                REASON_UNSUPPORTED_TX_TYPE,
            )
        return TYPE_EIP1559
    if "maxFeePerGas" in tx or "maxPriorityFeePerGas" in tx:
        return TYPE_EIP1559
    if "gasPrice" in tx:
        if "accessList" in tx:
            raise _fail(
                "gasPrice with accessList is an EIP-2930 (type 1) transaction: not supported",
                REASON_UNSUPPORTED_TX_TYPE,
            )
        return TYPE_LEGACY
    raise _fail(
        "transaction has neither maxFeePerGas (EIP-1559) nor gasPrice (legacy)",
        REASON_MISSING_FIELD,
    )


def parse_transaction(
    tx_json: str | bytes | Mapping[str, Any],
    *,
    sender: str | None = None,
    max_bytes: int = MAX_TX_JSON_BYTES,
) -> EthTransaction:
    """Parse and strictly validate an unsigned Ethereum transaction.

    ``tx_json`` is the JSON (``str``/``bytes``) or the dict that eth-account's
    ``sign_transaction`` accepts, restricted to JSON values (in a dict, ``data`` may also be
    ``bytes``). Quantities are JSON integers or 0x-hex strings. ``sender``, when given, is the
    key's address: a ``from`` field must equal it (``SENDER_MISMATCH``).

    Rejected with :class:`InvalidArguments` (``reason``):

    - larger than ``max_bytes`` as JSON (``TRANSACTION_TOO_LARGE``);
    - not UTF-8 JSON, duplicate keys, NaN/Infinity (``INVALID_JSON``);
    - not a JSON object, or a value that is not JSON (``INVALID_TRANSACTION``);
    - ``v``/``r``/``s``/``yParity`` present (``ALREADY_SIGNED``);
    - a type other than 2 or legacy: type 1, 3, 4, or their fields
      (``UNSUPPORTED_TRANSACTION_TYPE``);
    - a field the type does not have (``UNKNOWN_FIELD``);
    - missing ``chainId`` (no pre-EIP-155 form), ``nonce``, ``gas``, and ``gasPrice`` or
      ``maxFeePerGas``/``maxPriorityFeePerGas`` (``MISSING_FIELD``); the node does no autofill;
    - a wrong type (bool, float, decimal string, null), a negative or oversized quantity
      (``chainId`` in ``[1, 2**63-37]``, ``nonce < 2**64-1``, ``gas < 2**64``, others
      ``< 2**256``), ``maxPriorityFeePerGas > maxFeePerGas``, bad ``data`` hex, a malformed
      access list (``INVALID_FIELD``);
    - ``to``/``from``/access-list address not 20-byte hex (``INVALID_ADDRESS``) or without a
      valid EIP-55 checksum, all-lowercase included (``INVALID_ADDRESS_CHECKSUM``);
    - anything eth-account then refuses (``INVALID_TRANSACTION``).

    A missing ``to`` (or ``null``) is a contract creation.
    """
    if isinstance(tx_json, Mapping):
        try:
            raw = json.dumps(dict(tx_json), default=_bytes_to_hex, allow_nan=False).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            raise _fail(
                f"transaction must hold JSON values only: {exc}", REASON_INVALID_TRANSACTION
            ) from exc
    elif isinstance(tx_json, str):
        raw = tx_json.encode("utf-8", errors="surrogatepass")
    elif isinstance(tx_json, bytes | bytearray):
        raw = bytes(tx_json)
    else:
        raise _fail(
            f"transaction must be JSON or a mapping, not {type(tx_json).__name__}",
            REASON_INVALID_TRANSACTION,
        )
    if len(raw) > max_bytes:
        raise _fail(
            f"transaction JSON is {len(raw)} bytes; the limit is {max_bytes}", REASON_TOO_LARGE
        )
    tx = _load_json(raw, "transaction", REASON_INVALID_JSON)
    if not isinstance(tx, dict):
        raise _fail(
            f"transaction must be a JSON object, not {type(tx).__name__}",
            REASON_INVALID_TRANSACTION,
        )
    present = [name for name in _SIGNATURE_FIELDS if name in tx]
    if present:
        raise _fail(
            f"transaction is already signed ({', '.join(present)} present)",
            REASON_ALREADY_SIGNED,
        )
    tx_type = _transaction_type(tx)
    allowed = _EIP1559_FIELDS if tx_type == TYPE_EIP1559 else _LEGACY_FIELDS
    unknown = sorted(set(tx) - allowed)
    if unknown:
        kind = "an EIP-1559" if tx_type == TYPE_EIP1559 else "a legacy"
        raise _fail(f"{unknown} are not fields of {kind} transaction", REASON_UNKNOWN_FIELD)
    for name in _REQUIRED[tx_type]:
        if name not in tx:
            raise _fail(f"transaction has no {name} (no autofill)", REASON_MISSING_FIELD)

    fields: dict[str, Any] = {}
    if tx_type == TYPE_EIP1559:
        fields["type"] = TYPE_EIP1559
    for name in _REQUIRED[tx_type]:
        fields[name] = _quantity(tx[name], name)
    if tx.get("to") is not None:
        fields["to"] = _checksum_address(tx["to"], "to")
    fields["value"] = _quantity(tx.get("value", 0), "value")
    fields["data"] = _data(tx.get("data", "0x"))
    if tx_type == TYPE_EIP1559:
        if fields["maxPriorityFeePerGas"] > fields["maxFeePerGas"]:
            raise _fail(
                "maxPriorityFeePerGas is above maxFeePerGas (invalid under EIP-1559)",
                REASON_INVALID_FIELD,
            )
        fields["accessList"] = _access_list(tx.get("accessList", []))
    from_ = tx.get("from")
    if from_ is not None:
        from_ = _checksum_address(from_, "from")
        if sender is not None and from_ != sender:
            raise _fail(f"from {from_} is not the key's address {sender}", REASON_SENDER_MISMATCH)
    return EthTransaction(fields, tx_type, from_)


# --- messages -------------------------------------------------------------------------------


def personal_sign_hash(message: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> bytes:
    """EIP-191 version 0x45 (``personal_sign``) digest of ``message``.

    ``keccak256(0x19 ‖ "Ethereum Signed Message:\\n" ‖ str(len) ‖ message)``, built by
    eth-account (``encode_defunct``). An empty message is refused (``EMPTY_MESSAGE``), as is
    one above ``max_bytes`` (``MESSAGE_TOO_LARGE``).
    """
    if not isinstance(message, bytes | bytearray):
        raise _fail("message must be bytes", REASON_INVALID_FIELD)
    if not message:
        raise _fail("message is empty", REASON_EMPTY_MESSAGE)
    if len(message) > max_bytes:
        raise _fail(
            f"message is {len(message)} bytes; the limit is {max_bytes}",
            REASON_MESSAGE_TOO_LARGE,
        )
    return check_digest(bytes(_hash_eip191_message(encode_defunct(primitive=bytes(message)))))


#: EIP-712's domain fields in eth-account's (and the EIP's) canonical order and types.
_DOMAIN_FIELDS = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
    ("salt", "bytes32"),
)
_TYPED_DATA_KEYS = frozenset({"types", "primaryType", "domain", "message"})
_ARRAY_SUFFIX = re.compile(r"^(.+)\[(\d*)\]$")
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def _typed_fail(message: str) -> InvalidArguments:
    return _fail(message, REASON_INVALID_TYPED_DATA)


def _check_struct(
    type_name: str, value: Any, types: dict[str, list[dict[str, str]]], path: str, depth: int
) -> None:
    """The value has exactly the declared fields, recursively: eth-account silently encodes a
    missing field as zero and ignores an extra one, so a policy reading the JSON could see
    something other than what is signed."""
    if depth > 32:
        raise _typed_fail(f"{path}: nested too deeply")
    if not isinstance(value, dict):
        raise _typed_fail(f"{path} must be an object of type {type_name}")
    declared = [f["name"] for f in types[type_name]]
    if set(value) != set(declared):
        missing = sorted(set(declared) - set(value))
        extra = sorted(set(value) - set(declared))
        raise _typed_fail(f"{path} ({type_name}): missing {missing}, undeclared {extra}")
    for field in types[type_name]:
        _check_value(field["type"], value[field["name"]], types, f"{path}.{field['name']}", depth)


def _check_value(
    type_name: str, value: Any, types: dict[str, list[dict[str, str]]], path: str, depth: int
) -> None:
    if value is None:
        raise _typed_fail(f"{path} is null")
    array = _ARRAY_SUFFIX.match(type_name)
    if array:
        if not isinstance(value, list):
            raise _typed_fail(f"{path} must be an array ({type_name})")
        if array.group(2) and len(value) != int(array.group(2)):
            raise _typed_fail(f"{path} must have {array.group(2)} elements ({type_name})")
        for i, item in enumerate(value):
            _check_value(array.group(1), item, types, f"{path}[{i}]", depth + 1)
    elif type_name in types:
        _check_struct(type_name, value, types, path, depth + 1)
    elif isinstance(value, dict | list | float):
        raise _typed_fail(f"{path}: {type(value).__name__} is not a {type_name}")


def _check_typed_data(typed: Any) -> dict[str, Any]:
    if not isinstance(typed, dict):
        raise _typed_fail("typed data must be a JSON object")
    keys = set(typed)
    if keys != _TYPED_DATA_KEYS:
        raise _typed_fail(
            f"typed data needs exactly {sorted(_TYPED_DATA_KEYS)}; "
            f"missing {sorted(_TYPED_DATA_KEYS - keys)}, unknown {sorted(keys - _TYPED_DATA_KEYS)}"
        )
    types = typed["types"]
    if not isinstance(types, dict):
        raise _typed_fail("types must be an object")
    for name, fields in types.items():
        if not _IDENTIFIER.fullmatch(name):
            raise _typed_fail(f"type name {name!r} is not an identifier")
        if not isinstance(fields, list):
            raise _typed_fail(f"types.{name} must be a list of {{name, type}}")
        names = []
        for f in fields:
            if (
                not isinstance(f, dict)
                or set(f) != {"name", "type"}
                or not all(isinstance(x, str) for x in f.values())
            ):
                raise _typed_fail(f"types.{name} must be a list of {{name, type}} strings")
            names.append(f["name"])
        if len(set(names)) != len(names):
            raise _typed_fail(f"types.{name} declares a field twice")
    # eth-account hashes the domain with the canonical field order and types whatever the
    # declaration says; refuse a declaration that other implementations would hash differently.
    domain_decl = types.get("EIP712Domain")
    if domain_decl is None:
        raise _typed_fail("types.EIP712Domain is required")
    decl = [(f["name"], f["type"]) for f in domain_decl]
    if decl != [d for d in _DOMAIN_FIELDS if d[0] in {n for n, _ in decl}]:
        raise _typed_fail(
            "types.EIP712Domain must list a subset of name:string, version:string, "
            "chainId:uint256, verifyingContract:address, salt:bytes32 in that order"
        )
    primary = typed["primaryType"]
    if not isinstance(primary, str) or primary not in types or primary == "EIP712Domain":
        raise _typed_fail("primaryType must name a declared type other than EIP712Domain")
    _check_struct("EIP712Domain", typed["domain"], types, "domain", 0)
    _check_struct(primary, typed["message"], types, "message", 0)
    return typed


def typed_data_hash(
    typed: Mapping[str, Any] | str | bytes, *, max_bytes: int = MAX_MESSAGE_BYTES
) -> bytes:
    """EIP-712 digest ``keccak256(0x19 0x01 ‖ domainSeparator ‖ hashStruct(message))``.

    ``typed`` is the full message (``types`` with ``EIP712Domain``, ``primaryType``, ``domain``,
    ``message``) as JSON or a mapping; eth-account's ``encode_typed_data(full_message=…)``
    computes the hash. Beyond what eth-account checks, every struct value must have exactly its
    declared fields, no nulls, fixed-size arrays their length, and ``EIP712Domain`` the
    canonical field order and types. Any failure is ``INVALID_TYPED_DATA`` (JSON syntax:
    ``INVALID_JSON``; above ``max_bytes``: ``MESSAGE_TOO_LARGE``).
    """
    if isinstance(typed, Mapping):
        try:
            raw = json.dumps(dict(typed), allow_nan=False).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            raise _typed_fail(f"typed data must hold JSON values only: {exc}") from exc
    elif isinstance(typed, str):
        raw = typed.encode("utf-8", errors="surrogatepass")
    elif isinstance(typed, bytes | bytearray):
        raw = bytes(typed)
    else:
        raise _typed_fail(f"typed data must be JSON or a mapping, not {type(typed).__name__}")
    if len(raw) > max_bytes:
        raise _fail(
            f"typed data is {len(raw)} bytes; the limit is {max_bytes}", REASON_MESSAGE_TOO_LARGE
        )
    full = _check_typed_data(_load_json(raw, "typed data", REASON_INVALID_JSON))
    try:
        signable = encode_typed_data(full_message=full)
        digest = bytes(_hash_eip191_message(signable))
    except _LIB_ERRORS as exc:
        raise _typed_fail(
            f"eth-account refused the typed data: {type(exc).__name__}: {exc}"
        ) from exc
    return check_digest(digest)


__all__ = [
    "MAX_CHAIN_ID",
    "MAX_MESSAGE_BYTES",
    "MAX_TX_JSON_BYTES",
    "EthTransaction",
    "SignedEthTransaction",
    "check_digest",
    "eth_address",
    "message_signature",
    "normalize_low_s",
    "parse_transaction",
    "personal_sign_hash",
    "recover_address",
    "typed_data_hash",
]
