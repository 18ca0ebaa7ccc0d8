"""Helpers for tests with several directory providers: a provider's whole tree, attribute by attribute;
a listener that accepts connections and never answers; a connections file in a chosen order."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import ldap3

from hopthu.directory.reader import paged_search
from hopthu.directory.replicas import LocalProviders
from hopthu.directory.server import LocalDirectory

Tree = dict[str, dict[str, list[str]]]


def tree(server: LocalDirectory, org) -> Tree:
    """Every entry of ``org``'s database on ``server`` (read as the rootdn), DN → attribute → sorted values,
    user and operational attributes alike (entryUUID, entryCSN, contextCSN, timestamps, password hashes)."""
    conn = server.connect(org)
    try:
        entries = paged_search(conn, server.base_dn(org), ldap3.SUBTREE, "(objectClass=*)", ("*", "+"))
        return {
            entry["dn"].lower(): {
                name.lower(): sorted(v.decode("utf-8", "backslashreplace") for v in values)
                for name, values in entry["raw_attributes"].items()
            }
            for entry in entries
        }
    finally:
        conn.unbind()


def assert_identical(providers: LocalProviders, org) -> Tree:
    """Wait until the providers converge, then check that each holds exactly the first one's entries,
    attribute by attribute, with equal contextCSNs; the first one's tree."""
    providers.wait_converged()
    first = tree(providers.first, org)
    for provider in providers.providers[1:]:
        other = tree(provider, org)
        assert other.keys() == first.keys(), (
            f"entries only on {providers.first.uri}: {sorted(first.keys() - other.keys())[:5]}; "
            f"only on {provider.uri}: {sorted(other.keys() - first.keys())[:5]}"
        )
        differing = {
            entry: sorted(
                name
                for name in first[entry].keys() | other[entry].keys()
                if first[entry].get(name) != other[entry].get(name)
            )
            for entry in first
            if first[entry] != other[entry]
        }
        assert differing == {}, (
            f"{provider.uri} differs from {providers.first.uri}: {list(differing.items())[:5]}"
        )
    base = providers.base_dn(org).lower()
    assert first[base].get("contextcsn"), "the suffix entry has no contextCSN"
    return first


def people(server: LocalDirectory, org) -> list[str]:
    conn = server.connect(org)
    try:
        entries = paged_search(conn, f"ou=people,{server.base_dn(org)}", ldap3.LEVEL, "(uid=*)", ("uid",))
        return [entry["raw_attributes"]["uid"][0].decode() for entry in entries]
    finally:
        conn.unbind()


def connections_file(path: Path, providers: LocalProviders, uris: Sequence[str], **top: object) -> Path:
    """A connections file like the providers' directory.json, listing ``uris`` in that order."""
    info = json.loads((providers.workdir / "directory.json").read_text())
    info["uris"] = list(uris)
    info.update(top)
    path.write_text(json.dumps(info, indent=1), encoding="utf-8")
    return path


@contextlib.contextmanager
def silent_listener() -> Iterator[str]:
    """An LDAP URI on 127.0.0.1 whose listener accepts every connection and never sends a byte (a
    provider that hangs): the URI, until the block ends."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # read nothing, answer nothing

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"ldap://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        server.close()
