"""`make demo`: a local 3-node cluster (3 OpenBao + 3 nodes) signs a real XRP payment.

Starts the cluster in a fresh directory, creates a 2-of-3 Ed25519 key by DKG, signs an XRP
Ledger Payment from the key's account, verifies the blob with three independent checks
(xrpl-py, libsodium via PyNaCl, rippled's S < L rule), prints it, and stops the cluster.
Set WARIFU_DEMO_DIR to keep the cluster's files somewhere specific.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from nacl.signing import VerifyKey
from xrpl.core.binarycodec import decode, encode_for_signing
from xrpl.core.keypairs import is_valid_message
from xrpl.models.transactions import Payment, Transaction

from warifu.client import Client, cluster

ED25519_L = 2**252 + 27742317777372353535851937790883648493


def main() -> int:
    data_dir = Path(os.environ.get("WARIFU_DEMO_DIR") or tempfile.mkdtemp(prefix="warifu-demo-"))
    print(f"== starting a local cluster in {data_dir} (3 OpenBao servers + 3 nodes)")
    t0 = time.monotonic()
    info = cluster.up(data_dir, nodes=3, threshold=2)
    print(
        f"   up in {time.monotonic() - t0:.1f} s: "
        + ", ".join(f"{n.id}@{n.endpoint}" for n in info.nodes)
    )
    try:
        with Client.from_cluster(data_dir) as client:
            t0 = time.monotonic()
            key = client.create_key("eddsa-ed25519", threshold=2)
            print(f"== created 2-of-3 Ed25519 key by DKG in {time.monotonic() - t0:.2f} s")
            print(json.dumps(key.to_json(), indent=2))

            payment = Payment(
                account=key.xrp_address,
                destination="rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe",
                amount="25000000",  # 25 XRP in drops
                fee="12",
                sequence=1,
                last_ledger_sequence=90_000_000,
            )
            t0 = time.monotonic()
            signed = client.sign_xrp_transaction(key.key_id, payment.to_xrpl())
            ms = 1000 * (time.monotonic() - t0)
            print(f"== signed an XRP Payment with parties {signed.signers} in {ms:.1f} ms")
            print(json.dumps(signed.to_json(), indent=2))

            tx = decode(signed.tx_blob)
            message = bytes.fromhex(encode_for_signing(tx))
            sig = bytes.fromhex(tx["TxnSignature"])
            assert tx["SigningPubKey"] == "ED" + key.public_key.hex().upper()
            assert is_valid_message(message, sig, tx["SigningPubKey"]), (
                "xrpl-py rejects the signature"
            )
            VerifyKey(key.public_key).verify(message, sig)  # libsodium; raises if invalid
            assert int.from_bytes(sig[32:], "little") < ED25519_L, "rippled's S < L rule"
            assert Transaction.from_xrpl(tx).get_hash() == signed.hash
            print(
                "== verified: xrpl-py, libsodium (PyNaCl) and rippled's S < L rule accept the blob;"
            )
            print(f"   transaction id {signed.hash}")
    finally:
        cluster.down(data_dir)
        print("== cluster stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
