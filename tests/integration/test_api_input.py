"""Client-input integration tests: bad, oversized and repeated requests against real nodes.

Three real nodes in this process (real gRPC over mTLS, real OpenBao each), so a test can also
check that a refused request started nothing: every node's coordinator and FROST member is
wrapped with a pass-through counter (no behaviour changes). IDs: specs/test-plan.md (API-1..5).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest

from faultkit import payment, rpc_fail, sign_request, verify_xrp
from harness import InProcessCluster, inprocess_cluster
from warifu.client import KeyInfo, WarifuRpcError
from warifu.node.errors import error_info
from warifu.v1 import common_pb2, signer_pb2, signer_pb2_grpc


class Counters:
    """Pass-through counters on every node: sessions coordinated, round-1 commits served."""

    def __init__(self, cluster: InProcessCluster) -> None:
        self.cluster = cluster
        self.coordinated = dict.fromkeys(self.names, 0)
        self.committed = dict.fromkeys(self.names, 0)
        self.delay_s = 0.0
        self._lock = threading.Lock()
        for name in self.names:
            node = cluster.node(name)
            node.frost.sign = self._wrap(node.frost.sign, self.coordinated, name, delay=True)  # type: ignore[method-assign]
            node.frost_member.commit = self._wrap(node.frost_member.commit, self.committed, name)  # type: ignore[method-assign]

    @property
    def names(self) -> list[str]:
        return [n.id for n in self.cluster.info.nodes]

    def _wrap(self, fn: Any, box: dict[str, int], name: str, *, delay: bool = False) -> Any:
        async def counted(*args: Any, **kw: Any) -> Any:
            with self._lock:
                box[name] += 1
            if delay and self.delay_s:
                import asyncio

                await asyncio.sleep(self.delay_s)
            return await fn(*args, **kw)

        return counted

    def snapshot(self) -> dict[str, Any]:
        """Everything that shows work started: counters, open sessions, held nonces."""
        with self._lock:
            return {
                "coordinated": dict(self.coordinated),
                "committed": dict(self.committed),
                "sessions": {n: len(self.cluster.node(n).sessions) for n in self.names},
                "nonces": {n: len(self.cluster.node(n).frost_member.nonces) for n in self.names},
            }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessCluster]:
    with inprocess_cluster(tmp_path_factory.mktemp("api")) as c:
        yield c


@pytest.fixture(scope="module")
def key(cluster: InProcessCluster) -> KeyInfo:
    with entry(cluster) as c:
        return c.create_key("eddsa-ed25519", threshold=2)


@pytest.fixture(scope="module")
def counters(cluster: InProcessCluster, key: KeyInfo) -> Counters:
    return Counters(cluster)


def entry(cluster: InProcessCluster, name: str = "node-1", **kw: Any) -> Any:
    return cluster.client(endpoints=[cluster.info.node(name).endpoint], **kw)


def signer_stub(cluster: InProcessCluster, name: str = "node-1") -> tuple[grpc.Channel, Any]:
    ch = grpc.secure_channel(cluster.info.node(name).endpoint, cluster.info.client_credentials())
    return ch, signer_pb2_grpc.SignerStub(ch)


def test_api_1_unknown_malformed_and_foreign_keys(
    cluster: InProcessCluster, key: KeyInfo, counters: Counters
) -> None:
    """API-1: an unknown key id -> NOT_FOUND KEY_NOT_FOUND; a malformed one -> INVALID_ARGUMENT
    INVALID_KEY_ID; another client's key -> Sign PERMISSION_DENIED KEY_ACCESS_DENIED, GetKey
    NOT_FOUND (it is not listed either); nothing reaches a FROST member."""
    before = counters.snapshot()
    tx = payment(key, seq=1)
    cases = {
        str(uuid.uuid4()): (grpc.StatusCode.NOT_FOUND, "KEY_NOT_FOUND"),
        "not-a-uuid": (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_KEY_ID"),
        "": (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_KEY_ID"),
    }
    with entry(cluster) as c:
        for key_id, want in cases.items():
            with pytest.raises(WarifuRpcError) as err:
                c.sign_xrp_transaction(key_id, tx)
            assert (err.value.code, err.value.reason) == want, key_id
    with entry(cluster, cn="other-wallet") as other:
        with pytest.raises(WarifuRpcError) as err:
            other.sign_xrp_transaction(key.key_id, tx)
        assert (err.value.code, err.value.reason) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "KEY_ACCESS_DENIED",
        )
        with pytest.raises(WarifuRpcError) as err:
            other.get_key(key.key_id)
        assert (err.value.code, err.value.reason) == (grpc.StatusCode.NOT_FOUND, "KEY_NOT_FOUND")
        assert key.key_id not in {k.key_id for k in other.list_keys()}
    assert counters.snapshot() == before


def bad_tx_cases(key: KeyInfo) -> dict[str, tuple[str, str]]:
    """What -> (tx JSON, reason) for transactions the node must refuse (core/chains/xrpl.py)."""
    tx = payment(key, seq=2)
    no_fee = {k: v for k, v in tx.items() if k != "Fee"}
    no_seq = {k: v for k, v in tx.items() if k != "Sequence"}
    other_spk = "ED" + secrets.token_bytes(32).hex().upper()
    return {
        "undecodable JSON": ('{"TransactionType": "Payment",', "INVALID_JSON"),
        "a JSON array": (json.dumps([tx]), "INVALID_TRANSACTION"),
        "missing Fee": (json.dumps(no_fee), "MISSING_FIELD"),
        "missing Sequence": (json.dumps(no_seq), "MISSING_FIELD"),
        "unknown TransactionType": (
            json.dumps({**tx, "TransactionType": "PaymentPlease"}),
            "INVALID_TRANSACTION",
        ),
        "already signed": (json.dumps({**tx, "TxnSignature": "AB" * 64}), "ALREADY_SIGNED"),
        "SigningPubKey of another key": (
            json.dumps({**tx, "SigningPubKey": other_spk}),
            "SIGNING_PUBKEY_MISMATCH",
        ),
    }


def test_api_2_malformed_requests_start_nothing(
    cluster: InProcessCluster, key: KeyInfo, counters: Counters
) -> None:
    """API-2: each malformed Sign / CreateKey is INVALID_ARGUMENT with its own reason and starts
    no session: no coordinator run, no round-1 commit, no DKG session, no nonce at any node."""
    before = counters.snapshot()
    with entry(cluster) as c:
        for what, (tx_json, reason) in bad_tx_cases(key).items():
            with pytest.raises(WarifuRpcError) as err:
                c.sign_xrp_transaction(key.key_id, tx_json)
            assert (err.value.code, err.value.reason) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                reason,
            ), what
        with pytest.raises(WarifuRpcError) as err:
            c.sign_xrp_transaction(key.key_id, payment(key, seq=3), request_id=b"\1" * 15)
        assert (err.value.code, err.value.reason) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_REQUEST_ID",
        )
        create_cases = {
            "threshold 1": (
                {"threshold": 1},
                (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_THRESHOLD"),
            ),
            "threshold > n": (
                {"threshold": 4},
                (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_THRESHOLD"),
            ),
            "request_id of 15 bytes": (
                {"threshold": 2, "request_id": b"\2" * 15},
                (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST_ID"),
            ),
        }
        for what, (kw, want) in create_cases.items():
            with pytest.raises(WarifuRpcError) as err:
                c.create_key(**kw)
            assert (err.value.code, err.value.reason) == want, what
    ch, stub = signer_stub(cluster)
    with ch:
        empty = signer_pb2.SignRequest(request_id=secrets.token_bytes(16), key_id=key.key_id)
        code, reason, _ = rpc_fail(stub.Sign, empty)
        assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "MISSING_PAYLOAD")
        for scheme in (common_pb2.SCHEME_UNSPECIFIED, 7):  # no scheme; one this node never heard of
            no_scheme = signer_pb2.CreateKeyRequest(
                request_id=secrets.token_bytes(16), scheme=scheme, threshold=2
            )
            code, reason, _ = rpc_fail(stub.CreateKey, no_scheme)
            assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_SCHEME"), scheme
    assert counters.snapshot() == before
    assert all(n == 0 for n in before["nonces"].values())


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_api_3_oversized_requests(
    cluster: InProcessCluster, key: KeyInfo, counters: Counters
) -> None:
    """API-3: a request over max_request_bytes (64 KiB) -> RESOURCE_EXHAUSTED, refused by the
    transport before any handler; a transaction over the 32 KiB tx limit -> INVALID_ARGUMENT
    TRANSACTION_TOO_LARGE; a huge repeated field (committee of 65) -> RESOURCE_EXHAUSTED
    COMMITTEE_TOO_LARGE. 32 MiB of oversized requests leave memory bounded
    (the process grows by less than half of it: nothing refused is kept)."""
    before = counters.snapshot()
    tx = payment(key, seq=4)
    ch, stub = signer_stub(cluster)
    with ch:
        big = sign_request(key, {**tx, "Memos": [{"Memo": {"MemoData": "AB" * 40_000}}]})
        assert big.ByteSize() > 64 * 1024
        code, _, _ = rpc_fail(stub.Sign, big)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED

        mid = sign_request(key, {**tx, "Memos": [{"Memo": {"MemoData": "AB" * 20_000}}]})
        assert 32 * 1024 < mid.ByteSize() < 64 * 1024
        code, reason, _ = rpc_fail(stub.Sign, mid)
        assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "TRANSACTION_TOO_LARGE")

        crowd = signer_pb2.CreateKeyRequest(
            request_id=secrets.token_bytes(16),
            scheme=common_pb2.EDDSA_ED25519,
            committee=[f"node-{i}" for i in range(1, 66)],
        )
        code, reason, _ = rpc_fail(stub.CreateKey, crowd)
        assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "COMMITTEE_TOO_LARGE")

        huge = sign_request(key, "x" * (1024 * 1024))

        def batch() -> None:  # 8 oversized requests in flight at once (8 MiB)
            futures = [stub.Sign.future(huge, timeout=10) for _ in range(8)]
            for f in futures:
                assert f.exception().code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        for _ in range(2):  # warm-up: channels, gRPC buffers, the allocator's pools
            batch()
        start = rss_bytes()
        for _ in range(4):
            batch()
        grown = rss_bytes() - start
    assert grown < 16 * 1024 * 1024, f"RSS grew by {grown / 2**20:.0f} MiB"
    assert counters.snapshot() == before


def test_api_5_request_id_is_idempotent(
    cluster: InProcessCluster, key: KeyInfo, counters: Counters
) -> None:
    """API-5: the same request id again -> ALREADY_EXISTS carrying the original result (the SDK
    returns it with replayed=True), no second signature; the same id with another body ->
    INVALID_ARGUMENT REQUEST_ID_REUSED; two concurrent identical requests -> one signature."""
    rid = secrets.token_bytes(16)
    tx = payment(key, seq=5)
    before = counters.snapshot()
    with entry(cluster) as c:
        first = c.sign_xrp_transaction(key.key_id, tx, request_id=rid)
        again = c.sign_xrp_transaction(key.key_id, tx, request_id=rid)
    assert not first.replayed and again.replayed
    assert (again.signature, again.tx_blob, again.hash) == (
        first.signature,
        first.tx_blob,
        first.hash,
    )
    verify_xrp(key, first.tx_blob, first.signature)
    assert counters.snapshot()["coordinated"]["node-1"] == before["coordinated"]["node-1"] + 1

    ch, stub = signer_stub(cluster)
    with ch:
        req = sign_request(key, tx, request_id=rid)
        try:
            stub.Sign(req, timeout=10)
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.ALREADY_EXISTS
            assert error_info(err)[0] == "DUPLICATE_REQUEST"
        else:
            raise AssertionError("a replayed request id must answer ALREADY_EXISTS")
        other = sign_request(key, payment(key, seq=6), request_id=rid)
        code, reason, _ = rpc_fail(stub.Sign, other)
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_ID_REUSED")
    assert counters.snapshot()["coordinated"]["node-1"] == before["coordinated"]["node-1"] + 1

    rid2 = secrets.token_bytes(16)
    tx2 = payment(key, seq=7)
    counters.delay_s = 0.5  # keep the first run in flight while the second arrives
    try:
        with entry(cluster) as c, ThreadPoolExecutor(2) as pool:
            t0 = time.monotonic()
            outs = list(
                pool.map(
                    lambda _: c.sign_xrp_transaction(key.key_id, tx2, request_id=rid2), range(2)
                )
            )
            assert time.monotonic() - t0 < 5
    finally:
        counters.delay_s = 0.0
    assert outs[0].signature == outs[1].signature
    assert sorted(o.replayed for o in outs) == [False, True]
    verify_xrp(key, outs[0].tx_blob, outs[0].signature)
    assert counters.snapshot()["coordinated"]["node-1"] == before["coordinated"]["node-1"] + 2
