"""An append-only, hash-chained audit log format (pure: the node stores the entries).

Spec: ``DESIGN.md`` §8 (every node keeps an append-only, hash-chained audit log of key
creation, sign requests and results, ceremonies with their approvals, aborts with reason and
culprit; anyone with read access can verify the chain), issue 4 (``warifu audit verify``),
``specs/test-plan.md`` invariant 6 (no secret in audit entries) and invariant 7 (every abort
leaves an entry with a reason).

Entry and hash
==============

``{seq, time, kind, fields, prev_hash, hash}``:

- ``seq``: 0, 1, 2, … without gaps; the first entry has ``prev_hash = 32 zero bytes``;
- ``time``: unix seconds given by the caller (core has no clock); not checked for monotonicity
  (clocks step back; order is ``seq``);
- ``kind``: ``[a-z0-9_.-]{1,64}`` (e.g. ``key.created``, ``sign.request``, ``ceremony.approved``,
  ``ceremony.aborted``);
- ``fields``: a JSON object of public data only: ``str``, ``int``, ``bool``, ``None``, lists and
  objects with ``str`` keys. No floats (their text form is not canonical), no bytes (hex them).
  :func:`check_fields` refuses every key that names a secret (module constant
  :data:`SECRET_WORDS`: share, nonce, seed, secret, delta, sigma, private, password, token, …)
  at any depth, so a secret cannot be logged by accident under an obvious name;
- ``hash = H("warifu/v1/audit/entry", u64be(seq), u64be(time), kind, canonical_json(fields),
  prev_hash)`` with ``canonical_json = json.dumps(fields, sort_keys=True, separators=(",", ":"),
  ensure_ascii=True, allow_nan=False)`` (RFC 8785-like for our restricted value set: with no
  floats and ASCII escapes, sorted keys give one byte string per value).

Storage form: one JSON object per line (:meth:`AuditEntry.to_json` /
:meth:`AuditEntry.from_json`), hashes in hex.

Verification
============

:func:`verify_chain` raises :class:`~warifu.core.errors.AuditChainBroken` whose ``seq`` is the
first position at which the chain fails: an edited entry fails its own hash, a deleted or
reordered entry breaks ``seq`` continuity and ``prev_hash``. Cutting entries off the *end* leaves
a valid shorter chain: pass ``head`` (the latest hash, kept elsewhere, e.g. in the node's Vault
state doc or the last certificate) to detect it. ``anchor=(seq, hash)`` verifies a suffix.

Call sequence at the node::

    entry = append(last_entry_or_None, "ceremony.approved", {...}, time=int(time.time()))
    store(entry.to_json())                               # append-only
    verify_chain([AuditEntry.from_json(l) for l in lines], head=stored_head)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from warifu.core.encoding import h, u64be
from warifu.core.errors import AuditChainBroken, InvalidArguments

GENESIS = bytes(32)
HASH_LEN = 32
MAX_DEPTH = 8

#: Words that make a field name look like a secret. Matched against every ``_``/``-``/``.``/camel
#: separated word of a key, with a trailing plural ``s`` removed.
SECRET_WORDS = frozenset(
    {
        "share",
        "nonce",
        "seed",
        "secret",
        "delta",
        "sigma",
        "private",
        "priv",
        "privkey",
        "password",
        "passphrase",
        "passwd",
        "token",
        "coefficient",
        "coeff",
        "polynomial",
        "poly",
        "presignature",
        "presig",
        "mnemonic",
        "plaintext",
        "sk",
        "kek",
        "dek",
    }
)

_KIND = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")

AUDIT_SECRET_FIELD = "AUDIT_SECRET_FIELD"  # noqa: S105 (a reason string, not a secret)
AUDIT_INVALID_ENTRY = "AUDIT_INVALID_ENTRY"


def _words(name: str) -> list[str]:
    out = []
    for w in _SPLIT.split(name):
        w = w.lower()
        if not w:
            continue
        out.append(w[:-1] if len(w) > 3 and w.endswith("s") else w)
    return out


def check_fields(fields: Mapping[str, Any]) -> None:
    """The redaction guard and the value check (module docstring); raise InvalidArguments."""

    def walk(value: Any, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise InvalidArguments(f"{path}: nested too deep", reason=AUDIT_INVALID_ENTRY)
        if isinstance(value, Mapping):
            for k, v in value.items():
                if not isinstance(k, str):
                    raise InvalidArguments(
                        f"{path}: keys must be strings", reason=AUDIT_INVALID_ENTRY
                    )
                hit = [w for w in _words(k) if w in SECRET_WORDS]
                if hit:
                    raise InvalidArguments(
                        f"audit field {path}.{k} looks like a secret ({hit[0]!r}); "
                        "log a public identifier instead",
                        reason=AUDIT_SECRET_FIELD,
                    )
                walk(v, f"{path}.{k}", depth + 1)
        elif isinstance(value, list | tuple):
            for idx, v in enumerate(value):
                walk(v, f"{path}[{idx}]", depth + 1)
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            return
        elif isinstance(value, int):
            if not -(2**63) <= value < 2**64:
                raise InvalidArguments(f"{path}: integer out of range", reason=AUDIT_INVALID_ENTRY)
        else:
            raise InvalidArguments(
                f"{path}: {type(value).__name__} is not allowed (str/int/bool/None/list/object)",
                reason=AUDIT_INVALID_ENTRY,
            )

    if not isinstance(fields, Mapping):
        raise InvalidArguments("audit fields must be an object", reason=AUDIT_INVALID_ENTRY)
    walk(fields, "fields", 0)


def canonical_json(fields: Mapping[str, Any]) -> bytes:
    """The canonical bytes of ``fields`` (module docstring)."""
    return json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def entry_hash(
    seq: int, time: int, kind: str, fields: Mapping[str, Any], prev_hash: bytes
) -> bytes:
    """``H("warifu/v1/audit/entry", u64be(seq), u64be(time), kind, canonical_json, prev_hash)``."""
    return h(
        "audit/entry",
        u64be(seq),
        u64be(time),
        kind.encode("ascii"),
        canonical_json(fields),
        prev_hash,
    )


def _check_kind(kind: str) -> None:
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise InvalidArguments(
            "kind must match [a-z0-9][a-z0-9_.-]{0,63}", reason=AUDIT_INVALID_ENTRY
        )


def _frozen(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A private deep copy (the caller's dict may change later)."""
    copy: dict[str, Any] = json.loads(canonical_json(fields))
    return copy


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One log entry. Construct with :func:`append`; ``fields`` must not be mutated."""

    seq: int
    time: int
    kind: str
    fields: Mapping[str, Any]
    prev_hash: bytes
    hash: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.seq < 2**64 or not 0 <= self.time < 2**64:
            raise InvalidArguments("seq and time must be u64", reason=AUDIT_INVALID_ENTRY)
        _check_kind(self.kind)
        if len(self.prev_hash) != HASH_LEN or len(self.hash) != HASH_LEN:
            raise InvalidArguments("hashes must be 32 bytes", reason=AUDIT_INVALID_ENTRY)

    def computed_hash(self) -> bytes:
        """The hash this entry should carry."""
        return entry_hash(self.seq, self.time, self.kind, self.fields, self.prev_hash)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (hashes in hex)."""
        return {
            "seq": self.seq,
            "time": self.time,
            "kind": self.kind,
            "fields": _frozen(self.fields),
            "prev_hash": self.prev_hash.hex(),
            "hash": self.hash.hex(),
        }

    def to_json(self) -> str:
        """One line of the log file."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditEntry:
        """Inverse of :meth:`to_dict`; does not verify the hash (see :func:`verify_chain`)."""
        try:
            fields = data["fields"]
            if not isinstance(fields, Mapping):
                raise TypeError("fields")
            return cls(
                seq=int(data["seq"]),
                time=int(data["time"]),
                kind=str(data["kind"]),
                fields=_frozen(fields),
                prev_hash=bytes.fromhex(str(data["prev_hash"])),
                hash=bytes.fromhex(str(data["hash"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArguments("malformed audit entry", reason=AUDIT_INVALID_ENTRY) from exc

    @classmethod
    def from_json(cls, line: str) -> AuditEntry:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise InvalidArguments("malformed audit line", reason=AUDIT_INVALID_ENTRY) from exc
        if not isinstance(data, Mapping):
            raise InvalidArguments("malformed audit line", reason=AUDIT_INVALID_ENTRY)
        return cls.from_dict(data)


def append(prev: AuditEntry | None, kind: str, fields: Mapping[str, Any], time: int) -> AuditEntry:
    """The entry after ``prev`` (``None``: the first entry of a log)."""
    _check_kind(kind)
    if not isinstance(time, int) or not 0 <= time < 2**64:
        raise InvalidArguments("time must be unix seconds (u64)", reason=AUDIT_INVALID_ENTRY)
    check_fields(fields)
    frozen = _frozen(fields)
    seq = 0 if prev is None else prev.seq + 1
    prev_hash = GENESIS if prev is None else prev.hash
    return AuditEntry(
        seq=seq,
        time=time,
        kind=kind,
        fields=frozen,
        prev_hash=prev_hash,
        hash=entry_hash(seq, time, kind, frozen, prev_hash),
    )


def verify_chain(
    entries: Iterable[AuditEntry],
    *,
    head: bytes | None = None,
    anchor: tuple[int, bytes] | None = None,
) -> None:
    """Check seq continuity, ``prev_hash`` links and every hash; raise AuditChainBroken(seq).

    ``anchor = (seq, hash)`` of the entry *before* the first one given (verify a suffix);
    without it the chain must start at seq 0 from the genesis hash. ``head``: the expected hash
    of the last entry (detects cutting entries off the end). An empty list is valid only without
    ``head`` (or with ``head`` equal to the anchor hash).
    """
    expected_seq, expected_prev = (0, GENESIS) if anchor is None else (anchor[0] + 1, anchor[1])
    last = expected_prev
    for entry in entries:
        if entry.seq != expected_seq:
            raise AuditChainBroken(
                f"audit entry {expected_seq} is missing or out of order (found seq {entry.seq})",
                seq=expected_seq,
            )
        if entry.prev_hash != expected_prev:
            raise AuditChainBroken(
                f"audit entry {entry.seq} does not link to its predecessor", seq=entry.seq
            )
        try:
            ok = entry.computed_hash() == entry.hash
        except (TypeError, ValueError) as exc:
            raise AuditChainBroken(f"audit entry {entry.seq} is malformed", seq=entry.seq) from exc
        if not ok:
            raise AuditChainBroken(f"audit entry {entry.seq} was altered", seq=entry.seq)
        expected_seq += 1
        expected_prev = last = entry.hash
    if head is not None and head != last:
        raise AuditChainBroken(
            f"the log ends at entry {expected_seq - 1}, not at the recorded head", seq=expected_seq
        )
