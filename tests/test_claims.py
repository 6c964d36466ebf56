"""A carrier's claim to a top-level block waits for a regulator administrator, and tells nobody whose space it
overlaps; the transitions are one table."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import AuditEvent
from core.errors import PermissionDenied, ValidationFailed
from core.policy import OPERATOR
from core.workflow import IllegalTransition
from ipam.choices import ClaimStatus
from ipam.claims import CLAIMS, ClaimAction, available_actions, claim_prefix, decide_claim
from ipam.errors import PrefixOverlap
from ipam.models import Prefix, PrefixClaim
from ipam.operations import add_prefix
from tests.conftest import post_form


@pytest.fixture
def people(create_org, create_user) -> dict[str, Any]:
    carrier = create_org(kind="carrier", code="claimant")
    return {
        "carrier": carrier,
        "carrier_user": create_user(role="carrier", organization=carrier),
        "stranger": create_user(role="carrier"),
        "admin": create_user(role="regulator-admin"),
        "regulator": create_user(role="regulator"),
    }


def test_a_claim_waits_and_confirming_it_registers_the_block_for_the_claimant(
    db: Session, people: dict[str, Any]
) -> None:
    claim = claim_prefix(db, "2001:db8::/32", kind="aggregate", reason="APNIC 2024-03-01", actor=people["carrier_user"])
    assert claim.status == "pending" and db.scalar(select(Prefix).where(Prefix.network == "2001:db8::/32")) is None
    decide_claim(db, claim, ClaimAction.CONFIRM, actor=people["admin"], note="checked against APNIC")
    block = db.get(Prefix, claim.prefix_id)
    assert block.holder_id == people["carrier"].id and claim.status == "confirmed" and claim.decision_note
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "prefix_claim")).all()
    assert set(actions) == {"claim.create", "claim.confirm"}


def test_a_claim_over_others_space_is_filed_blind_and_refused_to_the_administrator(
    db: Session, people: dict[str, Any], create_org
) -> None:
    add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=create_org(kind="carrier"))
    claim = claim_prefix(db, "2001:db8::/33", kind="aggregate", reason="ours", actor=people["carrier_user"])
    assert claim.status == "pending"  # the claimant learns nothing about the space
    with pytest.raises((PrefixOverlap, ValidationFailed, PermissionDenied)), db.begin_nested():
        decide_claim(db, claim, ClaimAction.CONFIRM, actor=people["admin"])
    decide_claim(db, claim, ClaimAction.REJECT, actor=people["admin"], note="held by another carrier")
    assert claim.status == "rejected"


def test_only_administrators_decide_and_only_the_claimant_withdraws(db: Session, people: dict[str, Any]) -> None:
    claim = claim_prefix(db, "2001:db8::/32", kind="allocation", reason="RIR", actor=people["carrier_user"])
    for outsider in (people["stranger"], people["regulator"], people["carrier_user"]):
        with pytest.raises(PermissionDenied):
            decide_claim(db, claim, ClaimAction.CONFIRM, actor=outsider)
    with pytest.raises(PermissionDenied):
        decide_claim(db, claim, ClaimAction.WITHDRAW, actor=people["stranger"])
    assert available_actions(claim, people["carrier_user"]) == [ClaimAction.WITHDRAW]
    assert available_actions(claim, people["admin"]) == [ClaimAction.CONFIRM, ClaimAction.REJECT]
    decide_claim(db, claim, ClaimAction.WITHDRAW, actor=people["carrier_user"])
    with pytest.raises(IllegalTransition):
        decide_claim(db, claim, ClaimAction.CONFIRM, actor=people["admin"])


def test_every_finished_state_is_final() -> None:
    assert {t.source for t in CLAIMS.transitions} == {ClaimStatus.PENDING}
    assert {t.target for t in CLAIMS.transitions} == {ClaimStatus.CONFIRMED, ClaimStatus.REJECTED,
                                                          ClaimStatus.WITHDRAWN}  # fmt: skip


@pytest.mark.parametrize("prefix", ["::/0", "0.0.0.0/0", "fe80::/10"])
def test_special_purpose_space_cannot_be_claimed(db: Session, people: dict[str, Any], prefix: str) -> None:
    with pytest.raises(ValidationFailed):
        claim_prefix(db, prefix, kind="aggregate", reason="mine", actor=people["carrier_user"])


def test_claims_through_the_pages(client: FlaskClient, db: Session, people: dict[str, Any], login_as, app) -> None:
    login_as(people["carrier_user"])
    assert 'data-testid="claim-link"' in client.get("/prefixes").get_data(as_text=True)
    empty = post_form(client, "/prefixes/claims", {"prefix": "2001:db8::/32", "kind": "aggregate", "reason": ""})
    assert 'data-field-error="reason"' in empty.get_data(as_text=True)
    filed = post_form(client, "/prefixes/claims", {"prefix": "2001:db8::/32", "kind": "aggregate",
                                                   "reason": "CNNIC, 2024-03-01, ref 42"})  # fmt: skip
    assert filed.status_code == 302
    claim = db.scalar(select(PrefixClaim))
    other = app.test_client()
    post_form(other, "/login", {"username": people["stranger"].username, "password": "correct horse battery staple"})
    assert f'data-claim="{claim.network}"' not in other.get("/prefixes/claims").get_data(as_text=True)
    assert (
        post_form(other, f"/prefixes/claims/{claim.id}/withdraw", {}, form_page="/prefixes/claims").status_code == 404
    )
    admin = app.test_client()
    post_form(admin, "/login", {"username": people["admin"].username, "password": "correct horse battery staple"})
    page = admin.get("/prefixes/claims").get_data(as_text=True)
    assert 'data-testid="claim-confirm"' in page
    assert post_form(admin, f"/prefixes/claims/{claim.id}/confirm", {"note": "ok"},
                     form_page="/prefixes/claims").status_code == 302  # fmt: skip
    db.expire_all()
    assert db.get(PrefixClaim, claim.id).status == "confirmed"


def test_claims_through_the_api(client: FlaskClient, db: Session, people: dict[str, Any]) -> None:
    from accounts.operations import create_token

    def bearer(user: Any) -> dict[str, str]:
        _, secret = create_token(db, user, name="claims", days=5, read_only=False, actor=user)
        db.commit()
        return {"Authorization": f"Bearer {secret}"}

    mine, admin = bearer(people["carrier_user"]), bearer(people["admin"])
    filed = client.post("/api/v1/prefix-claims", headers=mine,
                        json={"prefix": "2001:db8::/32", "kind": "aggregate", "reason": "CNNIC 2024"})  # fmt: skip
    assert filed.status_code == 201 and filed.get_json()["status"] == "pending"
    assert filed.get_json()["actions"] == ["withdraw"]
    claim_id = filed.get_json()["id"]
    assert client.post(f"/api/v1/prefix-claims/{claim_id}/confirm", headers=mine, json={}).status_code == 403
    done = client.post(f"/api/v1/prefix-claims/{claim_id}/confirm", headers=admin, json={"note": "ok"})
    assert done.status_code == 200 and done.get_json()["prefix_id"] and done.get_json()["actions"] == []
    again = client.post(f"/api/v1/prefix-claims/{claim_id}/reject", headers=admin, json={})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "illegal_transition"
    listed = client.get("/api/v1/prefix-claims", headers=bearer(people["stranger"]))
    assert listed.status_code == 200 and listed.get_json() == []
