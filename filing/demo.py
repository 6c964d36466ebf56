"""Demo filings in every state, some overdue, over the demo registry (2001:db8::/32, fictional organizations).

The demo enterprise's own use filing of its /48 is left for the person trying the product: its carrier's
assignment is approved, so it can be filed and submitted at once.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import Organization, User
from core.demo import DemoContext
from core.policy import OPERATOR
from filing import operations
from filing.models import Filing
from ipam.models import Prefix


def load_filing_demo(session: Session, context: DemoContext) -> None:
    if session.scalar(select(Filing.id).limit(1)) is not None:
        return  # filings exist already: leave them alone
    orgs = {org.code: org for org in session.scalars(select(Organization))}
    users = {user.username: user for user in session.scalars(select(User))}
    if "haixing" not in orgs or session.scalar(select(Prefix.id).limit(1)) is None:
        return
    carrier, jinchen, idc = orgs["haixing"], orgs["jinchen"], orgs["bohai-idc"]
    filer_of = {carrier.id: users.get("demo-carrier", OPERATOR), idc.id: users.get("demo-allocator", OPERATOR)}
    reviewer = users.get("demo-regulator", OPERATOR)
    today = date.today()

    def prefix(network: str) -> Prefix:
        found = session.scalar(select(Prefix).where(Prefix.network == network))
        assert found is not None, network
        return found

    def held_by(code: str) -> Prefix:
        found = session.scalar(
            select(Prefix).where(Prefix.holder_id == orgs[code].id, Prefix.kind == "assignment").order_by(Prefix.start)
        )
        assert found is not None, code
        return found

    def draft(filer: Organization, block: Prefix | str, kind: str, days_ago: int, **values: Any) -> Filing:
        network = block.network if isinstance(block, Prefix) else block
        base: dict[str, Any] = {"filing_type": kind, "block": network, "allocated_on": today - timedelta(days_ago),
                                "contact_name": filer.contact_name or "张工", "contact_phone": filer.contact_phone
                                or "022-5550300", "contact_email": f"ip@{filer.code}.example.cn"}  # fmt: skip
        if kind in ("allocation", "assignment") and isinstance(block, Prefix) and block.holder is not None:
            user = block.holder
            base.update(user_name=user.name, user_uscc=user.uscc, user_nature=user.nature or "enterprise",
                        user_industry=user.industry or "I", user_division=user.division_code,
                        user_address=user.address or "天津市（示例地址）", usage=block.usage or "enterprise-network")  # fmt: skip
        actor = filer_of.get(filer.id, OPERATOR)
        return operations.create_filing(session, {**base, **values}, filer=filer, actor=actor)

    def submit(filing: Filing) -> Filing:
        operations.submit_filing(session, filing, actor=filer_of.get(filing.filer_id, OPERATOR))
        return filing

    def approve(filing: Filing) -> Filing:
        operations.approve_filing(session, submit(filing), actor=reviewer)
        return filing

    registry = orgs.get("demo-nir")
    source = registry.name if registry is not None else "APNIC"
    holding = {"source_name": source, "usage": "other"}
    approve(draft(carrier, "2001:db8::/34", "holding", 150, user_name=carrier.name, **holding))
    approve(draft(jinchen, "2001:db8:4000::/34", "holding", 150, user_name=jinchen.name, **holding))
    approve(draft(carrier, held_by("jingu-zn"), "assignment", 60, gateway_ip="2001:db8::1",
                  gateway_address="滨海新区示例路 1 号机房"))  # fmt: skip
    idc_block = prefix("2001:db8:100::/40")
    approve(draft(carrier, idc_block, "allocation", 90, user_name=idc.name, user_uscc=idc.uscc,
                  user_division=idc.division_code, user_address="天津市滨海新区（示例地址）", usage="idc"))  # fmt: skip
    idc_holding = approve(draft(idc, idc_block, "holding", 80, source_name=carrier.name, user_name=idc.name,
                                usage="idc"))  # fmt: skip
    operations.change_filing(session, idc_holding, {"gateway_ip": "2001:db8:100::1",
                                                    "gateway_address": "滨海新区示例数据中心 3 楼"},
                             actor=filer_of[idc.id])  # fmt: skip

    # Awaiting review for longer than the review target: overdue in the queue.
    late = submit(draft(carrier, held_by("haihe-jm"), "assignment", 30))
    late.review_due_on, late.submitted_at = today - timedelta(days=3), late.submitted_at - timedelta(days=18)

    returned = submit(draft(jinchen, held_by("beichen-xcl"), "assignment", 25, user_address="北辰区"))
    operations.return_filing(session, returned, actor=reviewer, comment="请补充完整的单位详细地址。",
                             field_comments={"user_address": "地址需写到门牌号。"})  # fmt: skip

    # A draft whose filing deadline has passed.
    draft(jinchen, held_by("wuqing-qp"), "assignment", 45)

    rejected = submit(draft(jinchen, "2001:db8:4fff::/48", "reserved", 20, remarks="内部保留"))
    operations.reject_filing(
        session, rejected, actor=reviewer, reason="保留地址段与实际分配记录不符，请核实后重新备案。"
    )

    hosting = session.scalars(
        select(Prefix).where(Prefix.holder_id == idc.id, Prefix.prefix_len == 56).order_by(Prefix.start)
    ).first()
    if hosting is not None:
        ended = approve(draft(idc, hosting, "holding", 70, source_name=carrier.name, user_name=idc.name, usage="idc"))
        operations.cancel_filing(session, ended, actor=filer_of[idc.id], reason="客户退租，地址收回。")


def load_reconciliation_demo(session: Session, context: DemoContext) -> None:
    """A reconciliation of the whole city, started by the demo regulator: the blocks the demo carriers handed on
    and have not filed (or whose filing waits for review) show as unfiled."""
    from filing.choices import RunScope
    from filing.models import ReconciliationRun
    from filing.permissions import RECONCILER
    from filing.reconciliation import execute_run, start_run

    if session.scalar(select(ReconciliationRun.id).limit(1)) is not None or session.scalar(select(Filing.id)) is None:
        return
    regulator = session.scalar(select(User).where(User.username == "demo-regulator"))
    run = start_run(session, scope=RunScope.ALL, actor=regulator or OPERATOR)
    execute_run(session, run, actor=RECONCILER, today=date.today())
