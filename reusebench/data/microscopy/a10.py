"""The NIST A10 set: download its archive and unpack the images/ and masks/ folders."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import urllib.parse
import zipfile
from pathlib import Path

from reusebench.core.errors import InputError
from reusebench.data.download import fetch

# The paper cites the NIST A10 set (Table 4, ref. [17]) by NIST's dissemination page below,
# without a file address; no archive URL or checksum could be verified from it, so
# fetch_a10 takes both from the config.
A10_SOURCE: dict[str, str | None] = {
    "landing_page": "https://isg.nist.gov/deepzoomweb/data/dissemination",
    "description": "NIST fluorescent A10 rat smooth-muscle cells with manual masks",
    "url": None,
    "sha256": None,
}


def fetch_a10(destination_dir: str | Path, url: str | None, sha256: str | None) -> Path:
    """Download the A10 archive (zip or tar) and unpack it to destination_dir/{images,masks}.

    No archive address or checksum of the NIST A10 set could be verified (see
    :data:`A10_SOURCE`), so both come from the config. Inside the archive, the image and
    mask folders are the directories named ``images`` and ``masks``. A destination that
    already has both folders is returned untouched.
    """
    destination = Path(destination_dir)
    if (destination / "images").is_dir() and (destination / "masks").is_dir():
        return destination
    if not url:
        raise InputError(f"Dataset A10 is not at {destination} and no download url is "
                         "configured: set its url and sha256 or put its images/ and masks/ "
                         "folders there.")
    destination.mkdir(parents=True, exist_ok=True)
    file_name = Path(urllib.parse.urlparse(url).path).name or "a10_archive"
    archive = fetch(url, destination / "archive" / file_name, sha256)
    with tempfile.TemporaryDirectory(dir=destination) as scratch:
        unpack(archive, Path(scratch))
        for folder in ("images", "masks"):
            shutil.move(find_folder(Path(scratch), folder, archive), destination / folder)
    return destination


def unpack(archive: Path, target: Path) -> None:
    """Extract a zip or tar archive into ``target``; a member that would land outside it
    (an absolute path, ``..``, or a link out) is an InputError naming the member."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for name in bundle.namelist():
                _check_member(archive, name, target)
            bundle.extractall(target)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            for name in bundle.getnames():
                _check_member(archive, name, target)
            try:
                bundle.extractall(target, filter="data")
            except tarfile.FilterError as error:
                member = error.tarinfo.name
                raise InputError(f"{archive}: member {member!r} is not safe to extract "
                                 f"({error}), so the archive is not unpacked.") from None
    else:
        raise InputError(f"{archive} is neither a zip nor a tar archive.")


def _check_member(archive: Path, name: str, target: Path) -> None:
    """InputError when the archive member ``name`` would land outside ``target``."""
    root = target.resolve()
    destination = (root / name).resolve()
    if name.startswith(("/", "\\")) or ".." in Path(name.replace("\\", "/")).parts \
            or not destination.is_relative_to(root):
        raise InputError(f"{archive}: member {name!r} would be extracted outside {target}, so "
                         "the archive is not unpacked.")


def find_folder(root: Path, folder_name: str, archive: Path) -> Path:
    """The single directory called ``folder_name`` (any case) under ``root``."""
    found = [path for path in root.rglob("*")
             if path.is_dir() and path.name.lower() == folder_name]
    if len(found) != 1:
        raise InputError(f"{archive} has {len(found)} folders named {folder_name}/, "
                         "expected exactly one.")
    return found[0]
