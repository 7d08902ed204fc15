"""warifu.client: the typed SDK (:class:`Client`) and the ``warifu`` command line."""

from warifu.client.client import (
    Client,
    DigestSignature,
    EthSignedMessage,
    EthSignedTransaction,
    KeyInfo,
    WarifuRpcError,
    XrpSignature,
)

__all__ = [
    "Client",
    "DigestSignature",
    "EthSignedMessage",
    "EthSignedTransaction",
    "KeyInfo",
    "WarifuRpcError",
    "XrpSignature",
]
