"""A small filing world the filing tests share: two carriers, two enterprises, the registry between them, and
a filing made and taken through its steps in one call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from accounts.demo import demo_uscc
from accounts.models import Organization, User
from core.policy import OPERATOR
from filing import operations
from filing.models import Filing
from ipam.models import Prefix
from ipam.operations import add_prefix


@dataclass
class FilingWorld:
    db: Session
    carrier: Organization
    other_carrier: Organization
    enterprise: Organization
    other_enterprise: Organization
    carrier_user: User
    other_carrier_user: User
    enterprise_user: User
    other_enterprise_user: User
    regulator: User
    admin: User
    aggregate: Prefix  # 2001:db8::/32, held by the carrier
    site: Prefix  # 2001:db8:1::/48, assigned to the enterprise
    other_site: Prefix  # 2001:db8:2::/48, assigned to the other enterprise
    other_aggregate: Prefix  # 192.0.2.0/24, held by the other carrier (IPv4 is filed too)

    def values(self, kind: str, block: str, **values: Any) -> dict[str, Any]:
        """Complete values for a filing of ``kind``: each test changes only what it is about."""
        base: dict[str, Any] = {
            "filing_type": kind, "block": block, "allocated_on": date.today() - timedelta(days=3),
            "contact_name": "张工", "contact_phone": "022-5550100", "contact_email": "ip@example.cn",
        }  # fmt: skip
        if kind in ("allocation", "assignment"):
            user = values.pop("user", self.enterprise)
            base.update(user_name=user.name, user_uscc=user.uscc, user_nature="enterprise", user_industry="C",
                        user_division="120116", user_address="天津市滨海新区示例路 1 号", usage="industrial-network")  # fmt: skip
        elif kind == "holding":
            base.update(source_name=values.pop("source", "示例互联网地址注册中心"), usage="industrial-network")
        return {**base, **values}

    def draft(self, filer: Organization, kind: str, block: str, *, actor: Any = None, **values: Any) -> Filing:
        if kind == "holding":
            values.setdefault("user_name", filer.name)
        return operations.create_filing(self.db, self.values(kind, block, **values), filer=filer,
                                        actor=actor or self.user_of(filer))  # fmt: skip

    def user_of(self, organization: Organization) -> User:
        return {
            self.carrier.id: self.carrier_user, self.other_carrier.id: self.other_carrier_user,
            self.enterprise.id: self.enterprise_user, self.other_enterprise.id: self.other_enterprise_user,
        }[organization.id]  # fmt: skip

    def submitted(self, filer: Organization, kind: str, block: str, **values: Any) -> Filing:
        filing = self.draft(filer, kind, block, **values)
        operations.submit_filing(self.db, filing, actor=self.user_of(filer))
        return filing

    def approved(self, filer: Organization, kind: str, block: str, **values: Any) -> Filing:
        filing = self.submitted(filer, kind, block, **values)
        operations.approve_filing(self.db, filing, actor=self.regulator)
        return filing

    def carrier_holding(self) -> Filing:
        """The carrier's approved holding of its aggregate: the chain's top, needed before it files onward."""
        return self.approved(self.carrier, "holding", "2001:db8::/32")

    def site_assignment(self) -> Filing:
        """The carrier's approved assignment of the enterprise's /48 (and its holding before it)."""
        self.carrier_holding()
        return self.approved(self.carrier, "assignment", "2001:db8:1::/48")


@pytest.fixture
def world(db: Session, create_org: Any, create_user: Any) -> FilingWorld:
    carrier = create_org(kind="carrier", code="hx", name="海星通信测试", uscc=demo_uscc("120101", 91),
                         division_code="120101", contact_name="王工", contact_phone="022-5550100")  # fmt: skip
    other_carrier = create_org(kind="carrier", code="jc", name="津辰通信测试", uscc=demo_uscc("120103", 92))
    enterprise = create_org(kind="enterprise", code="jg", name="津沽智能测试", uscc=demo_uscc("120116", 93),
                            division_code="120116", address="天津市滨海新区", nature="enterprise", industry="C",
                            above_designated_size=True)  # fmt: skip
    other_enterprise = create_org(kind="enterprise", code="hh", name="海河精密测试", uscc=demo_uscc("120111", 94))
    aggregate = add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    site = add_prefix(db, "2001:db8:1::/48", actor=OPERATOR, kind="assignment", holder=enterprise)
    other_site = add_prefix(db, "2001:db8:2::/48", actor=OPERATOR, kind="assignment", holder=other_enterprise)
    other_aggregate = add_prefix(db, "192.0.2.0/24", actor=OPERATOR, kind="aggregate", holder=other_carrier)
    return FilingWorld(
        db=db, carrier=carrier, other_carrier=other_carrier, enterprise=enterprise, other_enterprise=other_enterprise,
        carrier_user=create_user(role="carrier", organization=carrier),
        other_carrier_user=create_user(role="carrier", organization=other_carrier),
        enterprise_user=create_user(role="enterprise", organization=enterprise),
        other_enterprise_user=create_user(role="enterprise", organization=other_enterprise),
        regulator=create_user(role="regulator"), admin=create_user(role="regulator-admin"),
        aggregate=aggregate, site=site, other_site=other_site, other_aggregate=other_aggregate,
    )  # fmt: skip
