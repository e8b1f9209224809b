"""Loaded by every Python process started with this folder on PYTHONPATH (offline tests).

An audit hook refuses any socket connection or name lookup that is not for the loopback
interface, and writes each attempt to $CXR_OFFLINE_GUARD_LOG so the test can fail on it.
"""

import os
import sys

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost", b"localhost", b"127.0.0.1", b"::1"}


def _is_loopback(host: object) -> bool:
    if host in _LOOPBACK_NAMES or host is None or host == "":
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    return text.startswith("127.") or text in {"::1", "localhost"}


def _record(what: str) -> None:
    path = os.environ.get("CXR_OFFLINE_GUARD_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(what + "\n")


def _guard(event: str, args: tuple) -> None:
    if event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            _record(f"connect {address!r}")
            raise PermissionError(f"offline test: outbound connection to {address!r} blocked")
    elif event == "socket.getaddrinfo":
        host = args[0]
        if not _is_loopback(host):
            _record(f"getaddrinfo {host!r}")
            raise PermissionError(f"offline test: name lookup of {host!r} blocked")
    elif event == "socket.gethostbyname":
        if not _is_loopback(args[0]):
            _record(f"gethostbyname {args[0]!r}")
            raise PermissionError(f"offline test: name lookup of {args[0]!r} blocked")


sys.addaudithook(_guard)
