"""Concurrent selective failure against one pair (``specs/dkls23.md`` §14 test 35, rule S-1 of
§5.2), at the core level.

A malicious Bob ``P_2`` opens 16 sessions with ``P_1`` at once and makes the OT check of session
``k`` depend on ``Δ_k`` alone (the polychromatic-row construction of §14 test 5). ``P_1`` runs
the 16 check callables of :meth:`SignSession.ot_checks` in 16 threads through
:class:`~helpers.dkls23_harness.PairGuard`, the reference S-1 guard (lock per Alice state,
status re-read under the lock, durable ban before release). The real core check
(:meth:`RvoleAlice.check`) is instrumented to count evaluations and detect overlap.
"""

from __future__ import annotations

import threading
import time

import pytest

from helpers.dkls23_harness import (
    PairGuard,
    delta_bit,
    make_fixture,
    make_sid,
    polychromatic_ote1,
)
from warifu.core.dkls23 import SignSession
from warifu.core.envelope import Envelope
from warifu.core.errors import AbortReason, FailedPrecondition, InvalidArguments, ProtocolAbort
from warifu.core.ot import rvole
from warifu.core.rng import DeterministicRng

N_SESSIONS = 16
ALICE, BOB = 1, 2


def _session_with_forged_ote(
    k: int, label: str
) -> tuple[SignSession, dict[int, Envelope], dict[int, Envelope]]:
    """P_1's session ``k`` after round 1, with P_2's R1_OTE replaced by a row-``k`` forgery."""
    fx = make_fixture(2, (1, 2, 3))
    sid = make_sid(f"{label}-{k}")
    sessions = {
        i: SignSession(
            key_share=fx.shares[i],
            signers=(ALICE, BOB),
            sid=sid,
            pairs={3 - i: fx.pairs[i][3 - i]},
            signer=fx.signers[i],
            rng=DeterministicRng(f"{label}-{k}/{i}"),
        )
        for i in (ALICE, BOB)
    }
    com1 = sessions[ALICE].round1()
    del com1
    com2, otes2 = sessions[BOB].round1()
    forged = polychromatic_ote1(
        sid=sid,
        bob=BOB,
        alice=ALICE,
        seeds=fx.pairs[BOB][ALICE].bob,
        row=k,
        column=5,
        rng_label=f"{label}-forge-{k}",
    )
    return (
        sessions[ALICE],
        {BOB: fx.resign(otes2[ALICE], payload=forged)},
        {BOB: com2},
    )


class Instrumented:
    """Counts and overlap-checks evaluations of the real Δ-dependent core check."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        real = rvole.RvoleAlice.check

        def check(alice: rvole.RvoleAlice, ote1: bytes) -> None:
            with self._lock:
                self.calls += 1
                self.active += 1
                self.max_active = max(self.max_active, self.active)
            try:
                time.sleep(0.002)  # widen the window an overlap would need
                real(alice, ote1)
            finally:
                with self._lock:
                    self.active -= 1

        monkeypatch.setattr(rvole.RvoleAlice, "check", check)


def _run_concurrently(
    guard: PairGuard, label: str
) -> tuple[dict[int, object], dict[int, SignSession]]:
    prepared = {k: _session_with_forged_ote(k, label) for k in range(N_SESSIONS)}
    checks = {}
    for k, (sess, otes, coms) in prepared.items():
        [(peer, check)] = sess.ot_checks(otes, coms)
        assert peer == BOB
        checks[k] = check
    barrier = threading.Barrier(N_SESSIONS)
    results: dict[int, object] = {}

    def worker(k: int) -> None:
        barrier.wait()
        try:
            guard.run(ALICE, BOB, checks[k])
            results[k] = "passed"
        except (ProtocolAbort, FailedPrecondition) as exc:
            results[k] = exc

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(N_SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, {k: p[0] for k, p in prepared.items()}


@pytest.mark.parametrize("vault_write_fails", [False, True], ids=["durable", "vault-down"])
def test_concurrent_selective_failure_is_bounded_by_one_bit(
    vault_write_fails: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    fx = make_fixture(2, (1, 2, 3))
    deltas = [delta_bit(fx, ALICE, BOB, k) for k in range(N_SESSIONS)]
    assert 1 in deltas and 0 in deltas, "the seeded Δ must have both bit values in rows 0..15"
    probe = Instrumented(monkeypatch)
    durable: dict[tuple[int, int], str] = {}
    guard = PairGuard(durable, write_fails=vault_write_fails)
    results, sessions = _run_concurrently(guard, f"s1-{vault_write_fails}")

    # checks for the pair never overlapped
    assert probe.max_active == 1 and guard.max_active[(ALICE, BOB)] == 1
    failed = [k for k, r in results.items() if isinstance(r, ProtocolAbort)]
    passed = [k for k, r in results.items() if r == "passed"]
    refused = [k for k, r in results.items() if isinstance(r, FailedPrecondition)]
    # exactly one failure; every evaluated session before it passed iff its Δ_k = 0
    assert len(failed) == 1
    [k_fail] = failed
    exc = results[k_fail]
    assert isinstance(exc, ProtocolAbort)
    assert exc.abort_reason is AbortReason.OT_CONSISTENCY_FAILED and exc.culprits == {BOB}
    assert deltas[k_fail] == 1 and all(deltas[k] == 0 for k in passed)
    # after the first failure no further check was evaluated; the queue was refused unevaluated
    assert probe.calls == len(passed) + 1 == guard.evaluations[(ALICE, BOB)]
    assert len(refused) == N_SESSIONS - len(passed) - 1
    for k in refused:
        assert results[k].reason == "FAILED_PRECONDITION"  # type: ignore[attr-defined]
    # the failing session is terminal: no R2 can be produced, its secrets are gone
    assert sessions[k_fail].phase == "aborted" and not sessions[k_fail].holds_secrets
    with pytest.raises(InvalidArguments):
        sessions[k_fail].round2({})
    # BANNED was recorded before the lock was released (and so before any reply)
    pair = (min(ALICE, BOB), max(ALICE, BOB))
    assert guard.banned(ALICE, BOB) and guard.banned(BOB, ALICE)
    if vault_write_fails:
        assert durable == {} and pair in guard.memory_banned
    else:
        assert durable == {pair: "BANNED"}
        i_ban = guard.events.index(("durable-ban", (ALICE, BOB)))
        releases = [i for i, e in enumerate(guard.events) if e == ("release", (ALICE, BOB))]
        assert i_ban < releases[len(passed)]  # the failing evaluation's release comes after
    # after a "restart" (a new guard over the durable state) the pair is still refused
    calls_before = probe.calls
    restarted = PairGuard(dict(durable)) if not vault_write_fails else guard
    sess, otes, coms = _session_with_forged_ote(0, f"after-restart-{vault_write_fails}")
    [(_, check)] = sess.ot_checks(otes, coms)
    with pytest.raises(FailedPrecondition):
        restarted.run(ALICE, BOB, check)
    assert probe.calls == calls_before
