"""Closed vocabularies of the accounts package."""

from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l


class OrgKind(StrEnum):
    REGULATOR = "regulator"
    REGISTRY = "registry"
    CARRIER = "carrier"
    ALLOCATOR = "allocator"
    ENTERPRISE = "enterprise"

    @property
    def label(self) -> str:
        return str(ORG_KIND_LABELS[self])


ORG_KIND_LABELS = {
    OrgKind.REGULATOR: _l("Regulator"),
    OrgKind.REGISTRY: _l("Registry"),
    OrgKind.CARRIER: _l("Carrier (first-level allocator)"),
    OrgKind.ALLOCATOR: _l("Lower-level allocator"),
    OrgKind.ENTERPRISE: _l("Enterprise (user organization)"),
}


class Role(StrEnum):
    REGULATOR = "regulator"
    REGULATOR_ADMIN = "regulator-admin"
    CARRIER = "carrier"
    ALLOCATOR = "allocator"
    ENTERPRISE = "enterprise"

    @property
    def label(self) -> str:
        return str(ROLE_LABELS[self])


ROLE_LABELS = {
    Role.REGULATOR: _l("Regulator staff"),
    Role.REGULATOR_ADMIN: _l("Regulator administrator"),
    Role.CARRIER: _l("Carrier"),
    Role.ALLOCATOR: _l("Lower-level allocator"),
    Role.ENTERPRISE: _l("Enterprise"),
}

# Which organization kinds a role's users may belong to.
ROLE_ORG_KINDS = {
    Role.REGULATOR: {OrgKind.REGULATOR},
    Role.REGULATOR_ADMIN: {OrgKind.REGULATOR},
    Role.CARRIER: {OrgKind.CARRIER, OrgKind.REGISTRY},
    Role.ALLOCATOR: {OrgKind.ALLOCATOR},
    Role.ENTERPRISE: {OrgKind.ENTERPRISE},
}


class AuthSource(StrEnum):
    LOCAL = "local"
    LDAP = "ldap"

    @property
    def label(self) -> str:
        return str(AUTH_SOURCE_LABELS[self])


AUTH_SOURCE_LABELS = {AuthSource.LOCAL: _l("local account"), AuthSource.LDAP: _l("directory account")}
