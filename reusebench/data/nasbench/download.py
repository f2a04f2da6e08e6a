"""The official NAS-Bench-101 files for paper-scale runs, verified record by record.

Every record carries two CRC32C checksums, so reading the whole file once verifies
its content; a known record count (and a SHA-256 when configured) catches a
truncated or different file.
"""

from __future__ import annotations

from pathlib import Path

from reusebench.core.errors import InputError
from reusebench.data.download import fetch
from reusebench.data.nasbench.tfrecord import iter_tfrecord

OFFICIAL = {
    # Ying et al. 2019, github.com/google-research/nasbench README; record counts from the
    # paper: 423,624 cells × 3 repeats (108 epochs only) and × 4 budgets × 3 repeats (full).
    "nasbench_only108": {"url": "https://storage.googleapis.com/nasbench/"
                                "nasbench_only108.tfrecord", "records": 1_270_872},
    "nasbench_full": {"url": "https://storage.googleapis.com/nasbench/nasbench_full.tfrecord",
                      "records": 5_083_488},
}


def fetch_nasbench(url: str, destination: str | Path, sha256: str | None = None,
                   expected_records: int | None = None) -> int:
    """Download (unless present), check every record's CRC and the count; return the count."""
    destination = Path(destination)
    fetch(url, destination, sha256)
    count = sum(1 for _ in iter_tfrecord(destination))
    if expected_records is not None and count != expected_records:
        destination.unlink()
        raise InputError(f"{destination} holds {count} records, expected {expected_records}: "
                         "the download is incomplete or a different version; rerun to fetch "
                         "it again.")
    return count
