# Vault of node-1: HashiCorp Vault 1.20, integrated storage (raft), TLS listener.
# Mounted read-only at /vault/config/vault.hcl by deploy/compose/docker-compose.yml.
# Audit: HashiCorp Vault enables audit devices through the API; vault_bootstrap.py enables a
# file device at /vault/logs/audit.log and refuses to provision a Vault without one.

ui            = false
disable_mlock = true # integrated storage: HashiCorp's recommendation; disable swap on the host instead
api_addr      = "https://vault-1:8200"
cluster_addr  = "https://vault-1:8201"

storage "raft" {
  path    = "/vault/file"
  node_id = "vault-1"
  # 1 = the fastest timings, HashiCorp's recommendation for production (the default, 5, is for
  # slow development machines and makes a single-node init take ~10 s).
  performance_multiplier = 1
}

listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_cert_file   = "/vault/tls/server.pem"
  tls_key_file    = "/vault/tls/server.key"
  tls_min_version = "tls12"
}
