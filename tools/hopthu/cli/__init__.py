"""The ``hopthu`` command: one sub-command per pipeline stage.

Each sub-command lives in its own module of this package and is imported only when it runs, so that
``hopthu username`` in a shell loop does not pay for importing ldap3 or Jinja2.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import click

from hopthu import __version__

# sub-command name -> "module:attribute" inside hopthu.cli
COMMANDS = {
    "validate": "validate:validate",
    "assign": "assign:assign",
    "import": "annex:import_group",
    "roster": "roster:roster",
    "username": "username:username",
    "plan": "apply:plan",
    "apply": "apply:apply",
    "status": "status:status",
    "audit": "audit:audit",
    "server": "server:server",
    "notify": "notify:notify",
    "notices": "notices:notices",
    "mailbox": "mailbox:mailbox",
    "drift": "drift:drift",
    "codeowners": "codeowners:codeowners",
    "password-page": "password_page:password_page",
    "directory": "directory:directory",
    "usage": "usage:usage",
    "report": "report:report",
    "state": "state:state",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(f"hopthu.cli.{module_name}")
        return getattr(module, attr)


def default_inventory() -> Path:
    return Path(os.environ.get("HOPTHU_INVENTORY", "inventory"))


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="A request's way: validate → assign → plan → apply → notify; status, audit and drift at any "
    "time. `hopthu COMMAND --help` tells more.",
)
@click.version_option(__version__, prog_name="hopthu")
@click.option(
    "-i",
    "--inventory",
    type=click.Path(path_type=Path),
    default=default_inventory,
    show_default="inventory/ or $HOPTHU_INVENTORY",
    help="Inventory directory (organisations, units, naming rules) or a hosts file inside it.",
)
@click.pass_context
def main(ctx: click.Context, inventory: Path) -> None:
    """hopthu: run e-mail and LDAP account procedures (thủ tục cấp, đổi, khóa, xóa hộp thư) as code."""
    ctx.obj = {"inventory": inventory}
