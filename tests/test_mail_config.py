"""Mail server configuration from the inventory: what is refused, and how secrets are written.

What the rendered files make the servers do is tested against the real servers in test_mail.py.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

import builders
from hopthu.mail import MailError
from hopthu.mail.config import MailOrg, MailSetup, dovecot_files, postfix_files, write_files
from hopthu.model import Organisation, Unit


def organisation(**overrides) -> Organisation:
    values = dict(
        units={
            "bdt": Unit("bdt", "Ban Dân tộc", "vp@bdt.binhthuan.gov.vn", (), "BDT.binhthuan.gov.vn"),
            "snv": Unit("snv", "Sở Nội vụ", "vp@binhthuan.gov.vn", ()),
        },
        app_groups={},
        mailbox_quota_mb=512,
        locked_mail="reject",
    )
    return builders.organisation(**(values | overrides))


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "bt.password"
    path.write_text("s3cret-bind\n")
    return path


def setup_for(tmp_path: Path, *orgs: MailOrg) -> MailSetup:
    return MailSetup(
        ldap_uri="ldap://127.0.0.1:389",
        orgs=orgs,
        mail_root=tmp_path / "mail",
        mail_user="vmail",
        mail_group="vmail",
        dovecot_dir=tmp_path / "dovecot",
        postfix_dir=tmp_path / "postfix",
    )


def test_an_organisation_s_mail_view_has_every_domain_its_units_use(password_file):
    org = MailOrg.from_organisation(
        organisation(), bind_dn="cn=admin,dc=binhthuan,dc=gov,dc=vn", bind_password_file=password_file
    )
    assert org.domains == ("bdt.binhthuan.gov.vn", "binhthuan.gov.vn")
    assert org.default_quota_bytes == 512 * 1024 * 1024
    assert org.locked_mail == "reject"


def bt(password_file: Path, **changes) -> MailOrg:
    org = MailOrg.from_organisation(
        organisation(), bind_dn="cn=admin,dc=binhthuan,dc=gov,dc=vn", bind_password_file=password_file
    )
    return dataclasses.replace(org, **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"locked_mail": "bounce"}, "locked_mail is 'bounce'; use accept or reject"),
        ({"domains": ("binhthuan.gov.vn\nrelayhost = evil",)}, "mail domain"),
        ({"base_dn": "dc=binhthuan,dc=gov,dc=vn\nuris = ldap://evil"}, "base_dn"),
        ({"bind_dn": 'cn="admin"'}, "bind DN"),
        ({"domains": ()}, "no mail domain"),
    ],
)
def test_settings_that_could_break_out_of_their_line_are_refused(tmp_path, password_file, changes, message):
    with pytest.raises(MailError, match=message):
        dovecot_files(setup_for(tmp_path, bt(password_file, **changes)))


def test_a_domain_claimed_by_two_organisations_is_refused(tmp_path, password_file):
    other = bt(password_file, code="gl", base_dn="dc=gialai,dc=gov,dc=vn", domains=("binhthuan.gov.vn",))
    with pytest.raises(MailError, match=r"binhthuan\.gov\.vn is in two organisations: bt, gl"):
        postfix_files(setup_for(tmp_path, bt(password_file), other))


def test_an_unreadable_password_file_is_named_without_a_traceback(tmp_path):
    missing = tmp_path / "nowhere.password"
    with pytest.raises(MailError, match=f"cannot read the bind password file {missing}: No such file"):
        postfix_files(setup_for(tmp_path, bt(missing)))


@pytest.mark.parametrize("content", ["two\nlines\n", " padded", "", "tab\there"])
def test_a_bind_password_that_does_not_fit_on_one_line_is_refused(tmp_path, content):
    path = tmp_path / "odd.password"
    path.write_text(content)
    with pytest.raises(MailError, match="must be one line") as refused:
        dovecot_files(setup_for(tmp_path, bt(path)))
    assert content.strip() not in str(refused.value) or not content.strip()


def test_files_holding_the_bind_password_are_never_readable_by_others(tmp_path, password_file):
    setup = setup_for(tmp_path, bt(password_file))
    files = dovecot_files(setup) + postfix_files(setup)
    holding = {f.path.name for f in files if "s3cret-bind" in f.text}
    assert holding == {f.path.name for f in files if f.secret}
    assert holding == {
        "dovecot-ldap-bt.conf.ext",
        "dovecot-ldap-bt-first-login.conf.ext",
        "ldap-bt-mailboxes.cf",
        "ldap-bt-aliases.cf",
    }

    write_files(tmp_path / "private", files)
    write_files(tmp_path / "shared", files, secret_group=os.getgid())
    for name in holding:
        assert stat.S_IMODE((tmp_path / "private" / name).stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "shared" / name).stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "private" / "dovecot.conf").stat().st_mode) == 0o644


@pytest.mark.mail
def test_a_server_configuration_with_tls_is_accepted_by_dovecot_and_postfix(tmp_path, password_file):
    for program in ("doveconf", "postconf", "openssl"):
        if not (shutil.which(program) or shutil.which(program, path="/usr/sbin")):
            pytest.skip(f"{program} is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_cert = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=t"]
    subprocess.run([*make_cert, "-keyout", str(key), "-out", str(cert)], capture_output=True, check=True)
    setup = dataclasses.replace(
        setup_for(tmp_path, bt(password_file)),
        ldap_uri="ldaps://ldap.binhthuan.gov.vn",
        mail_user="dovecot",
        mail_group="dovecot",
        listen_address="0.0.0.0",
        hostname="mail.binhthuan.gov.vn",
        ssl_cert=cert,
        ssl_key=key,
    )
    write_files(setup.dovecot_dir, dovecot_files(setup))
    write_files(setup.postfix_dir, postfix_files(setup))

    dovecot = subprocess.run(
        ["doveconf", "-n", "-c", str(setup.dovecot_dir / "dovecot.conf")], capture_output=True, text=True
    )
    assert dovecot.returncode == 0, dovecot.stderr
    assert "ssl = required" in dovecot.stdout
    for option in ("-n", "-M"):  # main.cf, master.cf; unknown parameters would be warned about
        postfix = subprocess.run(
            ["postconf", "-c", str(setup.postfix_dir), option], capture_output=True, text=True
        )
        assert postfix.returncode == 0 and not postfix.stderr, postfix.stderr
