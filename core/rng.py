"""Injected randomness.

Protocol code never calls the OS: it receives an :class:`Rng`. Production uses
:class:`SystemRng` (``secrets``); tests use :class:`DeterministicRng`, a SHAKE-256 counter-mode
generator whose output is ``XOF("warifu/v1/test-rng", n; seed, u64be(counter))``
(``specs/dkls23.md`` §2.2 with erratum 18's tag).

Random scalars are 64 bytes reduced mod the group order (bias < 2^-256); "nonzero" scalars are
resampled on 0 (``specs/dkls23.md`` §2.2).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Protocol

from warifu.core.encoding import enc, u64be
from warifu.core.errors import RngFailure


class Rng(Protocol):
    """A source of uniformly random bytes."""

    def random_bytes(self, n: int) -> bytes:
        """Return ``n`` uniformly random bytes."""
        ...


class SystemRng:
    """The production Rng: the operating system's CSPRNG through :mod:`secrets`."""

    def random_bytes(self, n: int) -> bytes:
        """Return ``n`` bytes from :func:`secrets.token_bytes`; raise RngFailure if it fails."""
        try:
            return secrets.token_bytes(n)
        except Exception as exc:  # fail closed: a broken RNG must never be papered over
            raise RngFailure("system random number generator failed") from exc

    def __repr__(self) -> str:
        return "SystemRng()"


TEST_RNG_TAG = b"warifu/v1/test-rng"


class DeterministicRng:
    """A seeded, reproducible Rng for tests. Never use it in production.

    ``fork(label)`` derives an independent child stream (e.g. one per party).
    """

    def __init__(self, seed: bytes | int | str) -> None:
        if isinstance(seed, int):
            seed = seed.to_bytes(32, "big")
        elif isinstance(seed, str):
            seed = seed.encode()
        self._seed = bytes(seed)
        self._counter = 0

    def random_bytes(self, n: int) -> bytes:
        """Return the next ``n`` bytes of the stream."""
        out = hashlib.shake_256(enc(TEST_RNG_TAG, self._seed, u64be(self._counter))).digest(n)
        self._counter += 1
        return out

    def fork(self, label: bytes | str | int) -> DeterministicRng:
        """An independent stream derived from this seed and ``label``."""
        if isinstance(label, int):
            label = label.to_bytes(8, "big")
        elif isinstance(label, str):
            label = label.encode()
        return DeterministicRng(
            hashlib.sha256(enc(TEST_RNG_TAG + b"/fork", self._seed, label)).digest()
        )

    def __repr__(self) -> str:
        return "DeterministicRng(<seed redacted>)"


def random_scalar(rng: Rng, order: int) -> int:
    """A uniform scalar in ``[0, order)`` from 64 random bytes (bias < 2^-256)."""
    return int.from_bytes(rng.random_bytes(64), "big") % order


def random_nonzero_scalar(rng: Rng, order: int) -> int:
    """A uniform scalar in ``[1, order)``, resampling on zero."""
    while True:
        k = random_scalar(rng, order)
        if k != 0:
            return k
