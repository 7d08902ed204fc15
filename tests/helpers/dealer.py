"""A trusted-dealer Shamir sharing, for tests only.

warifu never deals keys from one place (``specs/shares.md``: DKG or an approved import); this
helper exists so that signing can be tested without running a DKG, and so that RFC vectors,
which are trusted-dealer splits, can be turned into warifu key packages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from warifu.core.curves import Group
from warifu.core.rng import Rng, random_nonzero_scalar, random_scalar
from warifu.core.shares.package import Committee, KeyShare, Member, PublicKeyPackage

TEST_KEY_ID = bytes(16)


def make_committee(ids: Sequence[int]) -> Committee:
    """A committee with dummy node names and 32-byte dummy node keys, ascending by id."""
    return Committee(
        members=tuple(
            Member(id=i, node=f"node-{i}", sign_pub=i.to_bytes(2, "big") * 16) for i in sorted(ids)
        )
    )


def eval_polynomial(order: int, coefficients: Sequence[int], x: int) -> int:
    """``f(x) = Σ_m a_m·x^m mod order`` (Horner)."""
    acc = 0
    for a in reversed(coefficients):
        acc = (acc * x + a) % order
    return acc


def package_from_coefficients(
    group: Group, coefficients: Sequence[int], ids: Sequence[int], *, epoch: int = 1
) -> PublicKeyPackage:
    """The public key package of the sharing polynomial ``coefficients`` (``a_0`` = secret)."""
    return PublicKeyPackage(
        curve=group.name,
        key_id=TEST_KEY_ID,
        epoch=epoch,
        threshold=len(coefficients),
        committee=make_committee(ids),
        commitments=tuple(group.base_mul(a) for a in coefficients),
    )


@dataclass(frozen=True)
class Dealt:
    """A dealt key: the polynomial (test-only knowledge), the package and every share."""

    group: Group
    coefficients: tuple[int, ...]
    pkg: PublicKeyPackage
    shares: dict[int, KeyShare]

    @property
    def secret(self) -> int:
        """The group secret ``f(0)``."""
        return self.coefficients[0]


def deal_from_coefficients(group: Group, coefficients: Sequence[int], ids: Sequence[int]) -> Dealt:
    """Shares ``f(i)`` for every id, with the matching package; everything is verified."""
    pkg = package_from_coefficients(group, coefficients, ids)
    shares = {
        i: KeyShare(pkg=pkg, party_id=i, secret=eval_polynomial(group.order, coefficients, i))
        for i in ids
    }
    pkg.verify()
    for share in shares.values():  # KeyShare.verify() minus re-verifying the package n times
        assert 0 < share.secret < group.order
        assert group.base_mul(share.secret) == share.verification_share
    return Dealt(group=group, coefficients=tuple(coefficients), pkg=pkg, shares=shares)


def deal(group: Group, t: int, ids: Sequence[int], rng: Rng) -> Dealt:
    """A random degree ``t−1`` polynomial with a non-zero secret, shared to ``ids``."""
    coefficients = [random_nonzero_scalar(rng, group.order)] + [
        random_scalar(rng, group.order) for _ in range(t - 1)
    ]
    return deal_from_coefficients(group, coefficients, ids)
