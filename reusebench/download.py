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
    return digest_of(path, "sha256")


def digest_of(path: str | Path, algorithm: str) -> str:
    """Hex digest of a file by ``hashlib`` algorithm name (sha256, md5, ...)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, destination: str | Path, sha256: str | None = None,
          timeout: float = 60.0, md5: str | None = None) -> Path:
    """Download ``url`` to ``destination`` unless a verified copy is already there.

    The file appears only once complete and matching ``sha256`` and ``md5`` (when given;
    md5 for sources that publish only that, such as CIFAR). Offline or unreachable →
    InputError telling where to put the file by hand.
    """
    destination = Path(destination)
    if destination.is_file():
        verify(destination, sha256, md5=md5)
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
        verify(tmp, sha256, shown_as=url, md5=md5)

    atomic_write(destination, download)
    return destination


def verify(path: Path, sha256: str | None, shown_as: str | None = None,
           md5: str | None = None) -> None:
    for algorithm, label, expected in (("sha256", "SHA-256", sha256), ("md5", "MD5", md5)):
        if expected is None:
            continue
        actual = digest_of(path, algorithm)
        if actual != expected.lower():
            raise InputError(f"{shown_as or path} has {label} {actual}, expected {expected}: "
                             "the file is corrupt or a different version; delete it and rerun.")
