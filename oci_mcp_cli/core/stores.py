"""Encrypted on-disk key-value stores: the server's OAuth state and the test client's token
cache are both a Fernet-encrypted ``FileTreeStore``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def fernet_file_store(directory: Path, fernet_key: bytes) -> Any:
    """A Fernet-encrypted ``FileTreeStore`` (an ``AsyncKeyValue``) in ``directory``; entries that
    do not decrypt read as missing."""
    from cryptography.fernet import Fernet
    from key_value.aio.stores.filetree import (
        FileTreeStore,
        FileTreeV1CollectionSanitizationStrategy,
        FileTreeV1KeySanitizationStrategy,
    )
    from key_value.aio.wrappers.encryption import FernetEncryptionWrapper

    store = FileTreeStore(
        data_directory=directory,
        key_sanitization_strategy=FileTreeV1KeySanitizationStrategy(directory),
        collection_sanitization_strategy=FileTreeV1CollectionSanitizationStrategy(directory),
    )
    return FernetEncryptionWrapper(
        key_value=store, fernet=Fernet(key=fernet_key), raise_on_decryption_error=False
    )
