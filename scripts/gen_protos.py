"""Regenerate the committed protobuf/gRPC code next to the .proto files.

Usage: ``python scripts/gen_protos.py [--check]``. With ``--check`` it generates into a
temporary folder and fails if the committed files differ (run in CI by tests/test_layout.py).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(out: Path) -> list[Path]:
    """Run protoc for every proto under protos/warifu/v1 into ``out``."""
    protos = sorted((PROTOS / "warifu" / "v1").glob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    # protoc-gen-mypy lives next to this interpreter (the venv's bin/), which may not be on PATH.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out}",
        f"--mypy_out={out}",
        f"--grpc_python_out={out}",
        *[str(p.relative_to(PROTOS)) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return [p for p in (out / "warifu" / "v1").iterdir() if p.name.endswith(OUT_SUFFIXES)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="fail if committed code is stale")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = generate(Path(tmp))
        target = PROTOS / "warifu" / "v1"
        if args.check:
            stale = [
                f.name
                for f in files
                if not (target / f.name).exists()
                or not filecmp.cmp(f, target / f.name, shallow=False)
            ]
            committed = {p.name for p in target.iterdir() if p.name.endswith(OUT_SUFFIXES)}
            extra = committed - {f.name for f in files}
            if stale or extra:
                print(
                    f"generated protobuf code is stale: {sorted(stale + list(extra))};"
                    " run scripts/gen_protos.py"
                )
                return 1
            print("generated protobuf code is up to date")
            return 0
        for f in files:
            shutil.copyfile(f, target / f.name)
            print(f"wrote {target / f.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
