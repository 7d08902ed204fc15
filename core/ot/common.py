"""Parameters and small helpers shared by the OT modules.

Spec: ``specs/dkls23.md`` §1 (parameters), §2.1 (encodings), §10.1 (culprits of format errors),
§13 (decoding before any secret-dependent work), erratum 9 (fixed layouts, ``BAD_LENGTH``).

Notation
=========  ==================================================================
``q``      secp256k1 group order
``κ_c``    256 base OTs per direction = bits of ``Δ`` = rows of the OTe matrix
``ξ``      512 extended OTs per RVOLE (Bob's choice bits ``β``)
``σ``      256 masking columns and bits of the check field
``ℓ'``     768 = ξ + σ columns (96 bytes per row)
=========  ==================================================================
"""

from __future__ import annotations

import enum

from warifu.core.curves import SECP256K1, Point
from warifu.core.errors import AbortReason, InvalidArguments, ProtocolAbort

GROUP = SECP256K1
Q = SECP256K1.order
POINT_LEN = 33
SCALAR_LEN = 32
ID_LEN = 32  # sid, osid, psid

KAPPA_C = 256
XI = 512
SIGMA = 256
ELL_PRIME = XI + SIGMA
ROW_BYTES = ELL_PRIME // 8
DELTA_BYTES = KAPPA_C // 8
SEED_LEN = 32


class Phase(enum.Enum):
    """Where a two-party OT state machine is; ``FAILED`` and ``CLOSED`` are terminal."""

    NEW = "new"
    ROUND1 = "round1"
    ROUND2 = "round2"
    ROUND3 = "round3"
    DONE = "done"
    CLOSED = "closed"
    FAILED = "failed"


def require_phase(actual: Phase, expected: Phase, what: str) -> None:
    """Raise InvalidArguments(WRONG_STATE) unless ``actual is expected`` (V-F: no reuse)."""
    if actual is not expected:
        raise InvalidArguments(
            f"{what}: call out of order (at {actual.value!r}, needs {expected.value!r})",
            reason="WRONG_STATE",
        )


def check_party(pid: int, what: str = "party id") -> None:
    """A party id is ``1..65535`` (``dkls23.md`` §2.1)."""
    if not isinstance(pid, int) or not 1 <= pid <= 0xFFFF:
        raise InvalidArguments(f"{what} must be in 1..65535", reason="INVALID_PARTY")


def check_id(value: bytes, what: str) -> None:
    """Session / setup ids are 32 bytes."""
    if not isinstance(value, bytes) or len(value) != ID_LEN:
        raise InvalidArguments(f"{what} must be {ID_LEN} bytes")


def check_length(data: bytes, expected: int, peer: int, what: str) -> None:
    """Exact payload length, checked before any parsing: ``BAD_LENGTH`` naming ``peer``."""
    if len(data) != expected:
        raise ProtocolAbort(
            AbortReason.BAD_LENGTH,
            {peer},
            f"{what} from party {peer} has {len(data)} bytes, expected {expected}",
        )


def decode_point(data: bytes, peer: int, what: str) -> Point:
    """A validated secp256k1 point; any defect is ``INVALID_ENCODING`` naming ``peer``."""
    try:
        return GROUP.decode_point(data)
    except InvalidArguments as exc:
        raise ProtocolAbort(
            AbortReason.INVALID_ENCODING, {peer}, f"{what} from party {peer}: {exc.message}"
        ) from exc


def decode_scalars(data: bytes, count: int, peer: int, what: str) -> list[int]:
    """``count`` big-endian 32-byte scalars, each ``< q``; else ``INVALID_ENCODING`` (peer)."""
    out = [
        int.from_bytes(data[i : i + SCALAR_LEN], "big")
        for i in range(0, count * SCALAR_LEN, SCALAR_LEN)
    ]
    if len(data) != count * SCALAR_LEN or any(v >= Q for v in out):
        raise ProtocolAbort(
            AbortReason.INVALID_ENCODING,
            {peer},
            f"{what} from party {peer}: secp256k1 scalar is not < q",
        )
    return out


def bit(packed: bytes, index: int) -> int:
    """Bit ``index`` of an LSB-first packed bit string (``dkls23.md`` §2.1)."""
    return (packed[index >> 3] >> (index & 7)) & 1


def xor_bytes(a: bytes, b: bytes) -> bytes:
    """Bytewise XOR of two equal-length strings."""
    if len(a) != len(b):
        raise InvalidArguments("xor of strings of different lengths")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def select(bit_value: int, if0: bytes, if1: bytes) -> bytes:
    """``if1`` when ``bit_value == 1`` else ``if0``, by masking rather than branching.

    Best effort only: Python ints are not constant-time (``dkls23.md`` §13).
    """
    mask = -bit_value & ((1 << (8 * len(if0))) - 1)
    a = int.from_bytes(if0, "big")
    b = int.from_bytes(if1, "big")
    return (a ^ ((a ^ b) & mask)).to_bytes(len(if0), "big")
