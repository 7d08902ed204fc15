"""The node's share store: its own Vault/OpenBao, through hvac (the only module that imports it).

Spec: DESIGN §4 (one Vault per node); ``specs/shares.md`` §9.1 (records), §9.2 (atomic units),
§9.3 (destroying old epochs); ``specs/test-plan.md`` VLT-1..6.

Synchronous on purpose: the node calls it from an executor. Every Vault request has a short
timeout (``VaultConfig.timeout_s``) and at most one retry, and only for a request that provably
never reached the server (connection refused / connect timeout). Failures are mapped to
:class:`~warifu.core.errors.StorageError` subclasses and never guessed around:

======================================  ===========================  =========================
Vault says                              raised                       ``reason``
======================================  ===========================  =========================
connection refused / timeout / 5xx      :class:`VaultUnavailable`    ``VAULT_UNAVAILABLE``
503 "Vault is sealed", 501 uninit       :class:`VaultSealed`         ``VAULT_SEALED``
403 (after one re-login if the token    :class:`VaultDenied`         ``VAULT_PERMISSION_DENIED``
is no longer valid), login refused
check-and-set mismatch / record exists  :class:`CasConflict`         ``CAS_CONFLICT``
policy grants more than own paths       :class:`VaultPolicyTooBroad` ``VAULT_POLICY_TOO_BROAD``
cas/max_versions/transit key not as     :class:`VaultMisconfigured`  ``VAULT_MISCONFIGURED``
required
tampered / undecryptable share record   InvalidKeyShare              ``SHARE_INTEGRITY``
======================================  ===========================  =========================

Authentication: AppRole (role id + secret id). The token is renewed by logging in again when it
is 80 % through its TTL, and once more when Vault answers 403 and the token no longer passes
``sys/capabilities-self``; a second refusal fails closed. Tokens and secret ids are never logged
or put into an exception message. If Vault is unreachable or sealed when the store is created,
the store is still created and logs in on first use (so the node can come up, report
NOT_SERVING, and serve once Vault is back); refused credentials raise at once.

Records (KV v2 at ``<kv_mount>``; ``<p>`` = ``VaultConfig.prefix``, default ``warifu/<node>``;
the mount is ``cas_required = true``, ``max_versions = 2``, checked by :meth:`self_check`)::

    <p>/keys/<key_id>/state       the caller's state dict (shares.md §9.1); every write is a CAS
    <p>/keys/<key_id>/epoch/<e>   create-only (cas=0), must still be at KV version 1 when read:
        { "format": 1, "node": <node>, "key_id": <uuid>, "epoch": e, "party_id": i,
          "pkg": PublicKeyPackage.to_dict(), "pkg_digest": <hex>,
          "transit_key": <name>, "share_ct": "vault:v<n>:..." }
    <p>/keys/<key_id>/cert/<e>    create-only: { "format": 1, "cert": <base64> }
    <p>/selfcheck/probe           { "nonce": <hex> }, rewritten by self_check

``share_ct`` is the transit ciphertext (the node's own transit key, ``derived = true``) of
``H(AAD) ‖ encode_scalar(x_i)`` with

- derivation context ``LP(node) ‖ key_id(16 bytes) ‖ u64be(e)`` (``node|key|epoch``, injective),
- AEAD associated data ``AAD = ENC("warifu/v1/share-aad", curve, key_id, u64be(e), u16be(i),
  pkg_digest)`` (shares.md §9.1), passed to transit as ``associated_data`` *and* its SHA-256
  (``H("share-aad", …)``) prefixed to the plaintext and compared after decryption.

So a ciphertext moved to another key, epoch, party or package, a bit flip, or a replaced
package fails to decrypt or fails the prefix check; every load then checks ``x_i·G == X_i``
(:meth:`KeyShare.verify`). An epoch record rewritten in place (e.g. an older version made
current again) is caught by the version check. All of these raise InvalidKeyShare.

Departures / limits:

- the OT state of DKLs23 (``ot_ct``, dkls23.md §7.3) is not stored yet.
- crypto-shredding (§9.3: rotate, rewrap, ``min_decryption_version``, trim) is not done here and
  the generated policy does not grant it yet.
- Python cannot wipe the decrypted share from memory (see the security notes).
- over plain ``http://`` the share plaintext travels to transit unencrypted; only loopback
  (the local cluster) should use it, and a warning is logged otherwise.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import hvac
import hvac.exceptions
import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from warifu.core.curves import group_by_name
from warifu.core.encoding import enc, lp, tag, u16be, u64be
from warifu.core.errors import InvalidArguments, InvalidKeyShare, StorageError, WarifuError
from warifu.core.shares.package import KeyShare, PublicKeyPackage
from warifu.node.config import VaultConfig

log = logging.getLogger(__name__)

T = TypeVar("T")

RECORD_FORMAT = 1
#: Transit key types that take ``associated_data`` (AEAD).
AEAD_KEY_TYPES = frozenset({"aes256-gcm96", "aes128-gcm96", "chacha20-poly1305"})
#: Largest ``max_versions`` accepted (shares.md §9.3: "small (2)").
MAX_KV_VERSIONS = 2
_CONNECT_ATTEMPTS = 2  # one retry, only when the request never reached Vault
_RETRY_PAUSE_S = 0.2
_TOKEN_RENEW_FRACTION = 0.8
_HEALTH_TIMEOUT_S = 2.0
_PROBE_KEY_ID = "00000000-0000-0000-0000-000000000000"
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class VaultUnavailable(StorageError):
    """Vault cannot be reached or failed (connection, timeout, 5xx). Retryable."""

    reason = "VAULT_UNAVAILABLE"


class VaultSealed(StorageError):
    """Vault is sealed (or not initialised): serve again once an operator unseals it."""

    reason = "VAULT_SEALED"


class VaultDenied(StorageError):
    """Vault refused: policy denial, or the AppRole credentials are no longer accepted."""

    reason = "VAULT_PERMISSION_DENIED"


class CasConflict(StorageError):
    """A check-and-set write lost: the record changed (or already exists)."""

    reason = "CAS_CONFLICT"


class VaultPolicyTooBroad(StorageError):
    """The node's token can touch paths outside its own prefix or its own transit key."""

    reason = "VAULT_POLICY_TOO_BROAD"


