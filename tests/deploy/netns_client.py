"""A wallet client for the multi-host test, run inside the test's own "hub" network namespace.

``python netns_client.py BOOTSTRAP_DIR create``                      -> KeyInfo JSON
``python netns_client.py BOOTSTRAP_DIR sign KEY_ID SEQ ENTRY[,ENTRY]`` -> signature JSON
``python netns_client.py BOOTSTRAP_DIR health NODE``                 -> {"status": ...}

Endpoints come from the bootstrap's cluster.json, the identity from its client/ directory.
Errors print ``{"error": code, "reason": ...}`` and exit 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from xrpl.models.transactions import Payment

from warifu.client import Client, WarifuRpcError


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    cmd = argv[1]
    summary = json.loads((out / "cluster.json").read_text())
    endpoints = {n["name"]: n["endpoint"] for n in summary["nodes"]}
    ca = (out / "client" / "ca.pem").read_bytes()
    cert = (out / "client" / "client.pem").read_bytes()
    key = (out / "client" / "client.key").read_bytes()
    if cmd == "health":
        creds = grpc.ssl_channel_credentials(ca, key, cert)
        with grpc.secure_channel(endpoints[argv[2]], creds) as ch:
            try:
                resp = health_pb2_grpc.HealthStub(ch).Check(
                    health_pb2.HealthCheckRequest(), timeout=1.0
                )
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
            except grpc.RpcError as err:
                status = f"UNREACHABLE {err.code().name}"
        print(json.dumps({"status": status}))
        return 0
    try:
        if cmd == "create":
            with Client(list(endpoints.values()), ca=ca, cert=cert, key=key, timeout=30) as c:
                info = c.create_key("eddsa-ed25519", threshold=2)
            print(json.dumps(info.to_json()))
            return 0
        if cmd == "sign":
            key_id, seq, entries = argv[2], int(argv[3]), argv[4].split(",")
            with Client(
                [endpoints[e] for e in entries], ca=ca, cert=cert, key=key, timeout=30
            ) as c:
                info = c.get_key(key_id)
                tx = Payment(
                    account=info.xrp_address,
                    destination="rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe",
                    amount="1000000",
                    fee="12",
                    sequence=seq,
                ).to_xrpl()
                signed = c.sign_xrp_transaction(key_id, tx)
            print(json.dumps({"tx_blob": signed.tx_blob, "signers": signed.signers}))
            return 0
    except WarifuRpcError as exc:
        print(json.dumps({"error": str(exc.code), "reason": exc.reason, "message": str(exc)}))
        return 1
    raise SystemExit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
