"""Hashing cells beside the reading: a second process, or a thread where the extension was
built (``start_helper`` picks), each taking part of the cells ``cellhash.hash_pruned_digests``
is given.

The MD5 calls are most of the time of the cell hash (the 423,624 cells of NAS-Bench-101 take
over 16 million of them), and CPython's MD5 holds the GIL on short inputs, so a ``Helper``
process can take part of the cells (``python -m reusebench.data.nasbench.hashhelpers`` reading
pickled arrays on its standard input); if it fails for any reason its share is hashed here.
Where the compiled extension ``_accel`` was built, the hashing runs without the GIL, so a
``ThreadHelper`` hashes in parallel with the reading.
"""

from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from reusebench.data.nasbench import cellhash
from reusebench.data.nasbench.native import accel

MIN_SHARED_CELLS = 20_000  # below this a second process costs more than it saves


class Helper:
    """A second Python process that hashes cells, started before they are known so that its
    start-up overlaps the reading; use as a context manager. Requests are answered in order;
    a thread writes them and another reads the answers as they come, so neither side waits
    on a full pipe."""

    def __init__(self, min_cells: int = MIN_SHARED_CELLS):
        self.min_cells = min_cells
        package_root = str(Path(__file__).resolve().parents[3])  # the folder of reusebench/
        path = os.environ.get("PYTHONPATH")
        environment = {**os.environ, "PYTHONPATH": package_root + (os.pathsep + path
                                                                  if path else "")}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "reusebench.data.nasbench.hashhelpers"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=environment)
        self._outbox: queue.Queue = queue.Queue()
        self._inbox: queue.Queue = queue.Queue()
        self._submitted = self._taken = 0
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._writer.start()
        self._reader.start()

    def submit(self, *arrays: np.ndarray) -> int:
        """Queue the arrays of ``hash_pruned_digests`` for the helper; returns the request's
        number for ``result``."""
        self._outbox.put(pickle.dumps(tuple(np.ascontiguousarray(array) for array in arrays),
                                      protocol=pickle.HIGHEST_PROTOCOL))
        self._submitted += 1
        return self._submitted - 1

    def result(self, request: int) -> np.ndarray | None:
        """The digests for request number ``request`` (answers to earlier requests not
        taken are dropped), or None if the helper failed."""
        answer = None
        while self._taken <= request:
            answer = self._inbox.get()
            self._taken += 1
            if answer is None:
                self._inbox.put(None)  # failed for good: so are later requests
                self._taken = self._submitted
                return None
        return answer

    def _write(self) -> None:
        while (payload := self._outbox.get()) is not None:
            try:
                self._process.stdin.write(payload)
                self._process.stdin.flush()
            except OSError:  # the helper is gone: the reader says so
                return

    def _read(self) -> None:
        while True:
            try:
                self._inbox.put(pickle.load(self._process.stdout))
            except (EOFError, OSError, pickle.UnpicklingError):
                self._inbox.put(None)
                return

    def close(self) -> None:
        self._outbox.put(None)
        if self._taken < self._submitted:  # answers nobody will read: stop at once
            self._process.kill()
        self._writer.join(timeout=5)
        try:
            self._process.stdin.close()
            self._process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout=5)
        self._process.stdout.close()

    def __enter__(self) -> Helper:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class ThreadHelper:
    """``Helper``'s interface on a thread of this process: where the extension was built, the
    hashing runs in compiled code without the GIL, so a thread hashes while the reading goes
    on, with no process to start and no arrays to copy."""

    eager = True  # cells may come in many small batches: each costs next to nothing

    def __init__(self, min_cells: int = MIN_SHARED_CELLS):
        self.min_cells = min_cells
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cellhash")
        self._futures: list[Future] = []

    def submit(self, *arrays: np.ndarray) -> int:
        return self.call(cellhash._digests, *arrays)

    def call(self, function: Callable[..., np.ndarray], *arguments) -> int:
        """Run ``function(*arguments)`` on the thread; its result is that of the request."""
        self._futures.append(self._pool.submit(function, *arguments))
        return len(self._futures) - 1

    def result(self, request: int) -> np.ndarray | None:
        return self._futures[request].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ThreadHelper:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def start_helper() -> Helper | ThreadHelper | None:
    """A hashing thread where the extension was built, else a running Helper process, or None
    where no process can be started."""
    if accel is not None:
        return ThreadHelper()
    try:
        return Helper()
    except OSError:
        return None


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


def _serve() -> None:
    """The helper's side: hash each pickled request from standard input until it closes."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            arrays = pickle.load(source)
        except EOFError:
            return
        pickle.dump(cellhash._digests(*arrays), sink, protocol=pickle.HIGHEST_PROTOCOL)
        sink.flush()


if __name__ == "__main__":
    _serve()
