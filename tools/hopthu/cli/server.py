"""``hopthu server``: a throw-away local OpenLDAP server for the demo and for trying hopthu out."""

from __future__ import annotations

import json
from pathlib import Path

import click

DIR_OPTION = click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory of the server: its configuration, data, secrets, directory.json (rootdn) and "
    "plan-directory.json (the read-only plan-reader identities).",
)


@click.group(short_help="A local OpenLDAP (and mail) server for the demo.")
def server() -> None:
    """Run a local slapd (one database per organisation of the inventory) on 127.0.0.1."""


@server.command()
@DIR_OPTION
@click.option(
    "--port", type=click.IntRange(1, 65535), help="TCP port (default: the last one used, or any free one)."
)
@click.option("--fresh", is_flag=True, help="Delete the data of an earlier run first.")
@click.option(
    "--providers",
    type=click.IntRange(1, 9),
    default=1,
    show_default=True,
    help="How many slapd providers replicating each other (multi-provider syncrepl), on consecutive "
    "ports from --port; DIR/directory.json lists them all.",
)
@click.option(
    "--mail",
    is_flag=True,
    help="Also start a private Dovecot (IMAP, LMTP) and Postfix (SMTP) reading this directory as the "
    "read-only mail-lookup identities, in DIR/mail (needs root, as Postfix does).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the connection information as JSON.")
@click.pass_context
def start(
    ctx: click.Context,
    workdir: Path,
    port: int | None,
    fresh: bool,
    providers: int,
    mail: bool,
    as_json: bool,
):
    """Start the server (or several providers), or reuse what already runs in DIR."""
    from hopthu.cli.common import file_problem, load_inventory_or_fail
    from hopthu.directory import DirectoryError
    from hopthu.directory.replicas import LocalProviders
    from hopthu.directory.server import LocalDirectory
    from hopthu.mail import MailError

    inventory = load_inventory_or_fail(ctx.obj["inventory"])
    try:
        if providers > 1:
            directory = LocalProviders.start(workdir, inventory.organisations, providers, port, fresh=fresh)
        else:
            directory = LocalDirectory.start(workdir, inventory.organisations, port, fresh=fresh)
        mail_info = _start_mail(workdir, directory, inventory, fresh) if mail else None
    except (DirectoryError, MailError) as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(file_problem(error)) from None
    _show(directory, as_json, mail_info)


def _start_mail(workdir: Path, directory, inventory, fresh: bool) -> dict:
    import shutil

    from hopthu.mail.server import LocalMail, orgs_for_directory

    mail_dir = workdir.resolve() / "mail"
    if fresh and mail_dir.exists():
        from hopthu.mail.server import stop_workdir

        stop_workdir(mail_dir)
        shutil.rmtree(mail_dir)
    mail_dir.mkdir(mode=0o711, parents=True, exist_ok=True)
    orgs = orgs_for_directory(directory, inventory.organisations.values())
    uris = getattr(directory, "uris", None) or [directory.uri]  # every provider: Dovecot, Postfix try each
    LocalMail.start(mail_dir, orgs, ldap_uri=uris)
    return json.loads((mail_dir / "mail.json").read_text())


@server.command()
@DIR_OPTION
def stop(workdir: Path) -> None:
    """Stop the server running in DIR (its data stays)."""
    directory = _find(workdir)
    if directory is None or not _running(directory):
        click.echo(f"no server runs in {workdir}")
        return
    directory.stop()
    click.echo(f"stopped the server in {workdir}")
    mail_dir = workdir.resolve() / "mail"
    if (mail_dir / "mail.json").exists():
        from hopthu.mail.server import stop_workdir

        stop_workdir(mail_dir)
        click.echo(f"stopped the mail servers in {mail_dir}")


@server.command()
@DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the connection information as JSON.")
def status(workdir: Path, as_json: bool) -> None:
    """Say whether the server in DIR runs and how to reach it; exit code 1 when it does not run."""
    from hopthu.directory import DirectoryError
    from hopthu.directory.server import LocalDirectory

    directory = _find(workdir)
    if directory is not None and hasattr(directory, "providers"):
        if not _running(directory):
            raise click.ClickException(
                f"a provider of the local directory in {workdir} is stopped: `hopthu server start --dir "
                f"{workdir} --providers {len(directory.providers)}`"
            )
        _show(directory, as_json)
        return
    try:
        directory = LocalDirectory.attach(workdir)
    except DirectoryError as error:
        raise click.ClickException(str(error)) from None
    _show(directory, as_json)


def _find(workdir: Path):
    """The providers or the single server set up in ``workdir``, or None."""
    from hopthu.directory.replicas import LocalProviders
    from hopthu.directory.server import LocalDirectory

    return LocalProviders.find(workdir) or LocalDirectory.find(workdir.resolve())


def _running(directory) -> bool:
    providers = getattr(directory, "providers", [directory])
    return any(provider.pid is not None for provider in providers)


def _show(directory, as_json: bool, mail_info: dict | None = None) -> None:
    from hopthu.directory.server import PLAN_INFO_FILE

    info = directory.connection_info()
    if mail_info:
        info["mail"] = mail_info
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    if mail_info:
        click.echo(
            f"mail: SMTP {mail_info['host']}:{mail_info['smtp_port']}, IMAP {mail_info['host']}:"
            f"{mail_info['imap_port']} (log in with the full address)"
        )
    if "providers" in info:
        click.echo(f"{len(info['providers'])} slapd providers replicating each other in {directory.workdir}:")
        for provider in info["providers"]:
            click.echo(f"  provider {provider['server_id']} (pid {provider['pid']}): {provider['uri']}")
    else:
        click.echo(f"slapd runs in {directory.workdir} (pid {info['pid']}): {info['uri']}")
    for code, org in info["organisations"].items():
        click.echo(f"  {code}: base {org['base_dn']}")
        click.echo(f"      bind DN {org['bind_dn']}, password in {org['password_file']}")
        for name, service in org["services"].items():
            click.echo(
                f"      {name} (read only) {service['bind_dn']}, password in {service['password_file']}"
            )
    click.echo(f"plan as the plan-reader identities: --directory {directory.workdir / PLAN_INFO_FILE}")
    first = next(iter(info["organisations"].values()))
    uri = info.get("uri") or info["uris"][0]
    click.echo(
        f"try: ldapsearch -x -H {uri} -D '{first['bind_dn']}' -y {first['password_file']} "
        f"-b '{first['base_dn']}'"
    )
