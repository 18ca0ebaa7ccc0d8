"""A small organisation for tests that need one without the example inventory: Bình Thuận with two units on
sub-domains and one application group. Each test overrides what it is about."""

from __future__ import annotations

from hopthu.model import AppGroup, Organisation, Unit

BDT = Unit("bdt", "Ban Dân tộc", "bdt@binhthuan.gov.vn", (), "bdt.binhthuan.gov.vn")
SNV = Unit("snv", "Sở Nội vụ", "snv@binhthuan.gov.vn", (), "snv.binhthuan.gov.vn")


def organisation(**overrides) -> Organisation:
    values = dict(
        code="bt",
        name="Bình Thuận",
        parent="UBND TỈNH BÌNH THUẬN",
        mail_domain="binhthuan.gov.vn",
        base_dn="dc=binhthuan,dc=gov,dc=vn",
        naming_rule=("{given}{s}{m}",),
        reserved=frozenset(),
        retention_days=90,
        sla_working_days=2,
        units={"bdt": BDT, "snv": SNV},
        app_groups={"qlvb": AppGroup("qlvb", "Quản lý văn bản")},
    )
    values.update(overrides)
    return Organisation(**values)
