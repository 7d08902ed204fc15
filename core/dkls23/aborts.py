"""Abort classes of DKLs23 signing and what each one requires of the node.

Spec: ``specs/dkls23.md`` §10.1 (classes, culprits, actions), §10.2 (rules), erratum 8 (the
peer-visible abort notice carries the class only).

:func:`classify` maps a :class:`~warifu.core.errors.ProtocolAbort` raised by this package to its
class; :func:`pairs_to_ban` gives the peers whose pairwise OT state must be marked ``BANNED``
(both directions, durably) for a CHEAT-OT abort.
"""

from __future__ import annotations

import enum

from warifu.core.errors import AbortReason, ProtocolAbort

from .wire import is_dropped


class AbortClass(enum.Enum):
    """The classes of §10.1."""

    CHEAT_OT = "CHEAT-OT"
    DROPPED = "DROPPED"
    CHEAT_FORMAT = "CHEAT-FORMAT"
    AMBIGUOUS = "AMBIGUOUS"
    LIVENESS = "LIVENESS"
    LOCAL = "LOCAL"


CHEAT_OT_REASONS = frozenset(
    {
        AbortReason.OT_CONSISTENCY_FAILED,
        AbortReason.RVOLE_CONSISTENCY_FAILED,
        AbortReason.GAMMA_U_FAILED,
        AbortReason.GAMMA_V_FAILED,
        AbortReason.COMMITMENT_MISMATCH,
        AbortReason.VSOT_VERIFY_FAILED,
        AbortReason.VSOT_POK_INVALID,
    }
)

_FORMAT_REASONS = frozenset(
    {
        AbortReason.INVALID_ENCODING,
        AbortReason.BAD_LENGTH,
        AbortReason.BAD_ENVELOPE,
        AbortReason.EQUIVOCATION,
        AbortReason.INVALID_DATA_SIZE,
    }
)

_LIVENESS_REASONS = frozenset(
    {AbortReason.PRESIG_UNKNOWN_OR_CONSUMED, AbortReason.UNSUPPORTED_RECID}
)


def classify(exc: ProtocolAbort) -> AbortClass:
    """The §10.1 class of ``exc``.

    ``ECHO_MISMATCH`` and ``MESSAGE_MISMATCH`` are CHEAT-FORMAT when a culprit is proven (a
    signed lie, or a message bound in ``sid``) and AMBIGUOUS otherwise.
    """
    reason = exc.abort_reason
    if is_dropped(exc):
        return AbortClass.DROPPED
    if reason in CHEAT_OT_REASONS:
        return AbortClass.CHEAT_OT
    if reason in _FORMAT_REASONS:
        return AbortClass.CHEAT_FORMAT
    if reason in (AbortReason.ECHO_MISMATCH, AbortReason.MESSAGE_MISMATCH):
        return AbortClass.CHEAT_FORMAT if exc.culprits else AbortClass.AMBIGUOUS
    if reason in _LIVENESS_REASONS:
        return AbortClass.LIVENESS
    return AbortClass.AMBIGUOUS


def pairs_to_ban(exc: ProtocolAbort) -> frozenset[int]:
    """Peers whose OT state (both directions) must be BANNED and destroyed: CHEAT-OT culprits."""
    if classify(exc) is AbortClass.CHEAT_OT:
        return exc.culprits
    return frozenset()
