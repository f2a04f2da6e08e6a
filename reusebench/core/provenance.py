"""Where and when a run ran: host, Python, platform, library versions and UTC time stamps.

One helper for both studies (as benchopt's ``get_sys_info``): Study A's ``provenance.json``
(:mod:`reusebench.training.seg.train`) and Study B's run summary
(:mod:`reusebench.training.keras.experiment`).
"""

from __future__ import annotations

import platform
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata


def system_info() -> dict[str, str]:
    """This machine's host name, Python version and platform description."""
    return {"host": socket.gethostname(), "python": platform.python_version(),
            "platform": platform.platform()}


def library_versions(distributions: Sequence[str]) -> dict[str, str | None]:
    """The installed version of each distribution; None for one that is not installed."""
    versions: dict[str, str | None] = {}
    for distribution in distributions:
        try:
            versions[distribution] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[distribution] = None
    return versions


def utc_now(timespec: str = "seconds") -> str:
    """The current UTC time in ISO 8601, to ``timespec`` (as :meth:`datetime.isoformat`)."""
    return datetime.now(UTC).isoformat(timespec=timespec)
