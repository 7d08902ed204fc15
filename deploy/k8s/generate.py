#!/usr/bin/env python3
"""Write the Kubernetes manifests of deploy/k8s/ (the committed YAML is this script's output).

One node per namespace (``warifu-node-<k>``), its own Vault in a namespace of its own
(``warifu-vault-<k>``), reached over TLS; the three nodes run three different images and the
three Vaults are HashiCorp Vault (raft), OpenBao (raft) and HashiCorp Vault (file storage), as
in the compose trial. The same manifests work with the three pairs in one cluster (as written)
or in three clusters (change the peer endpoints in deploy/k8s/bootstrap.args and the peer
selectors of the NetworkPolicies to ``ipBlock``s: deploy/README.md, "Kubernetes").

Secret material is never in these files: ``deploy/scripts/k8s_secrets.py`` renders the node's
ConfigMap (its generated node.toml) and Secrets from the bootstrap output.

    python deploy/k8s/generate.py            # rewrite deploy/k8s/node-*/
    python deploy/k8s/generate.py --check    # exit 1 if the committed YAML is stale (CI)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
NODE_PORT = 7001
VAULT_PORT = 8200
NODE_UID = 10001
VAULT_UID, VAULT_GID = 100, 1000  # the vault/openbao user of the official images
WALLET_LABEL = "warifu.io/wallet-client"
CONFIG = "/etc/warifu"
TMP = "/tmp"  # noqa: S108 - always an emptyDir (memory) of its own

NODES: dict[str, dict[str, str]] = {
    "node-1": {"image": "warifu/node-debian:0.1.0", "vault": "vault", "storage": "raft"},
    "node-2": {"image": "warifu/node-alpine:0.1.0", "vault": "openbao", "storage": "raft"},
    "node-3": {"image": "warifu/node-ubi:0.1.0", "vault": "vault", "storage": "file"},
}
VAULT_IMAGES = {
    "vault": "docker.io/hashicorp/vault:1.20.4",
    "openbao": "docker.io/openbao/openbao:2.7.2",
}
HEALTHCHECK = ["python", "-m", "warifu.node.healthcheck", "--config", f"{CONFIG}/node.toml"]


def node_ns(node: str) -> str:
    return f"warifu-{node}"


def vault_ns(node: str) -> str:
    return f"warifu-vault-{node.removeprefix('node-')}"


def node_host(node: str) -> str:
    return f"warifu-node.{node_ns(node)}.svc.cluster.local"


def vault_host(node: str) -> str:
    return f"vault.{vault_ns(node)}.svc.cluster.local"


def labels(name: str, node: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": node,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "warifu",
    }


def selector(name: str, node: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": node}


def container_security(uid: int, gid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security(uid: int, gid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "fsGroup": gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def namespaces(node: str) -> list[dict[str, Any]]:
    out = []
    for ns, component in ((node_ns(node), "node"), (vault_ns(node), "vault")):
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ns,
                    "labels": {
                        "app.kubernetes.io/part-of": "warifu",
                        "warifu.io/node": node,
                        "warifu.io/component": component,
                        # Pod Security Admission: the strictest profile, enforced
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "pod-security.kubernetes.io/enforce-version": "latest",
                    },
                },
            }
        )
    return out


def node_resources(node: str) -> list[dict[str, Any]]:
    ns = node_ns(node)
    lab = labels("warifu-node", node, "node")
    sel = selector("warifu-node", node)
    probe_cmd = {"command": HEALTHCHECK}
    liveness_cmd = {"command": [*HEALTHCHECK, "--liveness"]}
    tls_items = [
        {"key": "ca.pem", "path": "tls/ca.pem"},
        {"key": "node.pem", "path": "tls/node.pem"},
        {"key": "node.key", "path": "tls/node.key"},
        {"key": "vault-ca.pem", "path": "tls/vault-ca.pem"},
    ]
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "warifu-node", "namespace": ns, "labels": lab},
        "spec": {
            # One replica on purpose: a node identity runs at most once (a StatefulSet never
            # runs two pods of one ordinal). Availability comes from the other nodes.
            "replicas": 1,
            "serviceName": "warifu-node",
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": sel},
            "template": {
                "metadata": {"labels": lab},
                "spec": {
                    "serviceAccountName": "warifu-node",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": pod_security(NODE_UID, NODE_UID),
                    "containers": [
                        {
                            "name": "node",
                            "image": NODES[node]["image"],
                            "imagePullPolicy": "IfNotPresent",
                            "args": ["--config", f"{CONFIG}/node.toml"],
                            "env": [{"name": "WARIFU_CONFIG", "value": f"{CONFIG}/node.toml"}],
                            "ports": [
                                {"name": "grpc", "containerPort": NODE_PORT, "protocol": "TCP"}
                            ],
                            "securityContext": container_security(NODE_UID, NODE_UID),
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "256Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                            # mTLS only: a kubelet `grpc:` probe cannot present a client
                            # certificate, so the probes run the image's own health check, which
                            # dials the node with the node's certificate (node/healthcheck.py).
                            "startupProbe": {
                                "exec": liveness_cmd,
                                "periodSeconds": 5,
                                "timeoutSeconds": 5,
                                "failureThreshold": 24,
                            },
                            "readinessProbe": {
                                "exec": probe_cmd,
                                "periodSeconds": 10,
                                "timeoutSeconds": 5,
                                "failureThreshold": 2,
                            },
                            "livenessProbe": {
                                "exec": liveness_cmd,
                                "periodSeconds": 20,
                                "timeoutSeconds": 5,
                                "failureThreshold": 3,
                            },
                            "volumeMounts": [
                                {"name": "config", "mountPath": CONFIG, "readOnly": True},
                                {"name": "tmp", "mountPath": TMP},
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            # The bootstrap output layout of deploy/scripts/bootstrap_tls.py,
                            # assembled from one ConfigMap and three Secrets (k8s_secrets.py).
                            "name": "config",
                            "projected": {
                                "defaultMode": 0o440,
                                "sources": [
                                    {
                                        "configMap": {
                                            "name": "warifu-node-config",
                                            "items": [{"key": "node.toml", "path": "node.toml"}],
                                        }
                                    },
                                    {"secret": {"name": "warifu-node-tls", "items": tls_items}},
                                    {
                                        "secret": {
                                            "name": "warifu-node-identity",
                                            "items": [
                                                {"key": "node-sign.key", "path": "node-sign.key"}
                                            ],
                                        }
                                    },
                                    {
                                        "secret": {
                                            "name": "warifu-node-vault",
                                            "items": [
                                                {"key": "vault-role-id", "path": "vault-role-id"},
                                                {
                                                    "key": "vault-secret-id",
                                                    "path": "vault-secret-id",
                                                },
                                            ],
                                        }
                                    },
                                ],
                            },
                        },
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                    ],
                },
            },
        },
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "warifu-node", "namespace": ns, "labels": lab},
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "warifu-node", "namespace": ns, "labels": lab},
            "spec": {
                # headless: peers and wallets dial the pod itself; TLS names the node, not the IP
                "clusterIP": "None",
                "selector": sel,
                "ports": [
                    {
                        "name": "grpc",
                        "port": NODE_PORT,
                        "targetPort": "grpc",
                        "protocol": "TCP",
                        "appProtocol": "grpc",
                    }
                ],
            },
        },
        sts,
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "warifu-node", "namespace": ns, "labels": lab},
            # With one pod per node this blocks voluntary evictions (drains): taking a node
            # down is a decision made across the whole cluster (deploy/README.md, "Upgrading").
            "spec": {"minAvailable": 1, "selector": {"matchLabels": sel}},
        },
    ]


def vault_config(node: str) -> str:
    kind, storage = NODES[node]["vault"], NODES[node]["storage"]
    root = "/vault" if kind == "vault" else "/openbao"
    host = vault_host(node)
    lines = [
        f"# Vault of {node}: {'HashiCorp Vault' if kind == 'vault' else 'OpenBao'}, "
        f"{storage} storage, TLS listener.",
        "ui = false",
    ]
    if kind == "vault":
        lines.append("disable_mlock = true  # no IPC_LOCK in a restricted pod; no swap on nodes")
    lines.append(f'api_addr = "https://{host}:{VAULT_PORT}"')
    if storage == "raft":
        lines += [
            f'cluster_addr = "https://vault-0.vault-internal.{vault_ns(node)}.svc.cluster.local:8201"',
            'storage "raft" {',
            f'  path = "{root}/file"',
            '  node_id = "vault-0"',
            "  performance_multiplier = 1",
            "}",
        ]
    else:
        lines += ['storage "file" {', f'  path = "{root}/file"', "}"]
    lines += [
        'listener "tcp" {',
        f'  address = "0.0.0.0:{VAULT_PORT}"',
        '  cluster_address = "0.0.0.0:8201"' if storage == "raft" else None,
        f'  tls_cert_file = "{root}/tls/server.pem"',
        f'  tls_key_file = "{root}/tls/server.key"',
        '  tls_min_version = "tls12"',
        "}",
    ]
    if kind == "openbao":
        lines += [
            'audit "file" "warifu-file" {',
            "  options {",
            f'    file_path = "{root}/logs/audit.log"',
            "  }",
            "}",
        ]
    return "\n".join(line for line in lines if line is not None) + "\n"


def vault_resources(node: str) -> list[dict[str, Any]]:
    ns = vault_ns(node)
    kind = NODES[node]["vault"]
    root = "/vault" if kind == "vault" else "/openbao"
    binary = "vault" if kind == "vault" else "bao"
    conf = "vault.hcl" if kind == "vault" else "config.hcl"
    env_prefix = "VAULT" if kind == "vault" else "BAO"
    lab = labels("vault", node, "vault")
    sel = selector("vault", node)
    health = "/v1/sys/health?standbyok=true"
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "vault", "namespace": ns, "labels": lab},
        "spec": {
            "replicas": 1,
            "serviceName": "vault-internal",
            "selector": {"matchLabels": sel},
            "updateStrategy": {"type": "OnDelete"},  # a Vault restart means a manual unseal
            "template": {
                "metadata": {"labels": lab},
                "spec": {
                    "serviceAccountName": "vault",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": pod_security(VAULT_UID, VAULT_GID),
                    "containers": [
                        {
                            "name": "vault",
                            "image": VAULT_IMAGES[kind],
                            "imagePullPolicy": "IfNotPresent",
                            "command": [binary, "server", f"-config={root}/config/{conf}"],
                            "env": [
                                # for `kubectl exec ... operator init / unseal` only
                                {
                                    "name": f"{env_prefix}_ADDR",
                                    "value": f"https://127.0.0.1:{VAULT_PORT}",
                                },
                                {"name": f"{env_prefix}_CACERT", "value": f"{root}/tls/ca.pem"},
                                {"name": "HOME", "value": TMP},
                            ],
                            "ports": [
                                {"name": "api", "containerPort": VAULT_PORT, "protocol": "TCP"},
                                {"name": "cluster", "containerPort": 8201, "protocol": "TCP"},
                            ],
                            "securityContext": container_security(VAULT_UID, VAULT_GID),
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                            # ready = initialised, unsealed, active; alive = answers at all
                            "readinessProbe": {
                                "httpGet": {"path": health, "port": "api", "scheme": "HTTPS"},
                                "periodSeconds": 10,
                                "timeoutSeconds": 3,
                            },
                            "livenessProbe": {
                                "httpGet": {
                                    "path": f"{health}&sealedcode=204&uninitcode=204",
                                    "port": "api",
                                    "scheme": "HTTPS",
                                },
                                "initialDelaySeconds": 30,
                                "periodSeconds": 20,
                                "timeoutSeconds": 3,
                            },
                            "volumeMounts": [
                                {"name": "config", "mountPath": f"{root}/config", "readOnly": True},
                                {"name": "tls", "mountPath": f"{root}/tls", "readOnly": True},
                                {"name": "data", "mountPath": f"{root}/file"},
                                {"name": "audit", "mountPath": f"{root}/logs"},
                                {"name": "tmp", "mountPath": TMP},
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "config",
                            "configMap": {
                                "name": "vault-config",
                                "items": [{"key": conf, "path": conf}],
                            },
                        },
                        {
                            "name": "tls",
                            "secret": {"secretName": "vault-tls", "defaultMode": 0o440},
                        },
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
                    ],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": name},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": size}},
                    },
                }
                for name, size in (("data", "10Gi"), ("audit", "10Gi"))
            ],
        },
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "vault", "namespace": ns, "labels": lab},
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "vault-config", "namespace": ns, "labels": lab},
            "data": {conf: vault_config(node)},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "vault", "namespace": ns, "labels": lab},
            "spec": {
                "selector": sel,
                "ports": [
                    {"name": "api", "port": VAULT_PORT, "targetPort": "api", "protocol": "TCP"}
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "vault-internal", "namespace": ns, "labels": lab},
            "spec": {
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": sel,
                "ports": [
                    {"name": "cluster", "port": 8201, "targetPort": "cluster", "protocol": "TCP"}
                ],
            },
        },
        sts,
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "vault", "namespace": ns, "labels": lab},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": sel}},
        },
    ]


def network_policies(node: str) -> list[dict[str, Any]]:
    peers = [p for p in NODES if p != node]
    node_pods = {"app.kubernetes.io/name": "warifu-node"}

    def deny_all(ns: str) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": ns},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        }

    def peer_nodes() -> dict[str, Any]:
        return {
            "namespaceSelector": {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "In",
                        "values": [node_ns(p) for p in peers],
                    }
                ]
            },
            "podSelector": {"matchLabels": node_pods},
        }

    grpc_port = [{"protocol": "TCP", "port": NODE_PORT}]
    return [
        deny_all(node_ns(node)),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "warifu-node-ingress", "namespace": node_ns(node)},
            "spec": {
                "podSelector": {"matchLabels": selector("warifu-node", node)},
                "policyTypes": ["Ingress"],
                "ingress": [
                    # the other nodes (Peer service) ...
                    {"from": [peer_nodes()], "ports": grpc_port},
                    # ... and wallet services (Signer service): labelled namespaces and pods
                    {
                        "from": [
                            {
                                "namespaceSelector": {"matchLabels": {WALLET_LABEL: "true"}},
                                "podSelector": {"matchLabels": {WALLET_LABEL: "true"}},
                            }
                        ],
                        "ports": grpc_port,
                    },
                ],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "warifu-node-egress", "namespace": node_ns(node)},
            "spec": {
                "podSelector": {"matchLabels": selector("warifu-node", node)},
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [peer_nodes()], "ports": grpc_port},
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": vault_ns(node)}
                                },
                                "podSelector": {"matchLabels": selector("vault", node)},
                            }
                        ],
                        "ports": [{"protocol": "TCP", "port": VAULT_PORT}],
                    },
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                                },
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    },
                ],
            },
        },
        deny_all(vault_ns(node)),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "vault-from-its-node", "namespace": vault_ns(node)},
            "spec": {
                "podSelector": {"matchLabels": selector("vault", node)},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": node_ns(node)}
                                },
                                "podSelector": {"matchLabels": selector("warifu-node", node)},
                            }
                        ],
                        "ports": [{"protocol": "TCP", "port": VAULT_PORT}],
                    }
                ],
            },
        },
    ]


FILES = {
    "namespaces.yaml": namespaces,
    "vault.yaml": vault_resources,
    "node.yaml": node_resources,
    "network-policies.yaml": network_policies,
}
HEADER = "# Generated by deploy/k8s/generate.py; edit that script, not this file.\n"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the Vault config) as readable literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(docs: list[dict[str, Any]]) -> str:
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, width=100)


def render() -> dict[Path, str]:
    out: dict[Path, str] = {}
    for node in NODES:
        d = HERE / node
        for name, fn in FILES.items():
            docs = fn(node)
            out[d / name] = HEADER + dump(docs)
        kust = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": list(FILES),
        }
        out[d / "kustomization.yaml"] = HEADER + dump([kust])
    args = [f"--nodes={','.join(NODES)}"]
    for node in NODES:
        args += [
            f"--endpoint={node}={node_host(node)}:{NODE_PORT}",
            f"--listen={node}=0.0.0.0:{NODE_PORT}",
            f"--vault={node}=https://{vault_host(node)}:{VAULT_PORT}",
        ]
    out[HERE / "bootstrap.args"] = "\n".join(args) + "\n"
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="fail if the files are not up to date")
    args = ap.parse_args(argv)
    stale = []
    for path, text in render().items():
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(HERE)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"stale (run python deploy/k8s/generate.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
