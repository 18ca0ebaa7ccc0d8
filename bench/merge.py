"""A merger (sáp nhập) of 50,000 accounts between two databases of one slapd, against the raw baseline.

Bình Thuận's three units (realistic Vietnamese names, 3 % of the usernames taken in Lâm Đồng, unit
mailboxes, locked accounts, two application groups) into Lâm Đồng (bench/mergeload.py). Measured:

- ``hopthu assign --directory`` writing the renames (the collisions) into the request;
- ``hopthu plan`` of the merger as the plan-readers, the whole command (target: under 10 s);
- ``hopthu apply``, the whole command, in entries moved per second, next to the same work done with the
  OpenLDAP tools in the same run, from the same starting directory: ``ldapadd`` of the very entries
  the plan adds (password hashes included), ``ldapmodify`` of the groups (members in, members out) and
  ``ldapdelete`` of the source entries (target: at least 0.5 × that baseline);
- the no-op re-apply.

    .venv/bin/python bench/merge.py [--accounts 50000] [--collisions 0.03] [--nosync] [--plan-only]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mergeload
from ldap_write import to_ldif
from recovery import copy_tree

from hopthu.directory import dn
from hopthu.directory.server import LocalDirectory


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    """Wall seconds of the command (and its CPU seconds in ``timed.cpu``: on a shared machine the wall
    time is the CPU time plus the wait for a core)."""
    started, cpu = time.perf_counter(), cpu_of_children()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - started
    timed.cpu = cpu_of_children() - cpu
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:2])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return took, done.stdout


def baseline_files(load: mergeload.MergeLoad, plan: dict, tmp: Path) -> tuple[Path, Path, Path, Path]:
    """The planned work as OpenLDAP tool input: the adds (with the source's password hashes), the group
    changes in the target and in the source, and the deletes."""
    hashes = {}
    conn = load.connect(load.source.code)
    try:
        for base in (dn.container_dn(load.source, dn.PEOPLE), dn.container_dn(load.source, dn.MAILBOXES)):
            for entry in conn.extend.standard.paged_search(
                base, "(uid=*)", attributes=["uid", "userPassword"], paged_size=1000, generator=True
            ):
                if entry.get("type") == "searchResEntry":
                    value = entry["raw_attributes"]["userPassword"][0].decode()
                    hashes[entry["raw_attributes"]["uid"][0].decode()] = value
    finally:
        conn.unbind()
    adds, deletes = [], []
    members: dict[tuple[str, str], list[str]] = {}
    (request,) = plan["requests"]
    for change in request["changes"]:
        kind = change["kind"]
        make = dn.person_dn if kind == "person" else dn.mailbox_dn
        source_uid = change["source"][1]
        if change["op"] == "merge-in":
            attributes = {k: v for k, v in change["after"].items() if v}
            attributes["userPassword"] = [hashes[source_uid]]
            adds.append((make(load.target, change["uid"]), attributes))
        elif change["op"] == "add-member":
            members.setdefault(("add", change["group"]), []).append(make(load.target, change["uid"]))
        elif change["op"] == "remove-member":
            members.setdefault(("delete", change["group"]), []).append(make(load.source, source_uid))
        elif change["op"] == "merge-out":
            deletes.append(make(load.source, source_uid))
    add_file, in_file, out_file, delete_file = (
        tmp / name for name in ("add.ldif", "in.ldif", "out.ldif", "del")
    )
    add_file.write_text(to_ldif(adds), encoding="utf-8")
    for path, how, org in ((in_file, "add", load.target), (out_file, "delete", load.source)):
        blocks = [
            f"dn: {dn.group_dn(org, group)}\nchangetype: modify\n{how}: member\n"
            + "".join(f"member: {value}\n" for value in values)
            + "-\n"
            for (kind, group), values in sorted(members.items())
            if kind == how
        ]
        path.write_text("\n".join(blocks), encoding="utf-8")
    delete_file.write_text("\n".join(deletes) + "\n", encoding="utf-8")
    return add_file, in_file, out_file, delete_file


def tool(server: LocalDirectory, org, program: str, *args: str) -> float:
    secret = server.workdir / f"{org.code}.bench-password"
    secret.touch(mode=0o600)
    secret.write_text(server.bind_password(org))  # the tools read the whole file: no newline
    started = time.perf_counter()
    command = [program, "-x", "-H", server.uri, "-D", server.bind_dn(org), "-y", str(secret), *args]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def restore(load: mergeload.MergeLoad, pristine: Path, state: Path) -> None:
    (server,) = load.servers
    server.stop()
    for code in server.base_dns:
        shutil.rmtree(server.workdir / "data" / code)
        copy_tree(pristine / code, server.workdir / "data" / code)
    load.servers = [LocalDirectory.start(server.workdir, [load.source, load.target])]
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--collisions", type=float, default=0.03)
    parser.add_argument("--nosync", action="store_true", help="server writes without fsync (olcDbNoSync)")
    parser.add_argument("--plan-only", action="store_true", help="stop after timing the plan (three runs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hopthu-bench-merge-") as workdir:
        tmp = Path(workdir)
        started = time.perf_counter()
        load = mergeload.build(tmp, args.accounts, collision_rate=args.collisions, nosync=args.nosync)
        mode = "olcDbNoSync: TRUE" if args.nosync else "fsync (default)"
        print(f"{args.accounts} accounts, {len(load.taken)} usernames taken in {load.target.code}, "
              f"server writes: {mode}; loaded in {time.perf_counter() - started:.1f} s")  # fmt: skip
        try:
            took = mergeload.assign(load)
            print(f"hopthu assign --directory: {len(load.renames)} renames written in {took:.2f} s")
            (server,) = load.servers
            server.stop()
            pristine = tmp / "pristine"
            pristine.mkdir()
            for code in server.base_dns:
                copy_tree(server.workdir / "data" / code, pristine / code)
            load.servers = [LocalDirectory.start(server.workdir, [load.source, load.target])]
            state = tmp / "state"
            state.mkdir()

            plan_time, _ = timed(load.plan_command(state), load.repo)
            print(f"hopthu plan (the whole command, as the plan-readers): {plan_time:.2f} s (target < 10 s), "
                  f"{timed.cpu:.2f} s of CPU; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
            if args.plan_only:
                for _ in range(2):
                    again, _ = timed(load.plan_command(state), load.repo)
                    print(f"hopthu plan again: {again:.2f} s, {timed.cpu:.2f} s of CPU; load average "
                          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
                return
            _, text = timed([*load.plan_command(state), "--json"], load.repo)
            plan = json.loads(text)
            moved = sum(change["op"] == "merge-in" for change in plan["requests"][0]["changes"])

            files = baseline_files(load, plan, tmp)
            restore(load, pristine, state)
            (server,) = load.servers
            add = tool(server, load.target, "ldapadd", "-f", str(files[0]))
            modify = tool(server, load.target, "ldapmodify", "-f", str(files[1]))
            modify += tool(server, load.source, "ldapmodify", "-f", str(files[2]))
            delete = tool(server, load.source, "ldapdelete", "-f", str(files[3]))
            base = add + modify + delete
            print(f"baseline: ldapadd {add:.1f} s + ldapmodify (groups) {modify:.1f} s + ldapdelete "
                  f"{delete:.1f} s = {base:.1f} s: {moved / base:,.0f} entries/s "
                  f"(ldapadd + ldapdelete alone: {moved / (add + delete):,.0f}/s)")  # fmt: skip

            restore(load, pristine, state)
            apply_time, _ = timed(load.apply_command(state), load.repo)
            ratio = (moved / apply_time) / (moved / base)
            apply_cpu = timed.cpu
            print(f"hopthu apply (the whole command): {apply_time:.1f} s ({apply_cpu:.1f} s of CPU): "
                  f"{moved / apply_time:,.0f} "
                  f"entries/s, {ratio:.2f} x the baseline (target >= 0.5)")  # fmt: skip
            again, _ = timed(load.apply_command(state), load.repo)
            print(f"no-op re-apply: {again:.2f} s ({100 * again / apply_time:.0f} % of the apply)")
        finally:
            for server in load.servers:
                server.stop()


if __name__ == "__main__":
    main()
