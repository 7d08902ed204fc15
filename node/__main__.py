"""``warifu-node --config FILE`` / ``python -m warifu.node --config FILE``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from warifu.core.errors import WarifuError
from warifu.node.config import load_config


def one_blas_thread() -> None:
    """One BLAS thread per node process; must run before numpy is imported (by the server).

    The OT extension's matrix products are small (768 x 256) and a node runs many sessions at
    once instead. Left to itself, OpenBLAS keeps a worker thread spinning that cost ~44 ms of
    CPU per ECDSA signature on a 2-core machine (docs/bench-findings.md). An operator's own
    setting wins.
    """
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def main(argv: list[str] | None = None) -> int:
    """Run one node until SIGTERM/SIGINT."""
    one_blas_thread()
    ap = argparse.ArgumentParser(prog="warifu-node", description="Run one warifu node.")
    ap.add_argument("--config", required=True, help="the node's TOML configuration file")
    ap.add_argument(
        "--check-config",
        action="store_true",
        help="validate the config and Vault policy, then exit",
    )
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        cfg = load_config(args.config)
    except WarifuError as exc:
        print(f"warifu-node: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        from warifu.node.storage import VaultShareStore

        try:
            VaultShareStore(cfg.vault, cfg.name).self_check()
        except WarifuError as exc:
            print(f"warifu-node: Vault check failed: {exc.reason}: {exc}", file=sys.stderr)
            return 1
        print(f"config ok: node {cfg.name}, {len(cfg.peers)} peers, Vault policy ok")
        return 0

    from warifu.node import tracing
    from warifu.node.server import serve

    tracing.configure(
        cfg.name,
        flag=cfg.limits.trace,
        trace_file=cfg.limits.trace_file,
        base_dir=Path(args.config).resolve().parent,
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await serve(cfg, stop_event=stop)

    try:
        asyncio.run(run())
    except WarifuError as exc:
        logging.getLogger("warifu.node").error("fatal: %s: %s", exc.reason, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