class VaultMisconfigured(StorageError):
    """KV or transit is not set up as required (cas, max_versions, derived key, …)."""

    reason = "VAULT_MISCONFIGURED"


class _NeverSent(Exception):
    """Internal marker: a connection failure before the request left this host."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _errors_text(exc: hvac.exceptions.VaultError) -> str:
    errs = getattr(exc, "errors", None)
    return " ".join(str(e) for e in errs) if isinstance(errs, list) else str(errs or "")


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the request provably did not reach the server (safe to retry)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", inner)
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def canonical_key_id(key_id: str) -> str:
    """Return ``key_id`` if it is a canonical (lower-case, hyphenated) UUID; else INVALID_ARGUMENT.

    The key id becomes part of a Vault path, so nothing else (``..``, ``/``, globs) may pass.
    """
    try:
        canon = str(uuid.UUID(key_id))
    except (ValueError, AttributeError, TypeError):
        canon = ""
    if canon != key_id:
        raise InvalidArguments(
            f"key id {key_id!r} is not a canonical UUID", reason="INVALID_KEY_ID"
        )
    return canon


def _check_epoch(epoch: int) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch < 2**64:
        raise InvalidArguments(f"epoch {epoch!r} out of range", reason="INVALID_ARGUMENT")
    return epoch


def share_aad(pkg: PublicKeyPackage, party_id: int) -> bytes:
    """``ENC("warifu/v1/share-aad", curve, key_id, u64be(e), u16be(i), pkg_digest)`` (§9.1)."""
    return enc(
        tag("share-aad"),
        pkg.curve.encode(),
        pkg.key_id,
        u64be(pkg.epoch),
        u16be(party_id),
        pkg.digest(),
    )


def ot_state_aad(key_id: bytes, epoch: int, me: int, peer: int) -> bytes:
    """``ENC("warifu/v1/dkls23/state-aad", key_id, u64be(e), u16be(i), u16be(j))`` (dkls23 §7.3)."""
    return enc(tag("dkls23/state-aad"), key_id, u64be(epoch), u16be(me), u16be(peer))


def transit_context(node: str, key_id: bytes, epoch: int) -> bytes:
    """The transit derivation context ``LP(node) ‖ key_id ‖ u64be(epoch)`` (node|key|epoch)."""
    return lp(node.encode()) + key_id + u64be(epoch)


class VaultShareStore:
    """Share records of one node in its own Vault (KV v2 + transit), see the module docstring."""

    def __init__(self, cfg: VaultConfig, node_name: str) -> None:
        if not node_name or len(node_name.encode()) > 255:
            raise InvalidArguments("node name must be 1..255 bytes", reason="CONFIG_INVALID")
        url = urlsplit(cfg.addr)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise InvalidArguments(
                "vault addr must be http(s)://host:port", reason="CONFIG_INVALID"
            )
        self._cfg = cfg
        self._node = node_name
        self._prefix = (cfg.prefix or f"warifu/{node_name}").strip("/")
        self._transit_key = cfg.transit_key or f"warifu-{node_name}"
        for seg in [*self._prefix.split("/"), self._transit_key, cfg.kv_mount, cfg.transit_mount]:
            if not _SAFE_SEGMENT.match(seg):
                raise InvalidArguments(
                    f"unsafe Vault path segment {seg!r}", reason="CONFIG_INVALID"
                )
        self._verify: bool | str = cfg.ca_cert or True
        self._timeout = float(cfg.timeout_s)
        if url.scheme == "http" and not _is_loopback(url.hostname):
            log.warning(
                "Vault at %s is plain http on a non-loopback address: share plaintext would "
                "travel unencrypted to transit; use https with ca_cert",
                cfg.addr,
            )
        self._lock = threading.Lock()
        self._local = threading.local()
        self._clients: list[hvac.Client] = []
        self._token: str | None = None
        self._renew_at: float | None = None
        self._logins = 0
        try:
            self._login()
        except (VaultUnavailable, VaultSealed) as exc:
            log.warning("Vault not ready at start (%s); will log in on first use", exc.reason)

    def __repr__(self) -> str:
        return (
            f"VaultShareStore(addr={self._cfg.addr!r}, prefix={self._prefix!r}, token=<redacted>)"
        )

    @property
    def node_name(self) -> str:
        """The node whose records these are."""
        return self._node

    @property
    def prefix(self) -> str:
        """The KV path prefix of this node (``warifu/<node>`` by default)."""
        return self._prefix

    @property
    def logins(self) -> int:
        """Successful AppRole logins so far (observability and tests; never the token)."""
        return self._logins

    # -- transport, auth and error mapping ---------------------------------------------------

    def _session(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # no proxy, netrc or CA from the environment for the node's Vault
        s.verify = self._verify
        return s

    def _client(self) -> hvac.Client:
        client: hvac.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = hvac.Client(
                url=self._cfg.addr,
                token="",  # never pick up VAULT_TOKEN or ~/.vault-token
                verify=self._verify,
                timeout=self._timeout,
                session=self._session(),
            )
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        """Close every HTTP session and forget the token (node shutdown). Idempotent."""
        with self._lock:
            clients, self._clients = self._clients, []
            self._token = None
            self._renew_at = None
        for c in clients:
            c.adapter.close()
        self._local = threading.local()

    def _transport(self, what: str, fn: Callable[[], T]) -> T:
        """Run one request: bounded retry when never sent; map transport and seal failures.

        Lets Forbidden, InvalidPath and InvalidRequest through (their meaning depends on the
        caller); maps every other hvac or requests failure to a StorageError.
        """
        for attempt in range(_CONNECT_ATTEMPTS):
            try:
                return fn()
            except requests.exceptions.ConnectionError as exc:
                if _never_sent(exc) and attempt + 1 < _CONNECT_ATTEMPTS:
                    time.sleep(_RETRY_PAUSE_S)
                    continue
                raise VaultUnavailable(f"Vault unreachable during {what}") from None
            except requests.exceptions.Timeout:
                raise VaultUnavailable(f"Vault timed out during {what}") from None
            except requests.exceptions.RequestException as exc:
                raise VaultUnavailable(
                    f"Vault request failed during {what}: {type(exc).__name__}"
                ) from None
            except hvac.exceptions.VaultDown as exc:
                if "sealed" in _errors_text(exc).lower():
                    raise VaultSealed(f"Vault is sealed ({what})") from None
                raise VaultUnavailable(f"Vault is down during {what}") from None
            except hvac.exceptions.VaultNotInitialized:
                raise VaultSealed(f"Vault is not initialised ({what})") from None
            except hvac.exceptions.Unauthorized:
                raise VaultDenied(f"Vault refused {what} (401)") from None
            except (
                hvac.exceptions.Forbidden,
                hvac.exceptions.InvalidPath,
                hvac.exceptions.InvalidRequest,
            ):
                raise
            except hvac.exceptions.VaultError as exc:
                raise VaultUnavailable(f"Vault error during {what}: {type(exc).__name__}") from None
        raise VaultUnavailable(f"Vault unreachable during {what}")  # pragma: no cover

    def _login(self) -> None:
        """AppRole login; caller holds no lock or ``self._lock``. Never logs the token."""
        client = hvac.Client(
            url=self._cfg.addr,
            token="",
            verify=self._verify,
            timeout=self._timeout,
            session=self._session(),
        )
        try:
            resp = self._transport(
                "AppRole login",
                lambda: client.auth.approle.login(
                    role_id=self._cfg.role_id, secret_id=self._cfg.secret_id, use_token=False
                ),
            )
        except (
            hvac.exceptions.Forbidden,
            hvac.exceptions.InvalidRequest,
            hvac.exceptions.InvalidPath,
        ):
            self._token = None
            raise VaultDenied(
                "Vault refused the AppRole login (role id or secret id invalid or revoked)"
            ) from None
        finally:
            client.adapter.close()
        auth = resp.get("auth") if isinstance(resp, Mapping) else None
        if not isinstance(auth, Mapping) or not auth.get("client_token"):
            raise VaultUnavailable("Vault AppRole login returned no token")
        ttl = float(auth.get("lease_duration") or 0)
        self._token = str(auth["client_token"])
        self._renew_at = time.monotonic() + ttl * _TOKEN_RENEW_FRACTION if ttl > 0 else None
        self._logins += 1
        log.info("Vault AppRole login ok for %s (token ttl %ds)", self._node, int(ttl))

    def _current_token(self) -> str:
        with self._lock:
            if self._token is None or (
                self._renew_at is not None and time.monotonic() >= self._renew_at
            ):
                self._login()
            assert self._token is not None
            return self._token

    def _relogin(self, stale: str) -> None:
        with self._lock:
            if self._token == stale:  # another thread may already have replaced it
                self._login()

    def _token_valid(self, client: hvac.Client) -> bool:
        try:
            self._transport(
                "token check", lambda: client.sys.get_capabilities(paths=["sys/capabilities-self"])
            )
        except hvac.exceptions.Forbidden:
            return False
        except (hvac.exceptions.InvalidPath, hvac.exceptions.InvalidRequest):
            return False
        return True

    def _call(self, what: str, fn: Callable[[hvac.Client], T]) -> T:
        """One authenticated request; 403 with a dead token: one re-login, then fail closed."""
        relogged = False
        while True:
            token = self._current_token()
            client = self._client()
            client.token = token
            try:
                return self._transport(what, functools.partial(fn, client))
            except hvac.exceptions.Forbidden:
                if not relogged and not self._token_valid(client):
                    log.warning("Vault token of %s no longer valid; logging in again", self._node)
                    self._relogin(token)
                    relogged = True
                    continue
                raise VaultDenied(f"Vault denied {what}") from None

    # -- KV helpers -------------------------------------------------------------------------

    def _path(self, *parts: str) -> str:
        return "/".join([self._prefix, *parts])

    def _kv_read(self, what: str, path: str) -> tuple[Any, int] | None:
        """(data, version) of the current version; None if absent; (None, v) if v is deleted."""
        kv = self._cfg.kv_mount
        try:
            resp = self._call(
                what,
                lambda c: c.secrets.kv.v2.read_secret_version(
                    path=path, mount_point=kv, raise_on_deleted_version=True
                ),
            )
        except hvac.exceptions.InvalidPath as exc:
            # 404 with metadata: the current version is deleted or destroyed (not absent).
            body = exc.json.get("data") if isinstance(exc.json, Mapping) else None
            meta = body.get("metadata") if isinstance(body, Mapping) else None
            if isinstance(meta, Mapping) and meta.get("version"):
                return None, int(meta["version"])
            return None
        except hvac.exceptions.InvalidRequest:
            raise StorageError(f"Vault rejected {what}", reason="VAULT_BAD_REQUEST") from None
        body = resp.get("data") if isinstance(resp, Mapping) else None
        if not isinstance(body, Mapping) or not isinstance(body.get("metadata"), Mapping):
            return None
        meta = body["metadata"]
        return body.get("data"), int(meta.get("version") or 0)

    def _kv_write(self, what: str, path: str, data: Mapping[str, Any], cas: int) -> int:
        """CAS write; returns the new version. Mismatch (400) -> CasConflict."""
        kv = self._cfg.kv_mount
        try:
            resp = self._call(
                what,
                lambda c: c.secrets.kv.v2.create_or_update_secret(
                    path=path, secret=dict(data), cas=cas, mount_point=kv
                ),
            )
        except hvac.exceptions.InvalidRequest as exc:
            if "check-and-set" in _errors_text(exc):
                raise CasConflict(f"{what}: check-and-set lost (expected version {cas})") from None
            raise StorageError(f"Vault rejected {what}", reason="VAULT_BAD_REQUEST") from None
        except hvac.exceptions.InvalidPath:
            raise VaultMisconfigured(f"KV mount {kv!r} not found ({what})") from None
        return int(resp["data"]["version"])

    def _kv_create(self, what: str, path: str, data: Mapping[str, Any]) -> None:
        """Create-only write (cas=0). An existing record -> CasConflict, also when the policy
        makes the path create-only (Vault then answers 403 instead of a CAS mismatch)."""
        try:
            self._kv_write(what, path, data, 0)
        except VaultDenied:
            if self._kv_exists(what, path):
                raise CasConflict(f"{what}: record already exists") from None
            raise

    def _kv_exists(self, what: str, path: str) -> bool:
        kv = self._cfg.kv_mount
        try:
            self._call(
                what, lambda c: c.secrets.kv.v2.read_secret_metadata(path=path, mount_point=kv)
            )
        except hvac.exceptions.InvalidPath:
            return False
        except hvac.exceptions.InvalidRequest:
            raise StorageError(f"Vault rejected {what}", reason="VAULT_BAD_REQUEST") from None
        return True

    def _kv_list(self, what: str, path: str) -> list[str]:
        kv = self._cfg.kv_mount
        try:
            resp = self._call(
                what, lambda c: c.secrets.kv.v2.list_secrets(path=path, mount_point=kv)
            )
        except hvac.exceptions.InvalidPath:
            return []
        except hvac.exceptions.InvalidRequest:
            raise StorageError(f"Vault rejected {what}", reason="VAULT_BAD_REQUEST") from None
        keys = resp.get("data", {}).get("keys", []) if isinstance(resp, Mapping) else []
        return [str(k) for k in keys]

    def _kv_destroy(self, what: str, path: str) -> None:
        """Destroy every version, then delete the metadata (not a soft delete). Idempotent."""
        kv = self._cfg.kv_mount
        try:
            meta = self._call(
                what, lambda c: c.secrets.kv.v2.read_secret_metadata(path=path, mount_point=kv)
            )
        except hvac.exceptions.InvalidPath:
            meta = None
        except hvac.exceptions.InvalidRequest:
            raise StorageError(f"Vault rejected {what}", reason="VAULT_BAD_REQUEST") from None
        versions = sorted(int(v) for v in (meta or {}).get("data", {}).get("versions", {}) or {})
        try:
            if versions:
                self._call(
                    what,
                    lambda c: c.secrets.kv.v2.destroy_secret_versions(
                        path=path, versions=versions, mount_point=kv
                    ),
                )
            self._call(
                what,
                lambda c: c.secrets.kv.v2.delete_metadata_and_all_versions(
                    path=path, mount_point=kv
                ),
            )
        except hvac.exceptions.InvalidPath:
            return
        except hvac.exceptions.InvalidRequest:
            raise StorageError(f"Vault rejected {what}", reason="VAULT_BAD_REQUEST") from None

    # -- transit ----------------------------------------------------------------------------

    def _encrypt(self, plaintext: bytes, context: bytes, aad: bytes) -> str:
        key, mount = self._transit_key, self._cfg.transit_mount
        try:
            resp = self._call(
                "transit encrypt",
                lambda c: c.secrets.transit.encrypt_data(
                    name=key,
                    plaintext=_b64(plaintext),
                    context=_b64(context),
                    associated_data=_b64(aad),
                    mount_point=mount,
                ),
            )
        except (hvac.exceptions.InvalidRequest, hvac.exceptions.InvalidPath):
            raise VaultMisconfigured(f"transit encrypt with key {key!r} rejected") from None
        return str(resp["data"]["ciphertext"])

    def _decrypt(self, ciphertext: str, context: bytes, aad: bytes) -> bytes:
        """Decrypt; an authentication or format failure raises InvalidKeyShare."""
        key, mount = self._transit_key, self._cfg.transit_mount
        try:
            resp = self._call(
                "transit decrypt",
                lambda c: c.secrets.transit.decrypt_data(
                    name=key,
                    ciphertext=ciphertext,
                    context=_b64(context),
                    associated_data=_b64(aad),
                    mount_point=mount,
                ),
            )
        except hvac.exceptions.InvalidRequest:
            raise InvalidKeyShare(
                "share ciphertext failed to decrypt (tampered or misplaced)"
            ) from None
        except hvac.exceptions.InvalidPath:
            raise VaultMisconfigured(f"transit mount {mount!r} not found") from None
        try:
            return _unb64(str(resp["data"]["plaintext"]))
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise InvalidKeyShare("transit returned no plaintext") from None

    # -- health and start-up check --------------------------------------------------------------

    def health(self) -> str:
        """``"ok"``, ``"sealed"`` or ``"unreachable"`` (``sys/health``, no token, short timeout)."""
        client = hvac.Client(
            url=self._cfg.addr,
            token="",
            verify=self._verify,
            timeout=min(self._timeout, _HEALTH_TIMEOUT_S),
            session=self._session(),
        )
        try:
            resp = client.sys.read_health_status(method="GET")
        except (requests.exceptions.RequestException, hvac.exceptions.VaultError):
            return "unreachable"
        finally:
            client.adapter.close()
        if isinstance(resp, Mapping):
            body: Any = resp
            code = 200
        else:
            code = int(getattr(resp, "status_code", 0))
            try:
                body = resp.json()
            except ValueError:
                body = {}
        if isinstance(body, Mapping) and (body.get("sealed") or body.get("initialized") is False):
            return "sealed"
        if code in (200, 429, 472, 473):  # active, standby, DR secondary, performance standby
            return "ok"
        if code in (501, 503):
            return "sealed"
        return "unreachable"

    def _own_capabilities(self) -> dict[str, set[str]]:
        kv, tr, tk, z = (
            self._cfg.kv_mount,
            self._cfg.transit_mount,
            self._transit_key,
            _PROBE_KEY_ID,
        )
        p = self._prefix
        return {
            f"{kv}/data/{p}/keys/{z}/state": {"create", "read", "update"},
            f"{kv}/data/{p}/keys/{z}/epoch/0": {"create", "read"},
            f"{kv}/data/{p}/keys/{z}/cert/0": {"create", "read"},
            f"{kv}/data/{p}/selfcheck/probe": {"create", "read", "update"},
            f"{kv}/metadata/{p}/keys": {"list"},
            f"{kv}/metadata/{p}/keys/{z}/epoch/0": {"read", "delete"},
            f"{kv}/destroy/{p}/keys/{z}/epoch/0": {"update"},
            f"{tr}/encrypt/{tk}": {"update"},
            f"{tr}/decrypt/{tk}": {"update"},
            f"{tr}/keys/{tk}": {"read"},
        }

    def _foreign_paths(self) -> list[str]:
        """Paths this node's token must be denied on (another node, a sibling prefix, admin)."""
        kv, tr, tk = self._cfg.kv_mount, self._cfg.transit_mount, self._transit_key
        parent, _, leaf = self._prefix.rpartition("/")
        up = f"{parent}/" if parent else ""
        others = [
            f"{up}{leaf}-selfcheck-other",  # a sibling sharing our name as prefix (glob "node-1*")
            f"{up}warifu-selfcheck-other",  # another node under the same parent ("warifu/*")
            "warifu-selfcheck-outside",  # outside the parent altogether
        ]
        paths = []
        for o in others:
            for verb in ("data", "metadata", "destroy", "delete", "undelete"):
                paths.append(f"{kv}/{verb}/{o}/keys/{_PROBE_KEY_ID}/epoch/0")
        paths.append(f"{kv}/config")
        for other_key in (f"{tk}-selfcheck-other", "warifu-selfcheck-other"):
            for verb in ("encrypt", "decrypt", "rewrap", "keys", "datakey/plaintext"):
                paths.append(f"{tr}/{verb}/{other_key}")
        paths += [
            f"{tr}/export/encryption-key/{tk}",
            f"{tr}/backup/{tk}",
            "sys/policies/acl/warifu-selfcheck",
            "sys/policy/warifu-selfcheck",
            "sys/mounts/warifu-selfcheck",
            "sys/auth/warifu-selfcheck",
            "auth/approle/role/warifu-selfcheck/secret-id",
            "auth/token/create",
        ]
        return paths

    def self_check(self) -> None:
        """Start-up check (VLT-4): own paths and transit key usable, everything else denied.

        Raises VaultPolicyTooBroad if the token can do anything outside its own prefix and
        transit key, VaultDenied if it cannot use its own, VaultMisconfigured if KV is not
        ``cas_required``/``max_versions <= 2`` or the transit key is not a non-exportable
        derived AEAD key.
        """
        own = self._own_capabilities()
        foreign = self._foreign_paths()
        try:
            resp = self._call(
                "capabilities check", lambda c: c.sys.get_capabilities(paths=[*own, *foreign])
            )
        except (hvac.exceptions.InvalidPath, hvac.exceptions.InvalidRequest):
            raise VaultDenied("sys/capabilities-self failed") from None
        caps: Mapping[str, Any] = resp.get("data", resp) if isinstance(resp, Mapping) else {}
        broad = sorted(p for p in foreign if set(caps.get(p) or ["deny"]) - {"deny"})
        if broad:
            raise VaultPolicyTooBroad(
                f"Vault policy of {self._node} grants paths outside its own: {', '.join(broad[:5])}"
                + (f" (+{len(broad) - 5} more)" if len(broad) > 5 else "")
            )
        missing = []
        for path, need in own.items():
            have = set(caps.get(path) or [])
            if "root" not in have and not need <= have:
                missing.append(f"{path} needs {sorted(need - have)}")
        if missing:
            raise VaultDenied(f"Vault policy of {self._node} lacks: {'; '.join(missing)}")
        self._check_probe()
        self._check_transit()

    def _check_probe(self) -> None:
        path = self._path("selfcheck", "probe")
        got = self._kv_read("self-check read", path)
        version = got[1] if got is not None else 0
        nonce = ""
        for _ in range(MAX_KV_VERSIONS + 1):  # enough versions to see max_versions at work
            nonce = secrets.token_hex(16)
            version = self._kv_write("self-check write", path, {"nonce": nonce}, version)
        back = self._kv_read("self-check read", path)
        if back is None or not isinstance(back[0], Mapping) or back[0].get("nonce") != nonce:
            raise VaultMisconfigured("self-check probe did not read back what was written")
        kv = self._cfg.kv_mount
        try:
            self._call(
                "self-check write without cas",
                lambda c: c.secrets.kv.v2.create_or_update_secret(
                    path=path, secret={"nonce": "no-cas"}, mount_point=kv
                ),
            )
        except hvac.exceptions.InvalidRequest as exc:
            if "check-and-set" not in _errors_text(exc):
                raise VaultMisconfigured("unexpected answer to a write without cas") from None
        else:
            raise VaultMisconfigured(
                f"KV mount {kv!r} accepts writes without check-and-set (cas_required)"
            )
        meta = self._call(
            "self-check metadata",
            lambda c: c.secrets.kv.v2.read_secret_metadata(path=path, mount_point=kv),
        )
        kept = len(meta.get("data", {}).get("versions", {}) or {})
        if kept > MAX_KV_VERSIONS:
            raise VaultMisconfigured(
                f"KV mount {kv!r} keeps {kept} versions; max_versions must be <= {MAX_KV_VERSIONS}"
            )

    def _check_transit(self) -> None:
        key, mount = self._transit_key, self._cfg.transit_mount
        try:
            resp = self._call(
                "transit key read",
                lambda c: c.secrets.transit.read_key(name=key, mount_point=mount),
            )
        except (hvac.exceptions.InvalidPath, hvac.exceptions.InvalidRequest):
            raise VaultMisconfigured(f"transit key {key!r} not found") from None
        info = resp.get("data", {}) if isinstance(resp, Mapping) else {}
        problems = []
        if info.get("derived") is not True:
            problems.append("not derived")
        if info.get("exportable"):
            problems.append("exportable")
        if info.get("allow_plaintext_backup"):
            problems.append("allows plaintext backup")
        if info.get("type") not in AEAD_KEY_TYPES:
            problems.append(f"type {info.get('type')!r} is not an AEAD type")
        if problems:
            raise VaultMisconfigured(f"transit key {key!r}: {', '.join(problems)}")
        probe = secrets.token_bytes(32)
        ctx = lp(self._node.encode()) + b"selfcheck"
        aad = b"warifu self-check"
        ct = self._encrypt(probe, ctx, aad)
        try:
            back = self._decrypt(ct, ctx, aad)
        except InvalidKeyShare:
            raise VaultMisconfigured("transit round trip failed") from None
        if not hmac.compare_digest(back, probe):
            raise VaultMisconfigured("transit round trip returned different bytes")
        try:
            self._decrypt(ct, ctx + b"x", aad)
        except InvalidKeyShare:
            pass
        else:
            raise VaultMisconfigured("transit ignores the derivation context")

    # -- state ------------------------------------------------------------------------------

    def list_keys(self) -> list[str]:
        """Key ids that have records under this node's prefix."""
        out = []
        for name in self._kv_list("list keys", self._path("keys")):
            kid = name.rstrip("/")
            try:
                out.append(canonical_key_id(kid))
            except InvalidArguments:
                log.warning("ignoring a non-UUID entry under %s/keys", self._prefix)
        return sorted(set(out))

    def list_epochs(self, key_id: str) -> list[int]:
        """Epochs that have an ``epoch/<e>`` record for ``key_id`` (start-up GC, §9.2)."""
        kid = canonical_key_id(key_id)
        out = []
        for name in self._kv_list("list epochs", self._path("keys", kid, "epoch")):
            if name.isdigit():
                out.append(int(name))
        return sorted(out)

    def read_state(self, key_id: str) -> tuple[dict[str, Any], int] | None:
        """``(state, kv_version)`` of ``keys/<key_id>/state``, or None if there is none."""
        kid = canonical_key_id(key_id)
        got = self._kv_read("read state", self._path("keys", kid, "state"))
        if got is None:
            return None
        data, version = got
        if data is None:
            raise StorageError(
                f"state of key {kid} is deleted at version {version}", reason="VAULT_RECORD_DELETED"
            )
        if not isinstance(data, dict):
            raise StorageError(
                f"state of key {kid} is not an object", reason="VAULT_RECORD_INVALID"
            )
        return data, version

    def cas_state(self, key_id: str, state: Mapping[str, Any], expected_version: int) -> int:
        """Write ``state`` if the current version is ``expected_version`` (0 = create).

        Returns the new version; raises CasConflict if someone else wrote first.
        """
        kid = canonical_key_id(key_id)
        if (
            isinstance(expected_version, bool)
            or not isinstance(expected_version, int)
            or expected_version < 0
        ):
            raise InvalidArguments(
                "expected_version must be an int >= 0", reason="INVALID_ARGUMENT"
            )
        try:
            json.dumps(state)
        except (TypeError, ValueError) as exc:
            raise InvalidArguments(
                f"state is not JSON-serialisable: {exc}", reason="INVALID_ARGUMENT"
            ) from None
        return self._kv_write(
            "write state", self._path("keys", kid, "state"), state, expected_version
        )

    def delete_key(self, key_id: str) -> None:
        """Destroy every record of ``key_id`` (state, epochs, certificates). Idempotent.

        For discarding a key that never became ACTIVE (shares.md §9.2 "discard").
        """
        kid = canonical_key_id(key_id)
        for e in self.list_epochs(kid):
            self.destroy_epoch(kid, e)
        for name in self._kv_list("list certs", self._path("keys", kid, "cert")):
            if name.isdigit():
                self._kv_destroy("destroy cert", self._path("keys", kid, "cert", name))
        self._kv_destroy("destroy state", self._path("keys", kid, "state"))

    # -- epochs ---------------------------------------------------------------------------

    def _context(self, pkg: PublicKeyPackage) -> bytes:
        return transit_context(self._node, pkg.key_id, pkg.epoch)

    def write_epoch(
        self, key_id: str, share: KeyShare, ot_state: Mapping[int, bytes] | None = None
    ) -> None:
        """Create ``keys/<key_id>/epoch/<e>`` (cas=0) with the encrypted share (§9.2 prepare).

        ``ot_state`` (secp256k1 keys) maps each peer's party id to this node's serialized
        pairwise OT state with that peer (``dkls23.md`` §7.3); each is encrypted like the share,
        with its own associated data. The share is verified first; an existing record raises
        CasConflict.
        """
        kid = canonical_key_id(key_id)
        pkg = share.pkg
        if pkg.key_uuid != kid:
            raise InvalidArguments("share belongs to another key", reason="INVALID_ARGUMENT")
        share.verify()
        if pkg.committee.member(share.party_id).node != self._node:
            raise InvalidArguments(
                f"party {share.party_id} is not run by node {self._node}", reason="INVALID_PARTY"
            )
        group = pkg.group
        aad = share_aad(pkg, share.party_id)
        ct = self._encrypt(
            hashlib.sha256(aad).digest() + group.encode_scalar(share.secret),
            self._context(pkg),
            aad,
        )
        record = {
            "format": RECORD_FORMAT,
            "node": self._node,
            "key_id": kid,
            "epoch": pkg.epoch,
            "party_id": share.party_id,
            "pkg": pkg.to_dict(),
            "pkg_digest": pkg.digest().hex(),
            "transit_key": self._transit_key,
            "share_ct": ct,
        }
        if ot_state is not None:
            peers = set(pkg.committee.ids) - {share.party_id}
            if set(ot_state) != peers:
                raise InvalidArguments("OT state must cover every peer", reason="INVALID_ARGUMENT")
            record["ot_ct"] = {
                str(j): self._encrypt(
                    blob,
                    self._context(pkg),
                    ot_state_aad(pkg.key_id, pkg.epoch, share.party_id, j),
                )
                for j, blob in sorted(ot_state.items())
            }
        self._kv_create("write epoch", self._path("keys", kid, "epoch", str(pkg.epoch)), record)

    def load_ot_state(self, key_id: str, epoch: int, peers: Sequence[int]) -> dict[int, bytes]:
        """Decrypt this node's pairwise OT state with ``peers`` at ``epoch`` (secp256k1 keys).

        A missing, moved or tampered ciphertext raises InvalidKeyShare (``SHARE_INTEGRITY``).
        """
        kid = canonical_key_id(key_id)
        pkg, party_id, _ = self._read_epoch(kid, _check_epoch(epoch))
        got = self._kv_read("read epoch", self._path("keys", kid, "epoch", str(epoch)))
        data = got[0] if got is not None else None
        cts = data.get("ot_ct") if isinstance(data, Mapping) else None
        if not isinstance(cts, Mapping):
            raise InvalidKeyShare(f"key {kid} epoch {epoch} has no OT state")
        out: dict[int, bytes] = {}
        for j in sorted(peers):
            ct = cts.get(str(j))
            if not isinstance(ct, str) or not ct.startswith("vault:v"):
                raise InvalidKeyShare(f"no OT state with party {j}")
            out[j] = self._decrypt(
                ct, self._context(pkg), ot_state_aad(pkg.key_id, epoch, party_id, j)
            )
        return out

    def _read_epoch(self, kid: str, epoch: int) -> tuple[PublicKeyPackage, int, str]:
        """Read and check an epoch record; (pkg, party_id, share_ct). InvalidKeyShare on defects."""
        got = self._kv_read("read epoch", self._path("keys", kid, "epoch", str(epoch)))
        if got is None:
            raise InvalidKeyShare(f"no share record for key {kid} epoch {epoch}")
        data, version = got
        if data is None:
            raise InvalidKeyShare(f"share record of key {kid} epoch {epoch} is deleted")
        if version != 1:
            raise InvalidKeyShare(
                f"share record of key {kid} epoch {epoch} was rewritten "
                f"(KV version {version}, expected 1)"
            )
        try:
            if not isinstance(data, Mapping) or data.get("format") != RECORD_FORMAT:
                raise InvalidKeyShare("unknown share record format")
            pkg = PublicKeyPackage.from_dict(data["pkg"])
            party_id = data["party_id"]
            ct = data["share_ct"]
            if (
                isinstance(party_id, bool)
                or not isinstance(party_id, int)
                or not isinstance(ct, str)
            ):
                raise InvalidKeyShare("malformed share record fields")
            digest_ok = hmac.compare_digest(str(data.get("pkg_digest", "")), pkg.digest().hex())
        except InvalidKeyShare:
            raise
        except (WarifuError, KeyError, TypeError, ValueError) as exc:
            raise InvalidKeyShare(f"malformed share record: {type(exc).__name__}") from None
        if pkg.key_uuid != kid or data.get("key_id") != kid:
            raise InvalidKeyShare("share record belongs to another key")
        if pkg.epoch != epoch or data.get("epoch") != epoch:
            raise InvalidKeyShare("share record belongs to another epoch")
        if not digest_ok:
            raise InvalidKeyShare("package digest does not match the package")
        if data.get("node") != self._node:
            raise InvalidKeyShare("share record belongs to another node")
        try:
            member = pkg.committee.member(party_id)
        except InvalidArguments:
            raise InvalidKeyShare("share record's party is not in the committee") from None
        if member.node != self._node:
            raise InvalidKeyShare("share record's party is not run by this node")
        if not ct.startswith("vault:v"):
            raise InvalidKeyShare("share ciphertext is not a transit ciphertext")
        return pkg, party_id, ct

    def load_pkg(self, key_id: str, epoch: int) -> PublicKeyPackage:
        """The public key package of ``epoch`` (checked, no decryption)."""
        kid = canonical_key_id(key_id)
        pkg, _, _ = self._read_epoch(kid, _check_epoch(epoch))
        return pkg

    def load_share(self, key_id: str, epoch: int) -> KeyShare:
        """Read, decrypt and verify this node's share of ``epoch`` (``x_i·G == X_i``).

        Any tampering (bit flip, moved ciphertext, replaced package, rewritten record) raises
        InvalidKeyShare (``SHARE_INTEGRITY``); Vault trouble raises a StorageError.
        """
        kid = canonical_key_id(key_id)
        pkg, party_id, ct = self._read_epoch(kid, _check_epoch(epoch))
        aad = share_aad(pkg, party_id)
        plain = self._decrypt(ct, self._context(pkg), aad)
        group = group_by_name(pkg.curve)
        if len(plain) != 32 + group.scalar_len:
            raise InvalidKeyShare("decrypted share has the wrong length")
        if not hmac.compare_digest(plain[:32], hashlib.sha256(aad).digest()):
            raise InvalidKeyShare(
                "decrypted share is bound to another key, epoch, party or package"
            )
        try:
            secret = group.decode_scalar(plain[32:])
        except InvalidArguments:
            raise InvalidKeyShare("decrypted share is not a canonical scalar") from None
        share = KeyShare(pkg=pkg, party_id=party_id, secret=secret)
        share.verify()
        return share

    def destroy_epoch(self, key_id: str, epoch: int) -> None:
        """Destroy every KV version of ``epoch/<e>`` and delete its metadata (§9.3). Idempotent."""
        kid = canonical_key_id(key_id)
        self._kv_destroy(
            "destroy epoch", self._path("keys", kid, "epoch", str(_check_epoch(epoch)))
        )

    # -- certificates -----------------------------------------------------------------------

    def write_cert(self, key_id: str, epoch: int, cert: bytes) -> None:
        """Create ``cert/<e>``; a no-op if identical bytes are there, CasConflict if others are."""
        kid = canonical_key_id(key_id)
        path = self._path("keys", kid, "cert", str(_check_epoch(epoch)))
        try:
            self._kv_create(
                "write cert", path, {"format": RECORD_FORMAT, "cert": _b64(bytes(cert))}
            )
        except CasConflict:
            existing = self.read_cert(kid, epoch)
            if existing is not None and hmac.compare_digest(existing, bytes(cert)):
                return
            raise

    def read_cert(self, key_id: str, epoch: int) -> bytes | None:
        """The certificate bytes of ``epoch``, or None."""
        kid = canonical_key_id(key_id)
        got = self._kv_read("read cert", self._path("keys", kid, "cert", str(_check_epoch(epoch))))
        if got is None or got[0] is None:
            return None
        data = got[0]
        try:
            if data.get("format") != RECORD_FORMAT:
                raise ValueError("format")
            return _unb64(str(data["cert"]))
        except (AttributeError, KeyError, ValueError, binascii.Error):
            raise StorageError(
                f"certificate record of key {kid} epoch {epoch} is malformed",
                reason="VAULT_RECORD_INVALID",
            ) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
