"""Demo organizations and one user per role. Fictional names; generated, valid-looking USCCs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts import operations
from accounts.choices import OrgKind, Role
from accounts.models import Organization, User
from accounts.validators import uscc_check_character
from core.demo import DemoContext
from core.policy import OPERATOR


def demo_uscc(division: str, serial: int) -> str:
    """A code that passes GB 32100 checks; 'DEMD' in the organization code marks it as made up."""
    first17 = f"91{division}DEMD{serial:05d}"
    return first17 + uscc_check_character(first17)


DEMO_ORGANIZATIONS: list[dict[str, str | None]] = [
    {"code": "tjca", "kind": OrgKind.REGULATOR, "name": "天津市通信管理局", "name_en": "Tianjin Communications Administration",
     "division_code": "120000", "address": "天津市和平区（示例地址）"},
    {"code": "demo-nir", "kind": OrgKind.REGISTRY, "name": "示例互联网地址注册中心", "name_en": "Demo Internet Registry",
     "division_code": "110000", "uscc": demo_uscc("110000", 1)},
    {"code": "haixing", "kind": OrgKind.CARRIER, "name": "海星通信有限公司天津分公司", "name_en": "Haixing Telecom Tianjin Branch",
     "division_code": "120101", "uscc": demo_uscc("120101", 2), "contact_name": "王工", "contact_phone": "022-5550100"},
    {"code": "jinchen", "kind": OrgKind.CARRIER, "name": "津辰网络通信有限公司", "name_en": "Jinchen Network Communications",
     "division_code": "120103", "uscc": demo_uscc("120103", 3), "contact_name": "李工", "contact_phone": "022-5550200"},
    {"code": "bohai-idc", "kind": OrgKind.ALLOCATOR, "name": "渤海云数据中心有限公司", "name_en": "Bohai Cloud Data Center",
     "division_code": "120116", "uscc": demo_uscc("120116", 4)},
    {"code": "jingu-zn", "kind": OrgKind.ENTERPRISE, "name": "津沽智能装备制造有限公司", "name_en": "Jingu Intelligent Equipment",
     "division_code": "120116", "uscc": demo_uscc("120116", 5), "address": "天津市滨海新区（示例地址）",
     "nature": "enterprise", "industry": "C", "above_designated_size": True},
    {"code": "haihe-jm", "kind": OrgKind.ENTERPRISE, "name": "海河精密机械有限公司", "name_en": "Haihe Precision Machinery",
     "division_code": "120111", "uscc": demo_uscc("120111", 6), "address": "天津市西青区（示例地址）",
     "nature": "enterprise", "industry": "C", "above_designated_size": True},
    {"code": "beichen-xcl", "kind": OrgKind.ENTERPRISE, "name": "北辰新材料科技有限公司", "name_en": "Beichen New Materials",
     "division_code": "120113", "uscc": demo_uscc("120113", 7), "address": "天津市北辰区（示例地址）",
     "nature": "enterprise", "industry": "C", "above_designated_size": False},
    {"code": "wuqing-qp", "kind": OrgKind.ENTERPRISE, "name": "武清汽车零部件有限公司", "name_en": "Wuqing Auto Parts",
     "division_code": "120114", "uscc": demo_uscc("120114", 8), "address": "天津市武清区（示例地址）",
     "nature": "enterprise", "industry": "C", "above_designated_size": True},
]  # fmt: skip

# (username, display name, organization code, role)
DEMO_USERS = [
    ("demo-admin", "管理员（示例）", "tjca", Role.REGULATOR_ADMIN),
    ("demo-regulator", "审核员（示例）", "tjca", Role.REGULATOR),
    ("demo-carrier", "海星通信（示例）", "haixing", Role.CARRIER),
    ("demo-allocator", "渤海云（示例）", "bohai-idc", Role.ALLOCATOR),
    ("demo-enterprise", "津沽智能（示例）", "jingu-zn", Role.ENTERPRISE),
]


def load_accounts_demo(session: Session, context: DemoContext) -> None:
    existing = {org.code: org for org in session.scalars(select(Organization))}
    for values in DEMO_ORGANIZATIONS:
        if values["code"] not in existing:
            existing[str(values["code"])] = operations.create_organization(session, actor=OPERATOR, **values)
    known_users = set(session.scalars(select(User.username)))
    for username, display_name, org_code, role in DEMO_USERS:
        if username not in known_users:
            operations.create_user(
                session, actor=OPERATOR, username=username, display_name=display_name,
                organization=existing[org_code], role=role.value, password=context.passwords[username],
            )  # fmt: skip
        context.logins.append((username, role.value, context.passwords.get(username, "")))
