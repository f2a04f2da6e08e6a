"""Downloads of public datasets with checksums; one clear sentence when offline."""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from reusebench.errors import InputError
from reusebench.io import atomic_write

CHUNK_BYTES = 1 << 20


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, destination: str | Path, sha256: str | None = None,
          timeout: float = 60.0) -> Path:
    """Download ``url`` to ``destination`` unless a verified copy is already there.

    The file appears only once complete and matching ``sha256`` (when given). Offline or
    unreachable → InputError telling where to put the file by hand.
    """
    destination = Path(destination)
    if destination.is_file():
        verify(destination, sha256)
        return destination

    def download(tmp: Path) -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, \
                    open(tmp, "wb") as stream:
                shutil.copyfileobj(response, stream, CHUNK_BYTES)
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise InputError(f"Cannot download {url} ({error}); this machine may be "
                             f"offline: fetch the file elsewhere and put it at "
                             f"{destination}, then rerun.") from None
        verify(tmp, sha256, shown_as=url)

    atomic_write(destination, download)
    return destination


def verify(path: Path, sha256: str | None, shown_as: str | None = None) -> None:
    if sha256 is None:
        return
    actual = sha256_of(path)
    if actual != sha256.lower():
        raise InputError(f"{shown_as or path} has SHA-256 {actual}, expected {sha256}: the "
                         "file is corrupt or a different version; delete it and rerun.")
