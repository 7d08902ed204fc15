"""Layout, layering and generated-code checks (DESIGN §1)."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "node", "client", "benchmarks")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_generated_protobuf_code_is_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_import_contracts_hold() -> None:
    exe = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(exe)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" not in proc.stdout.lower().replace("0 broken", "")


def test_hvac_only_in_the_node_storage_adapter() -> None:
    users = sorted(
        str(p.relative_to(ROOT))
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if "hvac" in _imports(p)
    )
    assert users == ["node/storage.py"]


@pytest.mark.parametrize("pkg", ["core"])
def test_core_is_pure(pkg: str) -> None:
    banned = {
        "grpc",
        "hvac",
        "asyncio",
        "socket",
        "subprocess",
        "os",
        "time",
        "random",
        "threading",
        "urllib",
        "requests",
    }
    for p in (ROOT / pkg).rglob("*.py"):
        bad = _imports(p) & banned
        assert not bad, f"{p.relative_to(ROOT)} imports {sorted(bad)}"


def test_node_and_client_never_import_each_other() -> None:
    for pkg, other in (("node", "client"), ("client", "node")):
        for p in (ROOT / pkg).rglob("*.py"):
            src = p.read_text()
            assert f"warifu.{other}" not in src, f"{p.relative_to(ROOT)} imports warifu.{other}"


@pytest.mark.slow
def test_wheel_installs_only_the_warifu_import_root(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    wheel = next(tmp_path.glob("warifu-*.whl"))
    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"warifu"}
    names = zipfile.ZipFile(wheel).namelist()
    for sub in (
        "warifu/core/",
        "warifu/node/",
        "warifu/client/",
        "warifu/v1/signer_pb2.py",
        "warifu/policies/policy.hcl.tmpl",  # an installed node can provision its Vault
    ):
        assert any(n.startswith(sub) for n in names), sub
