"""`hopthu directory`: the published staff mailbox list (danh bạ), with backup addresses, from a real
directory; it reads back with the import's own annex reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hopthu.cli import main
from hopthu.forms.annex import find_header, read_annex, text
from hopthu.forms.files import identify
from hopthu.forms.importer import grids_of
from hopthu.inventory import load_inventory
from workspace import copy_of_repo

PEOPLE = [  # uid, name, unit, position, backup, locked
    ("minhnv", "Nguyễn Văn Minh", "bdt", "Chuyên viên", "minh.nguyen@gmail.com", False),
    ("anvtt", "Võ Thị Thu An", "bdt", "Phó Trưởng phòng", None, False),
    ("thodn", "Đàng Năng Thọ", "bdt", "Lái xe", None, True),  # locked: not published
    ("hungnv", "Nguyễn Văn Hùng", "snv", "Chánh Văn phòng", "hung@yahoo.com", False),
]


@pytest.fixture
def server(tmp_path, monkeypatch, start_directory):
    root = copy_of_repo(tmp_path / "repo", "inventory")
    monkeypatch.chdir(root)
    inventory = load_inventory(root / "inventory")
    org = inventory.organisations["binhthuan"]
    server = start_directory(inventory.organisations.values())
    conn = server.connect(org)
    for uid, name, unit, position, backup, locked in PEOPLE:
        attrs = {
            "objectClass": ["inetOrgPerson", "hopthuAccount"],
            "cn": name,
            "sn": name.split()[0],
            "departmentNumber": unit,
            "title": position,
            "mail": f"{uid}@{unit}.binhthuan.gov.vn",
        }
        if backup:
            attrs["hopthuBackupMail"] = backup
        if locked:
            attrs |= {"pwdAccountLockedTime": "000001010000Z", "hopthuLockedTime": "20250101000000Z"}
        assert conn.add(f"uid={uid},ou=people,{org.base_dn}", attributes=attrs), conn.result
    conn.unbind()
    return server


@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_the_published_list_groups_by_unit_shows_backup_addresses_and_reads_back(server, suffix):
    output = Path(f"danh-ba.{suffix}")
    directory = str(server.workdir / "directory.json")
    result = CliRunner().invoke(
        main, ["directory", "--org", "binhthuan", "-o", str(output), "--directory", directory]
    )
    assert result.exit_code == 0, result.output
    assert "3 account(s) listed" in result.stderr
    grid = next(grids_of(identify(output, output.name)))
    annex = read_annex(grid, find_header(grid))
    rows = [
        (
            r.group,
            *(
                text(r.get(f)) if r.get(f) else ""
                for f in ("username", "full_name", "position", "backup_email")
            ),
        )
        for r in annex.records
    ]
    bdt, snv = "Ban Dân tộc tỉnh Bình Thuận", "Sở Nội vụ tỉnh Bình Thuận"
    assert rows == [
        (bdt, "anvtt@bdt.binhthuan.gov.vn", "Võ Thị Thu An", "Phó Trưởng phòng", ""),
        (bdt, "minhnv@bdt.binhthuan.gov.vn", "Nguyễn Văn Minh", "Chuyên viên", "minh.nguyen@gmail.com"),
        (snv, "hungnv@snv.binhthuan.gov.vn", "Nguyễn Văn Hùng", "Chánh Văn phòng", "hung@yahoo.com"),
    ]
    assert annex.problems == []
