"""Shamir polynomials over a group's scalar field and their Feldman commitments.

Spec: ``specs/shares.md`` §1.3 (shares), §4 D0 steps 1–2 (sampling, ``C_{i,k} = a_{i,k}·G``), D2
(``f_i(j)``) and Finish step 2 (the Feldman check).

Notation
========  ==========================================================================
``t``     the threshold: number of coefficients, degree ``t − 1``
``a_k``   coefficient ``k``; ``a_0 = f(0)`` is the dealt secret
``C_k``   ``a_k·G``, the Feldman commitment to ``a_k``
``f(x)``  ``Σ_k a_k·x^k mod order``
========  ==========================================================================

Python cannot wipe an ``int``; :meth:`Polynomial.zeroise` drops the references (best effort, see
the security notes). A zeroised polynomial refuses to be used again.
"""

from __future__ import annotations

from collections.abc import Sequence

from warifu.core.curves import Group, Point
from warifu.core.errors import AbortReason, InvalidArguments, InvariantViolation, ProtocolAbort
from warifu.core.rng import Rng, random_nonzero_scalar
from warifu.core.shares.package import eval_commitments


class Polynomial:
    """A secret polynomial ``f`` of degree ``t − 1`` over ``Z_order``. Repr is redacted."""

    __slots__ = ("_coefficients", "_order")

    def __init__(self, coefficients: Sequence[int], order: int) -> None:
        if not coefficients:
            raise InvalidArguments("a polynomial needs at least one coefficient")
        if any(not 0 <= a < order for a in coefficients):
            raise InvalidArguments("polynomial coefficient out of range")
        self._coefficients: list[int] = list(coefficients)
        self._order = order

    @classmethod
    def random(cls, rng: Rng, order: int, threshold: int) -> Polynomial:
        """``t`` independent uniform *nonzero* coefficients (``shares.md`` §4 D0 step 1)."""
        if threshold < 1:
            raise InvalidArguments("threshold must be at least 1")
        return cls([random_nonzero_scalar(rng, order) for _ in range(threshold)], order)

    @property
    def threshold(self) -> int:
        """Number of coefficients ``t`` (degree + 1)."""
        return len(self._live())

    @property
    def coefficients(self) -> tuple[int, ...]:
        """The secret coefficients ``a_0..a_{t−1}``. Protocol-internal; never log or persist."""
        return tuple(self._live())

    def evaluate(self, x: int) -> int:
        """``f(x) mod order`` by Horner's rule."""
        acc = 0
        for a in reversed(self._live()):
            acc = (acc * x + a) % self._order
        return acc

    def commitments(self, group: Group) -> tuple[Point, ...]:
        """``(a_0·G, …, a_{t−1}·G)``."""
        if group.order != self._order:
            raise InvariantViolation("polynomial and group have different orders")
        return tuple(group.base_mul(a) for a in self._live())

    def zeroise(self) -> None:
        """Drop the coefficients (best effort; CPython cannot overwrite an int in place)."""
        for k in range(len(self._coefficients)):
            self._coefficients[k] = 0
        self._coefficients.clear()

    @property
    def zeroised(self) -> bool:
        """True once :meth:`zeroise` ran."""
        return not self._coefficients

    def _live(self) -> list[int]:
        if not self._coefficients:
            raise InvariantViolation("polynomial used after zeroise()")
        return self._coefficients

    def __repr__(self) -> str:
        state = "zeroised" if not self._coefficients else f"t={len(self._coefficients)}"
        return f"Polynomial({state}, <redacted>)"


def verify_feldman_share(
    group: Group, commitments: Sequence[Point], x: int, share: int, *, dealer: int
) -> None:
    """Check ``share·G == Σ_k x^k·C_k``; raise ``FELDMAN_VERIFICATION_FAILED`` naming ``dealer``.

    Spec: ``shares.md`` §4 Finish step 2.
    """
    if group.base_mul(share) != eval_commitments(group, commitments, x):
        raise ProtocolAbort(
            AbortReason.FELDMAN_VERIFICATION_FAILED,
            {dealer},
            f"share from party {dealer} is not on its committed polynomial",
        )
