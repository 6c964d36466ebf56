"""The prefix request pages: the enterprise writes and submits a request; its carrier finds it in the queue, reads
the requester's holdings, previews the approval from a pool (writing nothing) and approves it (the blocks become
the enterprise's assignments), returns or rejects it; regulators read everything and act on nothing; another
enterprise finds nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import AuditEvent, Organization, User
from core.policy import OPERATOR
from filing.models import Filing, Notification
from ipam import prefix_requests as requests
from ipam.models import Prefix, PrefixRequest
from ipam.operations import add_prefix
from tests.conftest import TEST_PASSWORD, post_form
from tests.querycount import count_statements
from tests.support import csrf_token_in

FORM = {
    "site_count": "2", "prefix_len": "48", "purpose": "两个厂区的工业互联网改造", "usage": "industrial-network",
    "locations": "120116, 120104", "justification": "每个厂区一个 /48，按 RIPE-690 规划车间与产线。", "plan_text": "",
}  # fmt: skip
VALUES = {**FORM, "site_count": 2, "prefix_len": 48}
SPARSE_BLOCKS = ["2001:db8:4000::/48", "2001:db8:4800::/48"]
PLAN = "parent: 2001:db8:100::/40\nnodes:\n  - {name: binhai, length: 48}\n  - {name: hexi, length: 48}\n"


@dataclass
class World:
    app: Flask
    db: Session
    carrier: Organization
    carrier_user: User
    enterprise: Organization
    engineer: User
    stranger: User  # an engineer of another enterprise
    regulator: User
    pool: Prefix

    def client(self, user: User) -> FlaskClient:
        """A browser signed in as ``user``."""
        self.db.commit()
        browser = self.app.test_client()
        signed_in = post_form(browser, "/login", {"username": user.username, "password": TEST_PASSWORD})
        assert signed_in.status_code == 302
        return browser

    def draft(self, **values: Any) -> PrefixRequest:
        made = requests.create_request(self.db, {**VALUES, "provider": self.carrier, **values}, actor=self.engineer)
        self.db.commit()
        return made

    def submitted(self, **values: Any) -> PrefixRequest:
        made = self.draft(**values)
        requests.submit_request(self.db, made, actor=self.engineer)
        self.db.commit()
        return made

    def reread(self, made: PrefixRequest) -> PrefixRequest:
        self.db.expire_all()
        found = self.db.get(PrefixRequest, made.id)
        assert found is not None
        return found

    def count(self, model: type) -> int:
        self.db.expire_all()
        return self.db.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def world(app: Flask, db: Session, create_org: Callable[..., Organization], create_user: Callable[..., User]) -> World:
    carrier = create_org(kind="carrier", code="carrier-a", name="甲运营商")
    enterprise = create_org(kind="enterprise", code="factory", name="乙制造公司")
    pool = add_prefix(db, "2001:db8:4000::/36", actor=OPERATOR, kind="allocation", holder=carrier)
    db.flush()
    return World(
        app=app, db=db, carrier=carrier, carrier_user=create_user("carrier", organization=carrier),
        enterprise=enterprise, engineer=create_user("enterprise", organization=enterprise),
        stranger=create_user("enterprise"), regulator=create_user("regulator"), pool=pool,
    )  # fmt: skip


def step(browser: FlaskClient, made: PrefixRequest, name: str, data: dict[str, Any] | None = None) -> Any:
    """Post one step from the request's page, as its form does (with the page's CSRF token)."""
    return post_form(browser, f"/requests/{made.id}/{name}", data or {}, form_page=f"/requests/{made.id}")


def approval(world: World, strategy: str = "sparse") -> dict[str, Any]:
    return {"pool": str(world.pool.id), "strategy": strategy}


# -- the requester writes and submits ----------------------------------------------------------------------------


def test_an_enterprise_saves_a_draft_and_sees_the_locations_named(world: World) -> None:
    browser = world.client(world.engineer)
    saved = post_form(browser, "/requests/new", {**FORM, "provider": str(world.carrier.id), "save": "1"})
    assert saved.status_code == 302
    made = world.db.scalar(select(PrefixRequest))
    assert made is not None and (made.state, made.locations, made.asked) == ("draft", ["120116", "120104"], "2 × /48")
    page = browser.get(saved.headers["Location"]).get_data(as_text=True)
    assert 'data-location="120116"' in page and "滨海新区" in page
    assert 'data-testid="step-submit"' in page and 'data-testid="edit"' in page


def test_submitting_a_draft_sends_it_to_the_carrier(world: World) -> None:
    made = world.draft()
    browser = world.client(world.engineer)
    assert step(browser, made, "submit").status_code == 302
    assert world.reread(made).state == "submitted"
    told = world.db.scalars(select(Notification.recipient_id).where(Notification.request_id == made.id)).all()
    assert told == [world.carrier_user.id]


def test_save_and_submit_does_both_in_one_post(world: World) -> None:
    browser = world.client(world.engineer)
    sent = post_form(browser, "/requests/new", {**FORM, "provider": str(world.carrier.id), "save_and_submit": "1"})
    assert sent.status_code == 302
    made = world.db.scalar(select(PrefixRequest))
    assert made is not None and made.state == "submitted" and made.submitted_at is not None


def test_wrong_values_are_shown_beside_their_fields_and_nothing_is_saved(world: World) -> None:
    browser = world.client(world.engineer)
    events = world.count(AuditEvent)
    wrong = {**FORM, "provider": str(world.carrier.id), "site_count": "0", "locations": "120116 99", "save": "1"}
    page = post_form(browser, "/requests/new", wrong)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for name in ("site_count", "locations"):
        assert f'data-field-error="{name}"' in html, name
    assert world.count(PrefixRequest) == 0 and world.count(AuditEvent) == events


def test_a_request_to_no_allocator_is_refused_beside_the_allocator(world: World) -> None:
    page = post_form(world.client(world.engineer), "/requests/new", {**FORM, "provider": "", "save": "1"})
    assert page.status_code == 200 and 'data-field-error="provider"' in page.get_data(as_text=True)
    assert world.count(PrefixRequest) == 0


def test_save_and_submit_of_an_incomplete_request_saves_nothing(world: World) -> None:
    browser = world.client(world.engineer)
    events = world.count(AuditEvent)
    incomplete = {**FORM, "provider": str(world.carrier.id), "purpose": "", "save_and_submit": "1"}
    page = post_form(browser, "/requests/new", incomplete)
    assert page.status_code == 200 and 'data-field-error="purpose"' in page.get_data(as_text=True)
    assert world.count(PrefixRequest) == 0 and world.count(AuditEvent) == events


def test_submitting_an_incomplete_draft_shows_what_is_missing_beside_the_fields(world: World) -> None:
    made = world.draft(purpose="", justification="")
    page = step(world.client(world.engineer), made, "submit")
    html = page.get_data(as_text=True)
    assert (
        page.status_code == 200 and 'data-field-error="purpose"' in html and 'data-field-error="justification"' in html
    )
    assert world.reread(made).state == "draft"


def test_a_submitted_request_is_no_longer_editable(world: World) -> None:
    made = world.submitted()
    browser = world.client(world.engineer)
    assert browser.get(f"/requests/{made.id}/edit").status_code == 302
    assert 'data-testid="edit"' not in browser.get(f"/requests/{made.id}").get_data(as_text=True)


def test_the_requester_withdraws_a_submitted_request(world: World) -> None:
    made = world.submitted()
    assert step(world.client(world.engineer), made, "withdraw").status_code == 302
    assert world.reread(made).state == "withdrawn"


# -- the carrier decides -----------------------------------------------------------------------------------------


def test_the_carrier_finds_submitted_requests_in_its_queue_and_never_a_draft(world: World) -> None:
    waiting, draft = world.submitted(), world.draft()
    browser = world.client(world.carrier_user)
    queue = browser.get("/requests").get_data(as_text=True)
    assert f'data-request-id="{waiting.id}"' in queue and f'data-request-id="{draft.id}"' not in queue
    assert "2 × /48" in queue and 'data-testid="new-request"' not in queue
    assert f'data-request-id="{draft.id}"' not in browser.get("/requests?view=all").get_data(as_text=True)
    assert browser.get(f"/requests/{draft.id}").status_code == 404


def test_the_carrier_reads_the_requesters_holdings_with_their_utilization(world: World) -> None:
    held = add_prefix(world.db, "2001:db8:4abc::/48", actor=OPERATOR, kind="assignment", holder=world.enterprise)
    add_prefix(world.db, "2001:db8:4abc::/49", actor=OPERATOR, kind="subnet", holder=world.enterprise)
    made = world.submitted()
    page = world.client(world.carrier_user).get(f"/requests/{made.id}").get_data(as_text=True)
    assert 'data-testid="holdings"' in page and held.network in page and "50.00%" in page


def test_a_preview_shows_exactly_the_blocks_and_writes_nothing(world: World) -> None:
    made = world.submitted()
    browser = world.client(world.carrier_user)
    prefixes, events = world.count(Prefix), world.count(AuditEvent)
    page = step(browser, made, "preview", approval(world))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-testid="approval-preview"' in html
    for block in SPARSE_BLOCKS:
        assert f'name="expected" value="{block}"' in html
    assert (world.count(Prefix), world.count(AuditEvent), world.reread(made).state) == (prefixes, events, "submitted")


def test_approving_assigns_the_blocks_to_the_enterprise_and_tells_it(world: World) -> None:
    made = world.submitted()
    browser = world.client(world.carrier_user)
    approved = step(browser, made, "approve", {**approval(world), "expected": SPARSE_BLOCKS, "note": "请按规划使用"})
    assert approved.status_code == 302
    made = world.reread(made)
    assert made.state == "approved" and [b.network for b in made.blocks] == SPARSE_BLOCKS
    assigned = world.db.scalars(select(Prefix).where(Prefix.network.in_(SPARSE_BLOCKS))).all()
    assert {(p.kind, p.holder_id, p.parent_id) for p in assigned} == {
        ("assignment", world.enterprise.id, world.pool.id)
    }
    told = world.db.scalars(select(Notification.kind).where(Notification.recipient_id == world.engineer.id)).all()
    assert told == ["request_approved"]
    page = browser.get(f"/requests/{made.id}").get_data(as_text=True)
    for block in assigned:
        assert f'href="/prefixes/{block.id}"' in page
    assert page.count('data-testid="draft-filing"') == 2 and 'data-testid="plan-block"' not in page


def test_approving_after_the_space_changed_shows_the_new_preview_and_allocates_nothing(world: World) -> None:
    made = world.submitted()
    browser = world.client(world.carrier_user)
    add_prefix(world.db, SPARSE_BLOCKS[0], actor=OPERATOR, kind="assignment", holder=world.carrier)
    prefixes = world.count(Prefix)
    page = step(browser, made, "approve", {**approval(world), "expected": SPARSE_BLOCKS})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-testid="form-errors"' in html and 'data-testid="approval-preview"' in html
    assert f'name="expected" value="{SPARSE_BLOCKS[0]}"' not in html
    assert world.count(Prefix) == prefixes and world.reread(made).state == "submitted"


def test_a_pool_without_room_for_the_request_is_refused_on_the_page(world: World) -> None:
    small = add_prefix(world.db, "2001:db8:f000::/47", actor=OPERATOR, kind="allocation", holder=world.carrier)
    made = world.submitted(site_count=3)
    browser = world.client(world.carrier_user)
    room = re.search(r"2001:db8:f000::/47\D+(\d+)\D+/48", browser.get(f"/requests/{made.id}").get_data(as_text=True))
    assert room is not None and room.group(1) == "2"  # the pool is offered with the room it has
    prefixes = world.count(Prefix)
    page = step(browser, made, "approve", {"pool": str(small.id), "strategy": "first-fit", "expected": []})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and html.count('data-testid="form-errors"') == 1
    assert 'data-testid="approval-preview"' not in html
    assert world.count(Prefix) == prefixes and world.reread(made).state == "submitted"


def test_the_draft_the_filing_form_makes_a_filing_draft_of_the_block(world: World) -> None:
    made = world.submitted()
    browser = world.client(world.carrier_user)
    step(browser, made, "approve", {**approval(world), "expected": SPARSE_BLOCKS})
    block = world.reread(made).blocks[0]
    page = browser.get(f"/requests/{made.id}").get_data(as_text=True)
    action = f'action="/filings/new?prefix={block.prefix_id}"'
    assert action in page
    drafted = browser.post(f"/filings/new?prefix={block.prefix_id}", data={"csrf_token": csrf_token_in(page)})
    assert drafted.status_code == 302
    filing = world.db.scalar(select(Filing).where(Filing.filer_id == world.carrier.id))
    assert filing is not None and filing.state == "draft" and filing.block == block.network


def test_the_requester_is_offered_to_plan_each_block_it_received(world: World) -> None:
    made = world.submitted()
    step(world.client(world.carrier_user), made, "approve", {**approval(world), "expected": SPARSE_BLOCKS})
    block = world.reread(made).blocks[0]
    page = world.client(world.engineer).get(f"/requests/{made.id}").get_data(as_text=True)
    assert f"/plans/new?parent={block.prefix_id}" in page and 'data-testid="draft-filing"' not in page


def test_returning_needs_a_comment_and_the_requester_corrects_and_submits_again(world: World) -> None:
    made = world.submitted()
    carrier = world.client(world.carrier_user)
    empty = step(carrier, made, "return", {"comment": "  "})
    assert empty.status_code == 200 and 'data-field-error="comment"' in empty.get_data(as_text=True)
    assert world.reread(made).state == "submitted"
    assert step(carrier, made, "return", {"comment": "请说明第二个厂区的用途"}).status_code == 302
    engineer = world.client(world.engineer)
    page = engineer.get(f"/requests/{made.id}").get_data(as_text=True)
    assert 'data-testid="decision-note"' in page and "请说明第二个厂区的用途" in page
    corrected = {**FORM, "provider": str(world.carrier.id), "site_count": "3", "save_and_submit": "1"}
    assert post_form(engineer, f"/requests/{made.id}/edit", corrected).status_code == 302
    made = world.reread(made)
    assert (made.state, made.site_count, made.decision_note) == ("submitted", 3, None)


def test_rejecting_needs_a_reason_and_leaves_the_requester_no_step(world: World) -> None:
    made = world.submitted()
    carrier = world.client(world.carrier_user)
    assert 'data-field-error="reason"' in step(carrier, made, "reject", {"reason": ""}).get_data(as_text=True)
    assert step(carrier, made, "reject", {"reason": "已有足够地址"}).status_code == 302
    page = world.client(world.engineer).get(f"/requests/{made.id}").get_data(as_text=True)
    assert world.reread(made).state == "rejected" and "已有足够地址" in page and 'data-testid="step-' not in page


def test_a_step_the_state_no_longer_allows_changes_nothing(world: World) -> None:
    made = world.submitted()
    carrier = world.client(world.carrier_user)
    page = carrier.get(f"/requests/{made.id}").get_data(as_text=True)
    requests.withdraw_request(world.db, made, actor=world.engineer)
    world.db.commit()
    late = carrier.post(f"/requests/{made.id}/reject", data={"reason": "迟了", "csrf_token": csrf_token_in(page)})
    assert late.status_code == 302 and world.reread(made).state == "withdrawn"


def test_the_carrier_may_not_take_the_requesters_steps(world: World) -> None:
    made = world.draft()
    requests.submit_request(world.db, made, actor=world.engineer)
    assert step(world.client(world.carrier_user), made, "withdraw").status_code == 403
    assert world.reread(made).state == "submitted"


# -- who sees what -----------------------------------------------------------------------------------------------


def test_another_enterprise_finds_none_of_the_pages(world: World) -> None:
    made = world.submitted()
    browser = world.client(world.stranger)
    token = csrf_token_in(browser.get("/requests/new").get_data(as_text=True))
    assert f'data-request-id="{made.id}"' not in browser.get("/requests").get_data(as_text=True)
    for url in (f"/requests/{made.id}", f"/requests/{made.id}/edit"):
        assert browser.get(url).status_code == 404, url
    for name in ("submit", "withdraw", "approve", "preview", "return", "reject"):
        assert browser.post(f"/requests/{made.id}/{name}", data={"csrf_token": token}).status_code == 404, name
    assert world.reread(made).state == "submitted"


def test_a_regulator_reads_every_request_and_is_offered_no_step(world: World) -> None:
    made = world.submitted(plan_text=PLAN)
    browser = world.client(world.regulator)
    listed = browser.get(f"/requests?state=submitted&requester=factory&provider={world.carrier.id}")
    assert f'data-request-id="{made.id}"' in listed.get_data(as_text=True)
    assert f'data-request-id="{made.id}"' not in browser.get("/requests?state=approved").get_data(as_text=True)
    page = browser.get(f"/requests/{made.id}").get_data(as_text=True)
    assert 'data-testid="request-fields"' in page and 'data-testid="history-line"' in page
    assert 'data-testid="step-' not in page and 'data-testid="decision-panel"' not in page
    assert 'data-testid="edit"' not in page and 'data-testid="new-request"' not in browser.get("/requests").get_data(
        as_text=True
    )
    assert step(browser, made, "approve", {**approval(world), "expected": SPARSE_BLOCKS}).status_code == 403
    assert world.reread(made).state == "submitted"


def test_an_attached_plan_is_shown_with_its_top_level_nodes(world: World) -> None:
    made = world.submitted(plan_text=PLAN)
    page = world.client(world.carrier_user).get(f"/requests/{made.id}").get_data(as_text=True)
    assert 'data-testid="plan-text"' in page and 'data-testid="plan-nodes"' in page
    assert "2001:db8:100::/48" in page and "2001:db8:101::/48" in page


def test_every_form_carries_a_csrf_token_and_a_post_without_one_is_refused(world: World) -> None:
    made = world.submitted()
    carrier = world.client(world.carrier_user)
    page = carrier.get(f"/requests/{made.id}").get_data(as_text=True)
    assert page.count('name="csrf_token"') >= 3 + 1  # preview, return, reject, and the page's own (language)
    new = world.client(world.engineer).get("/requests/new").get_data(as_text=True)
    assert csrf_token_in(new)
    assert carrier.post(f"/requests/{made.id}/reject", data={"reason": "no"}).status_code == 400
    assert world.reread(made).state == "submitted"


def test_the_list_reads_a_page_in_a_fixed_number_of_statements(
    world: World, create_org: Callable[..., Organization], create_user: Callable[..., User]
) -> None:
    def add(n: int) -> None:
        for _ in range(n):
            enterprise = create_org(kind="enterprise")
            engineer = create_user("enterprise", organization=enterprise)
            made = requests.create_request(world.db, {**VALUES, "provider": world.carrier}, actor=engineer)
            requests.submit_request(world.db, made, actor=engineer)
        world.db.commit()

    regulator, carrier = world.client(world.regulator), world.client(world.carrier_user)

    def statements(browser: FlaskClient, url: str) -> int:
        browser.get(url)  # warm the caches
        with count_statements() as log:
            assert browser.get(url).status_code == 200
        return log.count

    add(3)
    few = statements(regulator, "/requests"), statements(carrier, "/requests")
    add(9)
    assert (statements(regulator, "/requests"), statements(carrier, "/requests")) == few
