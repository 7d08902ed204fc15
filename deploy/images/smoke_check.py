"""Build-time check of a node image (every Dockerfile runs it; the image build fails if it does).

- PyNaCl must run on a FULL libsodium: warifu's Ed25519 group arithmetic needs
  ``crypto_core_ed25519_*`` and ``crypto_scalarmult_ed25519_*``, which a libsodium built with
  ``--enable-minimal`` (PyNaCl's ``SODIUM_INSTALL_MINIMAL=1``) leaves out. Such a build imports
  fine and fails only at the first DKG, so catch it here.
- The node daemon, its health check and the deploy scripts' imports load.
- One Ed25519 operation through warifu's own curve backend gives the expected answer.

Prints one line of provenance (Python build, libc, OpenSSL, PyNaCl) for the build log.
"""

from __future__ import annotations

import platform
import ssl
import sys


def main() -> int:
    import nacl
    import nacl.bindings as sodium

    missing = [
        flag
        for flag in ("has_crypto_core_ed25519", "has_crypto_scalarmult_ed25519")
        if not getattr(sodium, flag, False)
    ]
    if missing:
        print(
            f"smoke_check: PyNaCl {nacl.__version__} runs on a minimal libsodium "
            f"({', '.join(missing)} false); rebuild without SODIUM_INSTALL_MINIMAL",
            file=sys.stderr,
        )
        return 1

    import warifu.client.openbao
    import warifu.client.tls
    import warifu.node.healthcheck
    import warifu.node.server  # noqa: F401
    from warifu.core.curves import group_by_name

    g = group_by_name("ed25519")
    # 5·G + 7·G == 12·G through sodium's add and both scalar multiplications, and the
    # generator's encoding is the RFC 8032 base point.
    if (g.base_mul(5) + g.generator() * 7) != g.base_mul(12) or g.encode_point(
        g.generator()
    ).hex() != "5866666666666666666666666666666666666666666666666666666666666666":
        print("smoke_check: Ed25519 arithmetic is wrong", file=sys.stderr)
        return 1
    libc = " ".join(x for x in platform.libc_ver() if x) or "musl/unknown"
    print(
        f"smoke_check ok: {platform.python_implementation()} {platform.python_version()} "
        f"({sys.executable}), libc {libc}, {ssl.OPENSSL_VERSION}, PyNaCl {nacl.__version__}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
