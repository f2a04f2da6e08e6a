"""Downloads of public datasets with checksums; one clear sentence when offline."""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

from reusebench.core.errors import InputError
from reusebench.core.io import atomic_write

CHUNK_BYTES = 1 << 20
SKIP = "skip"  # sha256: skip downloads a file unchecked, with a warning
SCHEMES = ("http", "https")


def check_download(url: str, sha256: str | None, key: str,
                   verified_otherwise: bool = False) -> None:
    """A download a config names: http(s) only, and a SHA-256 to check it against, or an
    explicit ``sha256: skip``, or a check of its own (``verified_otherwise``, such as a
    NAS-Bench-101 record count). ``key`` is the config key shown in the sentence."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise InputError(f"{key}.url is {url!r}: only http and https downloads are allowed; "
                         "put a local copy where the config expects it instead.")
    if sha256 is None and not verified_otherwise:
        raise InputError(f"{key}.sha256 is not set for {url}: give the file's SHA-256, or "
                         f"sha256: {SKIP} to download it unchecked.")


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
    check_download(url, sha256, "download", verified_otherwise=True)  # the scheme
    if sha256 == SKIP:
        warnings.warn(f"{url} is downloaded without a checksum (sha256: {SKIP}).",
                      stacklevel=2)
        sha256 = None
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
