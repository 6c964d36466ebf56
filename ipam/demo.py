"""Demo prefixes, all inside the documentation prefix 2001:db8::/32."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import Organization, User
from core.demo import DemoContext
from core.policy import OPERATOR
from ipam import operations, plans, prefix_requests
from ipam.models import Prefix, PrefixRequest
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
    sites = {  # holder: (parent, usage, description, allocated this many days ago)
        "jingu-zn": (haixing, "industrial-network", "津沽智能一号工厂（示例）", 60),
        "haihe-jm": (haixing, "enterprise-network", "海河精密总部（示例）", 30),
        "beichen-xcl": (jinchen, "industrial-network", "北辰新材料生产线（示例）", 25),
        "wuqing-qp": (jinchen, "leased-line", "武清零部件专线（示例）", 45),
    }
    for code, (parent, usage, description, days_ago) in sites.items():
        strategy = parent.default_strategy_enum
        request = operations.AllocationRequest(48, 1, strategy, "assignment", usage, description)
        (site,) = operations.allocate_prefixes(session, parent, request, holder=orgs[code], actor=OPERATOR)
        site.assigned_on = date.today() - timedelta(days=days_ago)  # 分配使用时间, as a carrier's book has it
        if code == "jingu-zn":
            plan = operations.AllocationRequest(64, 4, Strategy.FIRST_FIT, "subnet", usage, "车间网段（示例）")
            operations.allocate_prefixes(session, site, plan, holder=orgs[code], actor=OPERATOR)
    hosting = operations.AllocationRequest(56, 3, Strategy.FIRST_FIT, "assignment", "idc", "托管客户（示例）")
    operations.allocate_prefixes(session, idc, hosting, holder=orgs["bohai-idc"], actor=OPERATOR)


DEMO_PLAN = """\
# 津沽智能一号工厂：两个车间，每个车间 OT 区 4 条产线 × 16 个 /64，IT 区一个 /56（示例）
parent: {parent}
nibble: true
headroom: 2
nodes:
  - names: [stamping, assembly]
    nodes:
      - {{name: ot, count: 4, nodes: [{{name: line, count: 16, length: 64}}]}}
      - {{name: it, length: 56}}
"""


def load_request_demo(session: Session, context: DemoContext) -> None:
    """A request the demo carrier declined (the enterprise's /48 is barely used), one waiting in its queue (to
    approve, which allocates from the carrier's block), and a draft subnet plan of the enterprise's /48."""
    if session.scalar(select(PrefixRequest.id).limit(1)) is not None:
        return  # requests exist already: leave them alone
    users = {user.username: user for user in session.scalars(select(User))}
    engineer, carrier_user = users.get("demo-enterprise"), users.get("demo-carrier")
    if engineer is None or carrier_user is None or engineer.organization is None:
        return
    enterprise, carrier = engineer.organization, carrier_user.organization
    first = session.scalar(
        select(Prefix).where(Prefix.holder_id == enterprise.id, Prefix.kind == "assignment").order_by(Prefix.start)
    )
    if first is None:
        return
    declined = prefix_requests.create_request(
        session,
        {"provider": carrier, "site_count": 1, "prefix_len": 48, "purpose": "一号工厂扩建（示例）",
         "usage": "industrial-network", "locations": ["120116"],
         "justification": "扩建两条产线（示例）。"},
        actor=engineer,
    )  # fmt: skip
    prefix_requests.submit_request(session, declined, actor=engineer)
    prefix_requests.reject_request(session, declined, actor=carrier_user,
                                   reason="现有 /48 使用不到 1%，请先在其中规划扩建的产线（示例）。")  # fmt: skip
    waiting = prefix_requests.create_request(
        session,
        {"provider": carrier, "site_count": 2, "prefix_len": 56, "purpose": "武清仓储与物流中心（示例）",
         "usage": "enterprise-network", "locations": ["120114", "120116"],
         "justification": "两个小型站点，各一个 /56（示例）。"},
        actor=engineer,
    )  # fmt: skip
    prefix_requests.submit_request(session, waiting, actor=engineer)
    plans.save_plan(session, name="一号工厂网络规划（示例）", text=DEMO_PLAN.format(parent=first.network),
                    parent=first, actor=engineer)  # fmt: skip
