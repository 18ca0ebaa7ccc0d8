"""``hopthu username``: print the address the naming rule gives for each name."""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterator

import click

from hopthu.naming import (
    AGENCY_DEFAULT_RULE,
    DEFAULT_RULE,
    NamingError,
    compile_rule,
    iter_agency_names,
    iter_generate,
    parse_name,
)


def _is_blank(line: str) -> bool:
    """No visible character: only white space and format characters (zero-width space, BOM…)."""
    return all(c.isspace() or unicodedata.category(c) == "Cf" for c in line)


def _stdin_lines() -> Iterator[str]:
    for number, raw in enumerate(sys.stdin.buffer, 1):
        try:
            yield raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as error:
            raise click.ClickException(
                f"stdin line {number} is not UTF-8 ({error.reason}); convert the file to UTF-8 first, "
                "e.g. iconv -f CP1258 -t UTF-8"
            ) from None


def _taken(options: tuple[str, ...], agency: bool) -> tuple[frozenset[str], dict[str, str]]:
    """``--taken NAME`` and ``--taken NAME=FULL NAME`` → (taken addresses, address → holder's full name)."""
    taken: set[str] = set()
    holders: dict[str, str] = {}
    for option in options:
        address, equals, holder = option.partition("=")
        address, holder = address.strip().lower(), holder.strip()
        taken.add(address)
        if not equals:
            continue  # the holder is unknown: no condition on it can be proven
        if agency:
            raise click.BadParameter(
                f"{option!r}: a holder's name is for person names; with --agency give --taken NAME",
                param_hint="--taken",
            )
        try:
            parse_name(holder)
        except NamingError as error:
            raise click.BadParameter(
                f"{option!r}: {error}; write --taken NAME=FULL NAME (or NAME alone: holder unknown)",
                param_hint="--taken",
            ) from None
        if holders.get(address, holder) != holder:
            raise click.BadParameter(
                f"{address} is given two holders ({holders[address]!r} and {holder!r}): give one",
                param_hint="--taken",
            )
        holders[address] = holder
    return frozenset(taken), holders


@click.command("username", short_help="Print the username the naming rule gives for each full name.")
@click.option(
    "--pattern",
    "patterns",
    multiple=True,
    metavar="P",
    help="A candidate pattern, in order (repeat the option). Default: the Gia Lai rule "
    f"{', '.join(DEFAULT_RULE)}; with --agency {', '.join(AGENCY_DEFAULT_RULE)}.",
)
@click.option(
    "--taken",
    "taken",
    multiple=True,
    metavar="NAME[=FULL NAME]",
    help="An address already in use (repeatable), optionally with the full name of its holder: conditions "
    "such as 'unless same-full-name' compare with it. Without one the holder is unknown, and an unknown "
    "holder never meets a condition.",
)
@click.option(
    "--born",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="Birth date, for {born:FMT} patterns (applies to every name).",
)
@click.option("--unit", metavar="CODE", help="Unit code, for {unit} patterns (applies to every name).")
@click.option("--agency", is_flag=True, help="The names are unit names: suggest unit-mailbox addresses.")
@click.argument("names", nargs=-1, metavar="[FULL_NAME]...")
def username(
    patterns: tuple[str, ...],
    taken: tuple[str, ...],
    born: object,
    unit: str | None,
    agency: bool,
    names: tuple[str, ...],
) -> None:
    """Print the username the naming rule gives for each FULL_NAME, one line per name, in order.

    Without FULL_NAME arguments, read one name per line from stdin (UTF-8). A blank line is skipped and
    answered with a blank line, so that output line N always belongs to input line N. Each later name
    treats the addresses printed for earlier ones as taken. When any name cannot be handled nothing is
    printed: every problem is reported and the exit status is 1.

    \b
    Examples (the default rule is Gia Lai's):
      hopthu username --taken minhtht "Trần Huỳnh Tấn Minh"       → tanminhth
      hopthu username --taken "minhtht=Trần Huỳnh Tấn Minh" "Trương Hoàng Tiến Minh"
                                                                 → tienminhth
      hopthu username --taken "minhtht=Trần Huỳnh Tấn Minh" --born 1963-08-15 "Trương Hoàng Tấn Minh"
                                        → minhtht15081963 (the same middle name next to the given name)
      hopthu username --agency --pattern 'vhtt{place}' "Phòng Văn hóa và Thông tin huyện Đăk Đoa"
    """
    if agency and (born or unit):
        raise click.UsageError("--born and --unit apply to person names, not with --agency")
    try:
        rule = compile_rule(patterns or (AGENCY_DEFAULT_RULE if agency else DEFAULT_RULE), agency=agency)
    except NamingError as error:
        raise click.BadParameter(str(error), param_hint="--pattern") from None

    if not names and sys.stdin.isatty():
        click.echo("reading full names from the terminal, one a line; end with Ctrl-D", err=True)
    where = "argument" if names else "stdin line"
    lines = list(names) if names else list(_stdin_lines())
    wanted = [(number, line) for number, line in enumerate(lines, 1) if not _is_blank(line)]
    in_use, holders = _taken(taken, agency)
    if agency:
        results = iter_agency_names((line for _, line in wanted), rule, in_use)
    else:
        birth = born.date() if born else None  # type: ignore[attr-defined]
        people = ((line, birth) for _, line in wanted)
        results = iter_generate(people, rule, in_use, unit=unit, holders=holders)

    answers: dict[int, str] = {}
    problems: list[str] = []
    for (number, _), result in zip(wanted, results, strict=True):
        if isinstance(result, NamingError):
            problems.append(f"{where} {number}: {result}")
        else:
            answers[number] = result
    if len(problems) == 1:
        raise click.ClickException(problems[0])
    if problems:
        raise click.ClickException(f"{len(problems)} names cannot be handled:\n  " + "\n  ".join(problems))
    for number in range(1, len(lines) + 1):
        click.echo(answers.get(number, ""))
