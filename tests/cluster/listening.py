"""Listening TCP sockets of given processes, read from /proc (no ss/netstat needed).

    python3 listening.py [--loopback-only] PID_OR_PID_FILE...

prints one line per listening socket (pid, process name, address, port); with
``--loopback-only`` it exits 1 when one of them is bound outside 127.0.0.0/8 and ::1.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

LISTEN = "0A"


def _address(hex_address: str) -> tuple[str, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # /proc/net/tcp{,6} stores each 32-bit word in host (little-endian) byte order.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words)), int(port, 16)


def _listening_by_inode() -> dict[str, tuple[str, int]]:
    sockets = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == LISTEN:
                sockets[fields[9]] = _address(fields[1])
    return sockets


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.scandir(f"/proc/{pid}/fd"):
            target = os.readlink(fd.path)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    except OSError:  # the process ended meanwhile
        pass
    return inodes


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def listening_sockets(pids) -> list[tuple[int, str, str, int]]:
    """(pid, name, address, port) of every listening TCP socket the processes hold."""
    by_inode = _listening_by_inode()
    found = []
    for pid in pids:
        for inode in sorted(_socket_inodes(pid)):
            if inode in by_inode:
                found.append((pid, process_name(pid), *by_inode[inode]))
    return found


def is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address).is_loopback


def _pid(argument: str) -> int:
    path = Path(argument)
    return int(path.read_text().split()[0]) if path.is_file() else int(argument)


def main(arguments: list[str]) -> int:
    loopback_only = "--loopback-only" in arguments
    pids = [_pid(argument) for argument in arguments if argument != "--loopback-only"]
    outside = 0
    for pid, name, address, port in listening_sockets(pids):
        scope = "loopback" if is_loopback(address) else "NOT LOOPBACK"
        print(f"{pid} {name} {address}:{port} {scope}")
        outside += not is_loopback(address)
    return 1 if loopback_only and outside else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
