"""The list pages and list APIs read a page in a fixed number of statements, however many rows it shows (no
statement per row): each list is read with 3 rows, then with 12, and both reads must send as many statements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from accounts.models import Organization, User
from core.policy import OPERATOR
from importers.operations import run_batch, start_batch
from ipam.claims import claim_prefix
from ipam.models import Prefix
from ipam.operations import add_prefix
from tests.querycount import StatementLog, count_statements

FEW, MANY = 3, 12
BOOK = (
    "地址段,使用单位名称,统一社会信用代码,分配方式,IP地址使用方式,分配使用时间,所在地区代码,备注\n"
    "{block}:1::/48,甲公司,,指派,,,,\n"
    "bad,乙公司,,指派,,,,\n"
    "{block}:2::/48,丙公司,,nonsense,,,,\n"
)


@dataclass
class World:
    """Rows for one list, added in rounds: each ``add`` method adds ``n`` rows the signed-in user's list shows
    and returns what of each row the page or API must show."""

    app: Flask
    db: Session
    create_org: Callable[..., Organization]
    create_user: Callable[..., User]
    user: User
    added: int = 0
    blocks: dict[int, str] = field(default_factory=dict)  # a carrier's block (its files' records go there)
    root: Prefix | None = None  # the block whose children are listed

    @property
    def own_carrier(self) -> Organization | None:
        """A carrier lists what its organization holds; a regulator sees every organization's."""
        return self.user.organization if self.user.organization.kind == "carrier" else None

    def organizations(self, n: int) -> list[str]:
        orgs = [self.create_org(kind="carrier") for _ in range(n)]
        for org in orgs:
            self.create_user(role="carrier", organization=org)
        return [org.code for org in orgs]

    def users(self, n: int) -> list[str]:
        return [self.create_user(role="enterprise").username for _ in range(n)]

    def audit_events(self, n: int) -> list[str]:
        return [self.create_org(kind="enterprise").code for _ in range(n)]  # each leaves an event naming it

    def register(self, network: str, kind: str, holder: Organization | None = None, **values: str) -> Prefix:
        """A prefix held by ``holder`` (by default the carrier signed in, else an organization of its own)."""
        holder = holder or self.own_carrier or self.create_org(kind="carrier")
        return add_prefix(self.db, network, actor=OPERATOR, kind=kind, holder=holder, **values)

    def top_level_blocks(self, n: int) -> list[str]:
        """Blocks, each with its own holder and a customer inside (the list shows the block; its customer is one
        level below it, once)."""
        shown = []
        for _ in range(n):
            self.added += 1
            block = self.register(f"2001:db8:{self.added:x}::/48", "allocation")
            self.register(f"2001:db8:{self.added:x}:1::/64", "assignment", self.create_org(), description="customer")
            shown += [block.network]
        return shown

    def children(self, n: int) -> list[str]:
        """Customers inside one block (the tree's next level), each with a subnet of its own."""
        self.root = self.root or self.register("2001:db8:ff00::/40", "allocation")
        shown = []
        for _ in range(n):
            self.added += 1
            child = self.register(f"2001:db8:ff{self.added:02x}::/48", "assignment", self.create_org())
            self.register(f"2001:db8:ff{self.added:02x}:1::/64", "subnet", child.holder)
            shown.append(child.network)
        return shown

    def claims(self, n: int) -> list[str]:
        claimant = self.own_carrier
        shown = []
        for _ in range(n):
            self.added += 1
            actor = self.create_user(role="carrier", organization=claimant or self.create_org(kind="carrier"))
            claim = claim_prefix(
                self.db, f"2001:db8:{self.added:x}::/48", kind="allocation", reason="from APNIC", actor=actor
            )
            shown.append(claim.network)
        return shown

    def import_batches(self, n: int) -> list[str]:
        """Checked files, each with problems, by the carrier (or, for a regulator, by as many carriers)."""
        directory = Path(self.app.config["IMPORT_DIR"])
        directory.mkdir(parents=True, exist_ok=True)
        shown = []
        for _ in range(n):
            self.added += 1
            carrier = self.own_carrier or self.create_org(kind="carrier")
            if carrier.id not in self.blocks:
                self.blocks[carrier.id] = f"2001:db8:{len(self.blocks) + 1:x}00"
                self.register(f"{self.blocks[carrier.id]}::/40", "allocation", carrier)
            path = directory / f"book-{self.added}.csv"
            path.write_text(BOOK.format(block=self.blocks[carrier.id]), encoding="utf-8")
            actor = self.create_user(role="carrier", organization=carrier)
            batch = start_batch(
                self.db,
                actor=actor,
                carrier=carrier,
                path=path,
                file_name=path.name,
                file_format="csv",
                dry_run=True,
                allow_partial=True,
            )
            run_batch(self.db, batch, actor=OPERATOR)  # the worker's part
            assert batch.errors >= 2
            shown.append(path.name)
        return shown


ADMIN, CARRIER = "regulator-admin", "carrier"
LISTS = [
    ("/organizations", ADMIN, World.organizations),
    ("/api/v1/organizations", ADMIN, World.organizations),
    ("/users", ADMIN, World.users),
    ("/audit", ADMIN, World.audit_events),
    ("/prefixes", ADMIN, World.top_level_blocks),
    ("/prefixes", CARRIER, World.top_level_blocks),
    ("/api/v1/prefixes", ADMIN, World.top_level_blocks),
    ("/api/v1/prefixes", CARRIER, World.top_level_blocks),
    ("/prefixes/{root}/children", ADMIN, World.children),
    ("/prefixes/{root}/children", CARRIER, World.children),
    ("/prefixes/{root}", ADMIN, World.children),
    ("/prefixes/{root}", CARRIER, World.children),
    ("/prefixes/claims", ADMIN, World.claims),
    ("/prefixes/claims", CARRIER, World.claims),
    ("/api/v1/prefix-claims", ADMIN, World.claims),
    ("/imports", ADMIN, World.import_batches),
    ("/imports", CARRIER, World.import_batches),
    ("/api/v1/imports", ADMIN, World.import_batches),
    ("/api/v1/imports", CARRIER, World.import_batches),
]


def read_list(client: FlaskClient, url: str, shown: list[str]) -> StatementLog:
    client.get(url)  # what a visit does only now and then (touching the session) stays out of the count
    with count_statements() as log:
        response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    body = response.get_data(as_text=True)
    assert [row for row in shown if row not in body] == []
    return log


@pytest.mark.parametrize(("url", "role", "add"), LISTS, ids=[f"{url}-as-{role}" for url, role, _ in LISTS])
def test_a_list_of_twelve_rows_costs_as_many_statements_as_one_of_three(
    app: Flask,
    client: FlaskClient,
    db: Session,
    create_org,
    create_user,
    login_as,
    url: str,
    role: str,
    add: Callable[[World, int], list[str]],
) -> None:
    world = World(app, db, create_org, create_user, login_as(role))
    shown = add(world, FEW)
    db.commit()
    url = url.format(root=world.root.id if world.root else "")
    few = read_list(client, url, shown)
    shown += add(world, MANY - FEW)
    db.commit()
    many = read_list(client, url, shown)
    assert many.count == few.count, f"{FEW} rows:\n{few}\n\n{MANY} rows:\n{many}"
