# Vault of node-3: HashiCorp Vault 1.20, "file" storage backend (node-1 and node-2 use raft),
# TLS listener. Mounted read-only at /vault/config/vault.hcl by docker-compose.yml.
# The file backend has no HA and no built-in snapshots: back it up as a filesystem snapshot of
# the sealed data directory (deploy/README.md, "Backup"). Audit device: as vault-1.

ui            = false
disable_mlock = true # containers without IPC_LOCK; disable swap on the host instead
api_addr      = "https://vault-3:8200"

storage "file" {
  path = "/vault/file"
}

listener "tcp" {
  address         = "0.0.0.0:8200"
  tls_cert_file   = "/vault/tls/server.pem"
  tls_key_file    = "/vault/tls/server.key"
  tls_min_version = "tls12"
}
