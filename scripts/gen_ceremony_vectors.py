"""Regenerate the implementation-generated ceremony vectors (``shares.md`` §12 item 14).

Usage: ``python scripts/gen_ceremony_vectors.py [--check]``. Writes
``tests/vectors/ceremonies/golden.json`` from seeded refresh / reshare / repair runs of warifu's
own code (``tests/helpers/ceremony_vectors.py``); with ``--check`` it only compares. These
vectors pin our wire bytes; they are not from any external reference.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers.ceremony_vectors import VECTOR_FILE, build_all  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    args = ap.parse_args()
    text = json.dumps(build_all(), indent=1, sort_keys=True) + "\n"
    if args.check:
        if not VECTOR_FILE.exists() or VECTOR_FILE.read_text() != text:
            print(f"{VECTOR_FILE} is stale", file=sys.stderr)
            return 1
        print(f"{VECTOR_FILE} is up to date")
        return 0
    VECTOR_FILE.parent.mkdir(parents=True, exist_ok=True)
    VECTOR_FILE.write_text(text)
    print(f"wrote {VECTOR_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
