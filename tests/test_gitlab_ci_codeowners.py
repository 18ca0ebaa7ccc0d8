"""Units only touch their own folder: CODEOWNERS from the inventory, and the merge-request author check."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from hopthu.cli import main
from hopthu.cli.codeowners import (
    BEGIN,
    END,
    author_findings,
    author_folders,
    units_section,
    with_units_section,
)
from hopthu.inventory import load_inventory

ROOT = Path(__file__).resolve().parent.parent
INVENTORY = load_inventory(ROOT / "inventory")


def test_each_unit_folder_is_owned_by_its_requesters_in_an_optional_section():
    section = units_section(INVENTORY)
    assert section.startswith(BEGIN) and section.rstrip().endswith(END)
    assert "\n^[" in section  # optional: IT's approval is the one GitLab requires
    assert "/requests/ctu/cit/ ltnhan@ctu.edu.vn tmthai@ctu.edu.vn\n" in section
    assert "/requests/binhthuan/bdt/ letm@bdt.binhthuan.gov.vn\n" in section


def test_regenerating_keeps_the_departments_own_lines_and_replaces_only_the_block():
    handwritten = "[CNTT] @it/cntt\n*\n\n"
    first = with_units_section(handwritten, INVENTORY)
    assert first.startswith(handwritten)
    stale = first.replace("letm@bdt.binhthuan.gov.vn", "someone.else@example.com")
    assert with_units_section(stale, INVENTORY) == first
    assert with_units_section(first, INVENTORY) == first


def test_the_repository_codeowners_is_up_to_date_with_the_inventory():
    result = CliRunner().invoke(
        main,
        [
            "-i",
            str(ROOT / "inventory"),
            "codeowners",
            "generate",
            "--check",
            "-o",
            str(ROOT / ".gitlab/CODEOWNERS"),
        ],
    )
    assert result.exit_code == 0, result.output


def test_a_requester_may_change_their_units_folder_only():
    folders = author_folders(INVENTORY, "LeTM@bdt.binhthuan.gov.vn")
    assert folders == {"requests/binhthuan/bdt/"}
    own = "requests/binhthuan/bdt/2025/2025-04-02-bdt-cap-moi.yaml"
    other = "requests/binhthuan/snv/2025/2025-04-02-snv-cap-moi.yaml"
    findings = author_findings([own, other, ".gitlab-ci.yml"], folders, "letm")
    assert [(f.path, f.rule) for f in findings] == [
        (".gitlab-ci.yml", "author-not-requester"),
        (other, "author-not-requester"),
    ]
    assert "not a requester of unit binhthuan/snv" in findings[1].message
    assert "only IT staff may change .gitlab-ci.yml" in findings[0].message


def test_someone_who_is_nobodys_requester_may_change_nothing():
    assert author_folders(INVENTORY, "stranger@example.com") == set()
    assert author_folders(INVENTORY, None) == set()
    (finding,) = author_findings(["requests/ctu/cit/2025/x.yaml"], set(), "stranger")
    assert "(yours: none)" in finding.message
