"""The ``warifu`` command line: the local cluster, keys and signing.

::

    warifu up     --data-dir ./cluster --nodes 3 --threshold 2
    warifu status --data-dir ./cluster --json
    warifu key create --data-dir ./cluster --scheme eddsa-ed25519 --json
    warifu key show   --data-dir ./cluster --key KEY_ID --json
    warifu sign xrp   --data-dir ./cluster --key KEY_ID --tx payment.json --json
    warifu sign eth   --data-dir ./cluster --key KEY_ID --tx tx.json --json
    warifu sign eth-message    --data-dir ./cluster --key KEY_ID --message "hello" --json
    warifu sign eth-typed-data --data-dir ./cluster --key KEY_ID --file typed.json --json
    warifu down   --data-dir ./cluster
    warifu bench  --data-dir ./cluster --out report/ [--quick]

Against a deployed cluster, give ``--endpoints host:port,...`` with ``--ca``, ``--cert`` and
``--key-file`` instead of ``--data-dir``. Exit status: 0 success, 1 the call failed (the gRPC
code and stable reason are printed), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from warifu.client.client import SCHEMES, Client, WarifuRpcError
from warifu.core.approvals import Approval, ApproverKey, CeremonyStatement
from warifu.core.audit import AuditEntry, verify_chain
from warifu.core.errors import AuditChainBroken, WarifuError


def _print(obj: Any, as_json: bool, text: str) -> None:
    if as_json:
        print(json.dumps(obj, indent=2, sort_keys=True))
    else:
        print(text)


def _client(args: argparse.Namespace) -> Client:
    if args.endpoints:
        if not (args.ca and args.cert and args.key_file):
            raise SystemExit("warifu: --endpoints needs --ca, --cert and --key-file")
        return Client(
            [e.strip() for e in args.endpoints.split(",") if e.strip()],
            ca=Path(args.ca).read_bytes(),
            cert=Path(args.cert).read_bytes(),
            key=Path(args.key_file).read_bytes(),
        )
    return Client.from_cluster(args.data_dir)


def cmd_up(args: argparse.Namespace) -> int:
    from warifu.client import cluster

    info = cluster.up(Path(args.data_dir), nodes=args.nodes, threshold=args.threshold)
    st = cluster.status(Path(args.data_dir))
    _print(
        cluster.status_json(st),
        args.json,
        "\n".join(f"{n.id}: {n.endpoint} (vault {n.vault_addr})" for n in info.nodes)
        + f"\ncluster of {len(info.nodes)} nodes is up; data in {args.data_dir}",
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from warifu.client import cluster

    st = cluster.status(Path(args.data_dir))
    doc = cluster.status_json(st)
    lines = [
        f"{n['id']}: {n['endpoint']} pid={n['pid']} {'healthy' if n['healthy'] else 'DOWN'}"
        for n in doc["nodes"]
    ]
    _print(doc, args.json, "\n".join(lines))
    return 0 if all(n["healthy"] for n in doc["nodes"]) else 1


def cmd_down(args: argparse.Namespace) -> int:
    from warifu.client import cluster

    cluster.down(Path(args.data_dir))
    _print({"stopped": True}, args.json, "cluster stopped")
    return 0


def cmd_key_create(args: argparse.Namespace) -> int:
    threshold = args.threshold
    if threshold is None and not args.endpoints:
        from warifu.client import cluster

        threshold = cluster.load_cluster(Path(args.data_dir)).threshold  # `warifu up --threshold`
    with _client(args) as c:
        key = c.create_key(
            args.scheme,
            threshold=threshold or 0,
            committee=[x for x in (args.committee or "").split(",") if x],
            allow_raw_digest=args.allow_raw_digest,
            presign_pool=args.presign_pool,
        )
    _print(
        key.to_json(),
        args.json,
        f"key {key.key_id}\n  public key {key.public_key.hex()}\n  XRP {key.xrp_address}",
    )
    return 0


def cmd_key_show(args: argparse.Namespace) -> int:
    with _client(args) as c:
        key = c.get_key(args.key)
    _print(key.to_json(), args.json, json.dumps(key.to_json(), indent=2))
    return 0


def cmd_key_list(args: argparse.Namespace) -> int:
    with _client(args) as c:
        keys = c.list_keys()
    _print(
        {"keys": [k.to_json() for k in keys]},
        args.json,
        "\n".join(f"{k.key_id} {k.scheme} {k.xrp_address}" for k in keys),
    )
    return 0


def cmd_sign_xrp(args: argparse.Namespace) -> int:
    raw = sys.stdin.read() if args.tx == "-" else Path(args.tx).read_text()
    with _client(args) as c:
        signed = c.sign_xrp_transaction(args.key, raw)
    _print(signed.to_json(), args.json, f"hash {signed.hash}\nblob {signed.tx_blob}")
    return 0


def cmd_sign_eth(args: argparse.Namespace) -> int:
    raw = sys.stdin.read() if args.tx == "-" else Path(args.tx).read_text()
    with _client(args) as c:
        signed = c.sign_eth_transaction(args.key, raw)
    _print(signed.to_json(), args.json, f"hash {signed.hash}\nraw  {signed.raw_transaction}")
    return 0


def cmd_sign_eth_message(args: argparse.Namespace) -> int:
    if (args.message is None) == (args.message_file is None):
        raise ValueError("give exactly one of --message and --message-file")
    data = (
        args.message.encode() if args.message is not None else Path(args.message_file).read_bytes()
    )
    with _client(args) as c:
        signed = c.sign_eth_message(args.key, data)
    _print(signed.to_json(), args.json, f"signature {signed.signature}")
    return 0


def cmd_sign_eth_typed_data(args: argparse.Namespace) -> int:
    raw = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    with _client(args) as c:
        signed = c.sign_eth_typed_data(args.key, raw)
    _print(signed.to_json(), args.json, f"signature {signed.signature}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from warifu.benchmarks import harness, report

    doc = harness.run(harness.options_from(args))
    print(json.dumps(doc, indent=2) if args.json else report.terminal_table(doc))
    print(f"report: {Path(args.out).resolve() / 'bench.md'}", file=sys.stderr)
    return 0


def _approvals(args: argparse.Namespace, statement: CeremonyStatement) -> list[Approval]:
    """Approvals from local approver keys (``--approver NAME``) and files (``--approval-file``)."""
    out = []
    for name in args.approver or []:
        key_file = Path(args.data_dir) / "approvers" / f"{name}.key"
        try:
            seed = bytes.fromhex(key_file.read_text().strip())
        except (OSError, ValueError) as exc:
            raise ValueError(f"no usable approver key {key_file}: {exc}") from exc
        out.append(ApproverKey(name, seed).approve(statement))
    for f in args.approval_file or []:
        out.append(Approval.decode(bytes.fromhex(Path(f).read_text().strip())))
    return out


def read_statement(path: str) -> CeremonyStatement:
    """A statement file: the canonical bytes, hex."""
    return CeremonyStatement.decode(bytes.fromhex(Path(path).read_text().strip()))


def _statement(args: argparse.Namespace, c: Client) -> CeremonyStatement:
    if args.statement_file:
        return CeremonyStatement.decode(
            bytes.fromhex(Path(args.statement_file).read_text().strip())
        )
    return c.refresh_statement(args.key, valid_for_s=args.valid_for)


def cmd_ceremony_refresh(args: argparse.Namespace) -> int:
    with _client(args) as c:
        statement = _statement(args, c)
        approvals = _approvals(args, statement)
        if not args.json:
            print(
                f"refresh of key {args.key}: {len(approvals)} approvals; running ...",
                file=sys.stderr,
            )
        report = c.refresh(statement, approvals)
    text = "\n".join(
        [f"refresh {report['status']}: epoch {report['epoch_from']} -> {report['epoch_to']}"]
        + [f"  {p['name']:<22} {1000 * p['seconds']:8.1f} ms" for p in report["phases"]]
    )
    _print(report, args.json, text)
    return 0


def cmd_ceremony_statement(args: argparse.Namespace) -> int:
    """Print the canonical statement to approve (hex), for approvers who sign separately."""
    with _client(args) as c:
        statement = c.refresh_statement(args.key, valid_for_s=args.valid_for)
    doc = {"statement": statement.encode().hex(), "digest": statement.digest().hex()}
    _print(doc, args.json, doc["statement"])
    return 0


def cmd_ceremony_approve(args: argparse.Namespace) -> int:
    """Sign a statement file with an approver key file; print the approval (hex)."""
    statement = CeremonyStatement.decode(
        bytes.fromhex(Path(args.statement_file).read_text().strip())
    )
    seed = bytes.fromhex(Path(args.key_file).read_text().strip())
    approval = ApproverKey(args.name, seed).approve(statement)
    _print({"approval": approval.encode().hex()}, args.json, approval.encode().hex())
    return 0


def cmd_ceremony_status(args: argparse.Namespace) -> int:
    with _client(args) as c:
        rows = c.ceremony_status()
    text = "\n".join(
        f"{r['kind']} {r['key_id']} {r['epoch_from']}->{r['epoch_to']} "
        f"{r['status']} {r['phase']} {r['reason']}"
        for r in rows
    )
    _print({"ceremonies": rows}, args.json, text or "no ceremonies")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Check the hash chain of one node's audit log (local cluster: node-k/audit.jsonl)."""
    path = Path(args.file) if args.file else Path(args.data_dir) / args.node / "audit.jsonl"
    entries = [AuditEntry.from_json(line) for line in path.read_text().splitlines() if line.strip()]
    try:
        verify_chain(entries)
    except AuditChainBroken as exc:
        _print(
            {"ok": False, "seq": exc.seq, "error": str(exc)},
            args.json,
            f"BROKEN at {exc.seq}: {exc}",
        )
        return 1
    head = entries[-1].hash.hex() if entries else ""
    _print(
        {"ok": True, "entries": len(entries), "head": head},
        args.json,
        f"ok: {len(entries)} entries, head {head}",
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    ap = argparse.ArgumentParser(prog="warifu", description="warifu threshold-signature cluster")
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, *, remote: bool = True) -> None:
        p.add_argument("--data-dir", default="./cluster", help="local cluster directory")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        if remote:
            p.add_argument("--endpoints", help="host:port,... of a deployed cluster")
            p.add_argument("--ca", help="CA certificate (PEM)")
            p.add_argument("--cert", help="client certificate (PEM)")
            p.add_argument("--key-file", help="client private key (PEM)")

    p = sub.add_parser("up", help="start a local cluster (OpenBao + nodes)")
    common(p, remote=False)
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--threshold", type=int, default=2)
    p.set_defaults(fn=cmd_up)
    p = sub.add_parser("status", help="health of the local cluster")
    common(p, remote=False)
    p.set_defaults(fn=cmd_status)
    p = sub.add_parser("down", help="stop the local cluster")
    common(p, remote=False)
    p.set_defaults(fn=cmd_down)

    key = sub.add_parser("key", help="keys").add_subparsers(dest="key_command", required=True)
    p = key.add_parser("create", help="create a threshold key (DKG)")
    common(p)
    p.add_argument("--scheme", choices=sorted(SCHEMES), default="eddsa-ed25519")
    p.add_argument(
        "--threshold",
        type=int,
        help="signers needed (default: the local cluster's --threshold, else a majority)",
    )
    p.add_argument("--committee", help="node names, comma-separated (default: all)")
    p.add_argument(
        "--allow-raw-digest", action="store_true", help="let this key sign bare 32-byte digests"
    )
    p.add_argument(
        "--presign-pool",
        type=int,
        default=0,
        help="ECDSA: presignatures to keep ready in memory (one-round signing); 0 = off",
    )
    p.set_defaults(fn=cmd_key_create)
    p = key.add_parser("show", help="one key")
    common(p)
    p.add_argument("--key", required=True)
    p.set_defaults(fn=cmd_key_show)
    p = key.add_parser("list", help="all keys")
    common(p)
    p.set_defaults(fn=cmd_key_list)

    sign = sub.add_parser("sign", help="sign a transaction").add_subparsers(
        dest="chain", required=True
    )
    p = sign.add_parser("xrp", help="sign an XRP Ledger transaction (XRPL JSON)")
    common(p)
    p.add_argument("--key", required=True)
    p.add_argument("--tx", required=True, help="transaction JSON file, or - for stdin")
    p.set_defaults(fn=cmd_sign_xrp)
    p = sign.add_parser("eth", help="sign an Ethereum transaction (EIP-1559 or legacy EIP-155)")
    common(p)
    p.add_argument("--key", required=True)
    p.add_argument("--tx", required=True, help="transaction JSON file (eth-account form), or -")
    p.set_defaults(fn=cmd_sign_eth)
    p = sign.add_parser("eth-message", help="EIP-191 personal_sign")
    common(p)
    p.add_argument("--key", required=True)
    p.add_argument("--message", help="the message text (UTF-8)")
    p.add_argument("--message-file", help="the message bytes from a file")
    p.set_defaults(fn=cmd_sign_eth_message)
    p = sign.add_parser("eth-typed-data", help="EIP-712 typed data")
    common(p)
    p.add_argument("--key", required=True)
    p.add_argument("--file", required=True, help="typed-data JSON file, or -")
    p.set_defaults(fn=cmd_sign_eth_typed_data)

    from warifu.benchmarks.harness import add_arguments

    p = sub.add_parser(
        "bench",
        help="signing latency/throughput against the floor and Vault transit (bench.json, .md)",
        description="Benchmark the local cluster in --data-dir (started or created if needed) "
        "or a deployed one (--endpoints); writes bench.json, bench.md and PNG plots to --out.",
    )
    common(p)
    add_arguments(p)
    p.set_defaults(fn=cmd_bench)

    cer = sub.add_parser("ceremony", help="approved share ceremonies").add_subparsers(
        dest="ceremony_command", required=True
    )
    p = cer.add_parser("refresh", help="refresh every share of a key (approvals required)")
    common(p)
    p.add_argument("--key", required=True)
    p.add_argument("--approver", action="append", help="local approver key name (repeatable)")
    p.add_argument("--approval-file", action="append", help="an approval (hex) made separately")
    p.add_argument("--statement-file", help="the approved statement (hex), made by 'statement'")
    p.add_argument("--valid-for", type=int, default=600, help="approval lifetime, seconds")
    p.set_defaults(fn=cmd_ceremony_refresh)
    p = cer.add_parser("statement", help="print the refresh statement to approve (hex)")
    common(p)
    p.add_argument("--key", required=True)
    p.add_argument("--valid-for", type=int, default=600)
    p.set_defaults(fn=cmd_ceremony_statement)
    p = cer.add_parser("approve", help="sign a statement with an approver key")
    p.add_argument("--statement-file", required=True)
    p.add_argument("--key-file", required=True, help="approver key (32-byte seed, hex)")
    p.add_argument("--name", required=True, help="the approver's registered name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_ceremony_approve)
    p = cer.add_parser("status", help="ceremonies in flight, committed, aborted")
    common(p)
    p.set_defaults(fn=cmd_ceremony_status)

    aud = sub.add_parser("audit", help="audit log").add_subparsers(
        dest="audit_command", required=True
    )
    p = aud.add_parser("verify", help="check a node's hash-chained audit log")
    common(p, remote=False)
    p.add_argument("--node", default="node-1")
    p.add_argument("--file", help="an audit log file (default: DATA_DIR/NODE/audit.jsonl)")
    p.set_defaults(fn=cmd_audit_verify)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``warifu`` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except WarifuRpcError as exc:
        detail = f" culprits={exc.culprit_nodes or exc.culprits}" if exc.culprits else ""
        print(f"warifu: {exc.code.name} {exc.reason}: {exc.message}{detail}", file=sys.stderr)
        return 1
    except (OSError, ValueError, RuntimeError, WarifuError) as exc:
        print(f"warifu: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
