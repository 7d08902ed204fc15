"""Committee records, public key packages and key shares.

Spec: ``specs/shares.md`` §1.2 (committee), §1.3 (shares and epochs), §1.4 (public key package
and its invariants, checked at creation and on every load).

Notation: ``t`` signers needed (polynomial degree ``t−1``); ``C_m`` aggregate Feldman
commitments; ``PK = C_0``; ``X_k = Σ_m k^m·C_m`` public verification share of party ``k``;
``x_i`` the secret share of party ``i`` with ``x_i·G == X_i``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from warifu.core.curves import Group, Point, group_by_name
from warifu.core.encoding import enc_list, h, lp, u16be, u64be
from warifu.core.errors import InvalidArguments, InvalidKeyShare

MAX_PARTY_ID = 65535


def check_party_ids(ids: Sequence[int]) -> None:
    """Reject id 0, ids > 65535 and duplicates (``INVALID_PARTY``, ``shares.md`` §1.1)."""
    if len(set(ids)) != len(ids):
        raise InvalidArguments("duplicate party id", reason="INVALID_PARTY")
    for i in ids:
        if not 1 <= i <= MAX_PARTY_ID:
            raise InvalidArguments(f"party id {i} out of range 1..65535", reason="INVALID_PARTY")


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """One committee member: its party id, node name and Ed25519 node signing key."""

    id: int
    node: str
    sign_pub: bytes

    def __post_init__(self) -> None:
        check_party_ids([self.id])
        if len(self.sign_pub) != 32:
            raise InvalidArguments("node signing key must be 32 bytes", reason="INVALID_PARTY")
        if not self.node or len(self.node.encode()) > 255:
            raise InvalidArguments("node name must be 1..255 bytes", reason="INVALID_PARTY")


@dataclass(frozen=True, slots=True, kw_only=True)
class Committee:
    """The members of a key epoch, ascending by id (``shares.md`` §1.2)."""

    members: tuple[Member, ...]

    def __post_init__(self) -> None:
        ids = [m.id for m in self.members]
        check_party_ids(ids)
        if ids != sorted(ids):
            raise InvalidArguments("committee must be sorted by id", reason="INVALID_PARTY")
        names = [m.node for m in self.members]
        if len(set(names)) != len(names):
            raise InvalidArguments("a node appears twice in the committee", reason="INVALID_PARTY")

    @property
    def ids(self) -> tuple[int, ...]:
        """Party ids, ascending."""
        return tuple(m.id for m in self.members)

    def member(self, party_id: int) -> Member:
        """The member with ``party_id``; ``INVALID_PARTY`` if there is none."""
        for m in self.members:
            if m.id == party_id:
                return m
        raise InvalidArguments(f"party {party_id} is not in the committee", reason="INVALID_PARTY")

    def by_node(self, node: str) -> Member:
        """The member run by ``node``; ``INVALID_PARTY`` if there is none."""
        for m in self.members:
            if m.node == node:
                return m
        raise InvalidArguments(f"node {node!r} is not in the committee", reason="INVALID_PARTY")

    def digest(self, curve: str, key_id: bytes) -> bytes:
        """``committee_digest`` of ``shares.md`` §1.2."""
        return h(
            "committee",
            curve.encode(),
            key_id,
            enc_list(u16be(m.id) + lp(m.node.encode()) + m.sign_pub for m in self.members),
        )

    def to_dict(self) -> list[dict[str, Any]]:
        """JSON-friendly form."""
        return [{"id": m.id, "node": m.node, "sign_pub": m.sign_pub.hex()} for m in self.members]

    @classmethod
    def from_dict(cls, data: Sequence[Mapping[str, Any]]) -> Committee:
        """Inverse of :meth:`to_dict` (validates)."""
        return cls(
            members=tuple(
                Member(id=int(m["id"]), node=str(m["node"]), sign_pub=bytes.fromhex(m["sign_pub"]))
                for m in data
            )
        )


def eval_commitments(group: Group, commitments: Sequence[Point], k: int) -> Point:
    """``Σ_m k^m·C_m`` (Horner, from the top coefficient)."""
    acc = group.identity()
    for c in reversed(commitments):
        acc = acc * k + c
    return acc


def lagrange_at_zero(order: int, ids: Sequence[int], i: int) -> int:
    """``λ_i = Π_{k∈S, k≠i} k·(k−i)^{-1} mod order`` (RFC 9591 ``derive_interpolating_value``)."""
    if i not in ids:
        raise InvalidArguments(f"party {i} not in the signing set", reason="INVALID_PARTY")
    num, den = 1, 1
    for k in ids:
        if k == i:
            continue
        num = num * k % order
        den = den * (k - i) % order
    if den == 0:
        raise InvalidArguments("duplicate id in the signing set", reason="INVALID_PARTY")
    return num * pow(den, -1, order) % order


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicKeyPackage:
    """``pkg(e)``: public and identical at every member (``shares.md`` §1.4)."""

    curve: str
    key_id: bytes
    epoch: int
    threshold: int
    committee: Committee
    commitments: tuple[Point, ...]
    verification_shares: Mapping[int, Point] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.key_id) != 16:
            raise InvalidArguments("key id must be a 16-byte UUID", reason="INVALID_ARGUMENT")
        n = len(self.committee.members)
        if not 2 <= self.threshold <= n:
            raise InvalidArguments(f"threshold must be 2..{n}", reason="INVALID_THRESHOLD")
        if len(self.commitments) != self.threshold:
            raise InvalidKeyShare("commitment vector length differs from the threshold")
        if not self.verification_shares:
            object.__setattr__(
                self,
                "verification_shares",
                {k: eval_commitments(self.group, self.commitments, k) for k in self.committee.ids},
            )

    @property
    def group(self) -> Group:
        """The curve's group."""
        return group_by_name(self.curve)

    @property
    def public_key(self) -> Point:
        """``PK = C_0``."""
        return self.commitments[0]

    @property
    def key_uuid(self) -> str:
        """The key id as a UUID string."""
        return str(uuid.UUID(bytes=self.key_id))

    def verify(self) -> None:
        """Check the invariants of §1.4; raise InvalidKeyShare (``SHARE_INTEGRITY``)."""
        g = self.group
        if self.public_key.is_identity():
            raise InvalidKeyShare("group public key is the identity")
        if set(self.verification_shares) != set(self.committee.ids):
            raise InvalidKeyShare("verification shares do not match the committee")
        for k in self.committee.ids:
            if self.verification_shares[k] != eval_commitments(g, self.commitments, k):
                raise InvalidKeyShare(f"verification share of party {k} is inconsistent")

    def digest(self) -> bytes:
        """``pkg_digest`` of §1.4."""
        g = self.group
        return h(
            "pubpkg",
            self.curve.encode(),
            self.key_id,
            u64be(self.epoch),
            u16be(self.threshold),
            self.committee.digest(self.curve, self.key_id),
            g.encode_point(self.public_key),
            enc_list(g.encode_point(c) for c in self.commitments),
            enc_list(
                u16be(k) + g.encode_point(self.verification_shares[k]) for k in self.committee.ids
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (public data only)."""
        g = self.group
        return {
            "curve": self.curve,
            "key_id": self.key_uuid,
            "epoch": self.epoch,
            "threshold": self.threshold,
            "committee": self.committee.to_dict(),
            "commitments": [g.encode_point(c).hex() for c in self.commitments],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PublicKeyPackage:
        """Inverse of :meth:`to_dict`; decodes and validates every point, then :meth:`verify`."""
        g = group_by_name(str(data["curve"]))
        pkg = cls(
            curve=g.name,
            key_id=uuid.UUID(str(data["key_id"])).bytes,
            epoch=int(data["epoch"]),
            threshold=int(data["threshold"]),
            committee=Committee.from_dict(data["committee"]),
            commitments=tuple(g.decode_point(bytes.fromhex(c)) for c in data["commitments"]),
        )
        pkg.verify()
        return pkg


class KeyShare:
    """A party's secret share ``x_i`` with its public key package. Never printed, never logged.

    Not a dataclass on purpose: no generated ``__eq__``/``__repr__`` that could leak ``x_i``.
    """

    __slots__ = ("_secret", "party_id", "pkg")

    def __init__(self, *, pkg: PublicKeyPackage, party_id: int, secret: int) -> None:
        self.pkg = pkg
        self.party_id = party_id
        self._secret = secret

    @property
    def secret(self) -> int:
        """``x_i``. Use only inside protocol code; never serialise outside the sealed store."""
        return self._secret

    @property
    def verification_share(self) -> Point:
        """``X_i``."""
        return self.pkg.verification_shares[self.party_id]

    def verify(self) -> None:
        """§1.4 invariants plus ``x_i ≠ 0`` and ``x_i·G == X_i`` (``SHARE_INTEGRITY``)."""
        self.pkg.verify()
        if self.party_id not in self.pkg.committee.ids:
            raise InvalidKeyShare("own party id is not in the committee")
        if not 0 < self._secret < self.pkg.group.order:
            raise InvalidKeyShare("secret share out of range")
        if self.pkg.group.base_mul(self._secret) != self.verification_share:
            raise InvalidKeyShare("x_i·G does not equal the public verification share X_i")

    def __repr__(self) -> str:
        return (
            f"KeyShare(key={self.pkg.key_uuid}, epoch={self.pkg.epoch}, "
            f"party={self.party_id}, secret=<redacted>)"
        )
