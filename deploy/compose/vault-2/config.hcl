# Vault of node-2: OpenBao 2.7, integrated storage (raft), TLS listener.
# Mounted read-only at /openbao/config/config.hcl by deploy/compose/docker-compose.yml.
# OpenBao 2.x has no "file" storage backend and no mlock option, and it refuses audit devices
# created through the API: the audit device is declared here (vault_bootstrap.py checks it).

ui           = false
api_addr     = "https://vault-2:8200"
cluster_addr = "https://vault-2:8201"

storage "raft" {
  path    = "/openbao/file"
  node_id = "vault-2"
  # 1 = the fastest timings, HashiCorp's recommendation for production (the default, 5, is for
  # slow development machines and makes a single-node init take ~10 s).
  performance_multiplier = 1
}

listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_cert_file   = "/openbao/tls/server.pem"
  tls_key_file    = "/openbao/tls/server.key"
  tls_min_version = "tls12"
}

audit "file" "warifu-file" {
  description = "every request and response, HMAC'd secrets"
  options {
    file_path = "/openbao/logs/audit.log"
  }
}
