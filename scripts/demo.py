"""`make demo`: a local 3-node cluster (3 OpenBao + 3 nodes) signs real ETH and XRP transactions.

Starts the cluster in a fresh directory, then:

1. creates a 2-of-3 Ed25519 key by DKG (FROST), signs an XRP Ledger Payment from its account
   and verifies the blob with xrpl-py, libsodium (PyNaCl) and rippled's S < L rule;
2. creates a 2-of-3 secp256k1 key by DKG (DKLs23), signs an EIP-1559 transaction and an XRP
   Payment from its accounts, and verifies them with eth-account (recovery to the key's EIP-55
   address) and with xrpl-py + libsecp256k1 (strict DER, low S);

prints everything and stops the cluster. Set WARIFU_DEMO_DIR to keep the cluster's files.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from coincurve import PublicKey
from eth_account import Account
from nacl.signing import VerifyKey
from xrpl.core.binarycodec import decode, encode_for_signing
from xrpl.core.keypairs import is_valid_message
from xrpl.models.transactions import Payment, Transaction

from warifu.client import Client, cluster
from warifu.core.chains.xrpl import der_is_strict_low_s

ED25519_L = 2**252 + 27742317777372353535851937790883648493


def ecdsa_part(client: Client) -> None:
    """Threshold ECDSA: an EIP-1559 transaction and an XRP payment from one 2-of-3 key."""
    t0 = time.monotonic()
    key = client.create_key("ecdsa-secp256k1", threshold=2)
    secs = time.monotonic() - t0
    print(f"== created 2-of-3 secp256k1 key by DKG (with pairwise OT setup) in {secs:.2f} s")
    print(json.dumps(key.to_json(), indent=2))

    tx = {
        "type": 2,
        "chainId": 1,
        "nonce": 0,
        "to": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "value": 10**15,
        "gas": 21000,
        "maxFeePerGas": 30 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    t0 = time.monotonic()
    eth_tx = client.sign_eth_transaction(key.key_id, tx)
    ms = 1000 * (time.monotonic() - t0)
    print(f"== signed an EIP-1559 transaction with parties {eth_tx.signers} in {ms:.1f} ms")
    print(json.dumps(eth_tx.to_json(), indent=2))
    assert Account.recover_transaction(eth_tx.raw_transaction) == key.eth_address
    print(f"== verified: eth-account recovers the sender {key.eth_address}")

    payment = Payment(
        account=key.xrp_address,
        destination="rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe",
        amount="1000000",
        fee="12",
        sequence=1,
    )
    xrp = client.sign_xrp_transaction(key.key_id, payment.to_xrpl())
    tx_json = decode(xrp.tx_blob)
    message = bytes.fromhex(encode_for_signing(tx_json))
    der = bytes.fromhex(tx_json["TxnSignature"])
    assert is_valid_message(message, der, tx_json["SigningPubKey"]), "xrpl-py rejects the signature"
    digest = hashlib.sha512(message).digest()[:32]
    assert PublicKey(key.public_key).verify(der, digest, hasher=None), "libsecp256k1 rejects it"
    assert der_is_strict_low_s(der), "rippled's strict DER / low-S rule"
    print(f"== signed and verified an XRP Payment from the secp256k1 account {key.xrp_address}")
    print(f"   transaction id {xrp.hash}")


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
            ecdsa_part(client)
    finally:
        cluster.down(data_dir)
        print("== cluster stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
