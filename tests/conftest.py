"""Shared fixtures: a real slapd for every test that needs one.

- ``slapd_server`` (session): one ``LocalDirectory`` serving ``TEST_ORGS``, started once (~0.1 s) in a
  temp dir on a free 127.0.0.1 port, without fsync, and stopped at the end of the session.
- ``directory`` (function): the same server with every account and group membership wiped before the
  test (``LocalDirectory.wipe``: a few ms). Use it in tests that create accounts.
- ``org`` / ``other_org``: the two ``Organisation`` objects the session server serves.
- ``start_directory`` (function): ``start_directory(orgs)`` starts a private server for other
  organisations (e.g. the example inventory's); stopped after the test.
- ``start_providers`` (function): ``start_providers(orgs)`` starts two (or ``count``) local providers
  replicating each other (``LocalProviders``); stopped after the test.

The whole session has an outbox key (``$HOPTHU_OUTBOX_KEY``, made for it unless set): one-time passwords
are only ever kept encrypted, and the commands the tests run inherit it.

Connect with ``server.connect(org)`` (bound as the organisation's rootdn); the secret comes from
``server.bind_password(org)``. Tests using these fixtures are marked ``slapd`` automatically.
The session server is shared: a test that changes the password policy or the configuration must put
it back.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from hopthu.model import AppGroup, Organisation, Unit

pytest_plugins = ["mailfixtures", "smtpfixtures"]  # real Dovecot + Postfix; a real SMTP server (aiosmtpd)

SLAPD_FIXTURES = frozenset({"slapd_server", "directory", "start_directory", "start_providers"})


def pytest_configure(config: pytest.Config) -> None:
    from hopthu.passwords import KEY_ENV, new_outbox_key

    os.environ.setdefault(KEY_ENV, new_outbox_key())


def make_org(code: str, base_dn: str, groups: Iterable[str] = ("qlvb", "motcua")) -> Organisation:
    """A small organisation for directory tests."""
    return Organisation(
        code=code,
        name=f"Tổ chức thử nghiệm {code}",
        parent="UBND TỈNH THỬ NGHIỆM",
        mail_domain=f"{code}.gov.vn",
        base_dn=base_dn,
        naming_rule=("{given}{s}{m}",),
        reserved=frozenset(),
        retention_days=90,
        sla_working_days=2,
        units={"snv": Unit("snv", "Sở Nội vụ", f"snv@{code}.gov.vn", ())},
        app_groups={group: AppGroup(group, f"Ứng dụng {group}") for group in groups},
    )


TEST_ORGS = {
    "demo": make_org("demo", "dc=demo,dc=gov,dc=vn"),
    "other": make_org("other", "dc=other,dc=gov,dc=vn", groups=("qlvb",)),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLAPD_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slapd)


@pytest.fixture(scope="session")
def slapd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from hopthu.directory.server import LocalDirectory

    server = LocalDirectory.start(tmp_path_factory.mktemp("slapd"), TEST_ORGS.values())
    server.set_nosync(True)  # no fsync per write: tests need no durability, and wipes get faster
    yield server
    server.stop()


@pytest.fixture
def directory(slapd_server):
    slapd_server.wipe()
    return slapd_server


@pytest.fixture
def org() -> Organisation:
    return TEST_ORGS["demo"]


@pytest.fixture
def other_org() -> Organisation:
    return TEST_ORGS["other"]


@pytest.fixture
def start_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable]:
    from hopthu.directory.server import LocalDirectory

    started: list[LocalDirectory] = []

    def start(
        organisations: Iterable[Organisation], workdir: Path | None = None, **options
    ) -> LocalDirectory:
        server = LocalDirectory.start(workdir or tmp_path_factory.mktemp("slapd"), organisations, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def start_providers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable]:
    from hopthu.directory.replicas import LocalProviders

    started: list[LocalProviders] = []

    def start(
        organisations: Iterable[Organisation], workdir: Path | None = None, count: int = 2, **options
    ) -> LocalProviders:
        providers = LocalProviders.start(
            workdir or tmp_path_factory.mktemp("providers"), organisations, count, **options
        )
        started.append(providers)
        return providers

    yield start
    for providers in started:
        providers.stop()


def run_upgrade_ldif(server, name: str) -> None:
    """Upgrade a running local slapd with a shipped upgrade LDIF (tools/hopthu/directory/ldif/NAME) the
    way its header tells an operator to: the two commands given there, with this server's ldapi socket."""
    from hopthu.directory import ldif

    upgrade = Path(ldif.__file__).parent / name
    commands = [
        line.removeprefix("#").strip().replace("ldapi:///", server.ldapi_uri)
        for line in upgrade.read_text(encoding="utf-8").splitlines()
        if line.startswith(("#   dn=", "#   sed"))
    ]
    assert len(commands) == 2
    done = subprocess.run(
        ["bash", "-c", " && ".join(commands)], cwd=upgrade.parent, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
