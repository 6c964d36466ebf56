"""Demo prefixes, all inside the documentation prefix 2001:db8::/32."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import Organization
from core.demo import DemoContext
from core.policy import OPERATOR
from ipam import operations
from ipam.models import Prefix
from ipam.space import Strategy


def load_ipam_demo(session: Session, context: DemoContext) -> None:
    if session.scalar(select(Prefix.id).limit(1)) is not None:
        return  # the registry already has data: leave it alone
    orgs = {org.code: org for org in session.scalars(select(Organization))}
    add = operations.add_prefix
    haixing = add(session, "2001:db8::/34", actor=OPERATOR, kind="aggregate", holder=orgs["haixing"],
                  description="海星通信天津 IPv6 地址块（示例）", child_min_len=40, child_max_len=64,
                  child_default_len=48, default_strategy=Strategy.SPARSE.value, nibble_aligned=True)  # fmt: skip
    jinchen = add(session, "2001:db8:4000::/34", actor=OPERATOR, kind="aggregate", holder=orgs["jinchen"],
                  description="津辰网络 IPv6 地址块（示例）", child_default_len=48)  # fmt: skip
    operations.reserve_prefix(session, "2001:db8:c000::/34", actor=OPERATOR, holder=None,
                              description="保留，待分配（示例）")  # fmt: skip
    idc = add(session, "2001:db8:100::/40", actor=OPERATOR, kind="allocation", holder=orgs["bohai-idc"],
              usage="idc", description="渤海云数据中心（示例）")  # fmt: skip
    sites = {
        "jingu-zn": (haixing, "industrial-network", "津沽智能一号工厂（示例）"),
        "haihe-jm": (haixing, "enterprise-network", "海河精密总部（示例）"),
        "beichen-xcl": (jinchen, "industrial-network", "北辰新材料生产线（示例）"),
        "wuqing-qp": (jinchen, "leased-line", "武清零部件专线（示例）"),
    }
    for code, (parent, usage, description) in sites.items():
        strategy = parent.default_strategy_enum
        request = operations.AllocationRequest(48, 1, strategy, "assignment", usage, description)
        (site,) = operations.allocate_prefixes(session, parent, request, holder=orgs[code], actor=OPERATOR)
        if code == "jingu-zn":
            plan = operations.AllocationRequest(64, 4, Strategy.FIRST_FIT, "subnet", usage, "车间网段（示例）")
            operations.allocate_prefixes(session, site, plan, holder=orgs[code], actor=OPERATOR)
    hosting = operations.AllocationRequest(56, 3, Strategy.FIRST_FIT, "assignment", "idc", "托管客户（示例）")
    operations.allocate_prefixes(session, idc, hosting, holder=orgs["bohai-idc"], actor=OPERATOR)
