"""``hopthu username``: the command line over the naming engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from hopthu.cli import main


def run(*args: str, stdin: str | bytes | None = None):  # -> click.testing.Result
    return CliRunner().invoke(main, ["username", *args], input=stdin)


def test_names_as_arguments_one_line_each_later_names_see_earlier_outputs() -> None:
    result = run("Nguyễn Văn Minh", "Võ Thị Thu An", "Nguyễn Vũ Minh")
    assert result.exit_code == 0, result.output
    assert result.stdout == "minhnv\nanvtt\nvuminhn\n"


def test_taken_option() -> None:
    result = run("--taken", "minhtht", "Trần Huỳnh Tấn Minh")
    assert (result.exit_code, result.stdout) == (0, "tanminhth\n")
    result = run("--taken", "MINHTHT", "--taken", "tanminhth", "--born", "1973-02-11", "Trần Huỳnh Tấn Minh")
    assert (result.exit_code, result.stdout) == (0, "minhtht11021973\n")


def test_taken_with_the_holders_full_name_the_gia_lai_examples() -> None:
    same_name = run(
        "--taken", "minhtht=Trương Hoàng Tiến Minh", "--born", "1963-08-15", "Trương Hoàng Tiến Minh"
    )
    assert (same_name.exit_code, same_name.stdout) == (0, "minhtht15081963\n")
    same_adjacent = run(
        "--taken", "minhtht = Trần Huỳnh Tấn Minh", "--born", "1963-08-15", "Trương Hoàng Tấn Minh"
    )
    assert (same_adjacent.exit_code, same_adjacent.stdout) == (0, "minhtht15081963\n")
    different = run("--taken", "MINHTHT=Trần Huỳnh Tấn Minh", "Trương Hoàng Tiến Minh")
    assert (different.exit_code, different.stdout) == (0, "tienminhth\n")


def test_same_full_name_twice_needs_a_birth_date() -> None:
    result = run("Trương Hoàng Tiến Minh", "Trương Hoàng Tiến Minh")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "argument 2: " in result.stderr
    assert "minhtht is held by 'Trương Hoàng Tiến Minh', who has the same full name" in result.stderr
    assert "a birth date is needed" in result.stderr
    born = run("--born", "1963-08-15", "Trương Hoàng Tiến Minh", "Trương Hoàng Tiến Minh")
    assert (born.exit_code, born.stdout) == (0, "minhtht\nminhtht15081963\n")


def test_a_pattern_with_a_condition_and_an_unpadded_date() -> None:
    rule = ["--pattern", "{given}{s}{m}", "--pattern", "{adjacent}{given}{rest} unless same-adjacent"]
    rule += ["--pattern", "{given}{s}{m}{born:%-d%-m%Y}"]
    result = run(
        *rule, "--taken", "minhtht=Trần Huỳnh Tấn Minh", "--born", "1963-08-15", "Trương Hoàng Tấn Minh"
    )
    assert (result.exit_code, result.stdout) == (0, "minhtht1581963\n")
    result = run("--pattern", "{given}{s}{m}", "--pattern", "{adjacent}{given} unless same-name", "Lê Văn An")
    assert result.exit_code == 2
    assert "unknown condition 'same-name' after 'unless'" in result.stderr


def test_a_holder_name_that_cannot_be_handled_is_a_usage_error() -> None:
    result = run("--taken", "minhtht=Trần Văn 2", "Trương Hoàng Tiến Minh")
    assert result.exit_code == 2
    assert "'minhtht=Trần Văn 2': cannot handle the name 'Trần Văn 2'" in result.stderr
    twice = run(
        "--taken", "minhtht=Trần Văn Minh", "--taken", "minhtht=Lê Văn Minh", "Trương Hoàng Tiến Minh"
    )
    assert twice.exit_code == 2 and "minhtht is given two holders" in twice.stderr
    agency = run("--agency", "--taken", "snv=Nguyễn Văn Minh", "Sở Nội vụ")
    assert agency.exit_code == 2 and "with --agency give --taken NAME" in agency.stderr


def test_patterns_in_order_and_unit() -> None:
    patterns = ["--pattern", "{s}{m}{given}.{unit}", "--pattern", "{s}{m}{given}.{unit}{n:2}"]
    result = run(*patterns, "--unit", "CTGL", "Nguyễn Văn Minh", "Nguyễn Văn Minh")
    assert (result.exit_code, result.stdout) == (0, "nvminh.ctgl\nnvminh.ctgl2\n")


def test_stdin_one_name_per_line_blank_lines_answered_with_blank_lines() -> None:
    result = run(stdin="Nguyễn Văn Minh\n\n  \u200b \r\nNGUYỄN VŨ MINH\r\nK'Rẻm\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "minhnv\n\n\nvuminhn\nremk\n"


def test_bad_names_are_all_reported_with_their_line_and_nothing_is_printed() -> None:
    result = run(stdin="Nguyễn Văn Minh\nNguyễn Văn 2\nMinh\n")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "2 names cannot be handled" in result.stderr
    assert "stdin line 2: cannot handle the name 'Nguyễn Văn 2': it contains the digit '2'" in result.stderr
    assert "stdin line 3: cannot make an address from 'Minh'" in result.stderr
    assert "Traceback" not in result.output


def test_every_candidate_taken_is_exit_1_naming_the_argument() -> None:
    result = run("--taken", "minhnv", "--taken", "vanminhn", "Nguyễn Văn Minh")
    assert result.exit_code == 1
    assert (
        "argument 1: every candidate address for 'Nguyễn Văn Minh' is taken: minhnv, vanminhn"
        in result.stderr
    )


def test_stdin_that_is_not_utf8() -> None:
    result = run(stdin="Nguyễn Văn Minh\n".encode("utf-16"))
    assert result.exit_code == 1
    assert "stdin line 1 is not UTF-8" in result.stderr


def test_bad_birth_date_is_a_usage_error() -> None:
    result = run("--born", "11/02/1973", "Trần Huỳnh Tấn Minh")
    assert result.exit_code == 2
    assert "Invalid value for '--born'" in result.stderr


def test_bad_pattern_is_a_usage_error_naming_the_placeholder() -> None:
    result = run("--pattern", "{given}{x}", "Nguyễn Văn Minh")
    assert result.exit_code == 2
    assert "unknown placeholder {x}" in result.stderr


def test_agency_mode() -> None:
    result = run("--agency", "Sở Giao thông Vận tải", "Sở Nội vụ")
    assert (result.exit_code, result.stdout) == (0, "sgtvt\nsnv\n")
    result = run("--agency", "--pattern", "vhtt{place}", "Phòng Văn hóa và Thông tin huyện Đăk Đoa")
    assert (result.exit_code, result.stdout) == (0, "vhttdakdoa\n")
    result = run(
        "--agency", "--pattern", "{initials}", "--pattern", "{initials}{n:2}", stdin="Sở Nội vụ\nSở Nội vụ\n"
    )
    assert (result.exit_code, result.stdout) == (0, "snv\nsnv2\n")


def test_agency_mode_rejects_person_options_and_person_patterns() -> None:
    assert run("--agency", "--born", "1973-02-11", "Sở Nội vụ").exit_code == 2
    result = run("--agency", "--pattern", "{given}", "Sở Nội vụ")
    assert result.exit_code == 2
    assert "unit-mailbox rule" in result.stderr


def test_real_command_reads_stdin() -> None:
    hopthu = Path(sys.executable).with_name("hopthu")
    done = subprocess.run(
        [str(hopthu), "username", "--taken", "minhtht"],
        input="Trần Huỳnh Tấn Minh\nTrương Hoàng Tiến Minh\n\nVõ Thị Thu An\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "tanminhth\ntienminhth\n\nanvtt\n"
