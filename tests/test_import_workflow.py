"""The import batch's workflow, driven from its table: every (state, action, actor) either takes the declared
transition (state, audit row) or fails with a typed error and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import AuditEvent, Organization, User
from core.errors import PermissionDenied
from core.policy import OPERATOR
from core.workflow import IllegalTransition, apply_transition
from importers.models import BatchStatus, ImportBatch
from importers.operations import confirm_batch, run_batch_again, start_batch
from importers.permissions import IMPORT_WORKER
from importers.workflow import BATCHES, WORKER_STOPPED, offered
from ipam.operations import add_prefix

ROLES = ("carrier", "other-carrier", "allocator", "enterprise", "regulator", "regulator-admin", "worker")
PEOPLE_WHO_IMPORT = {"carrier", "regulator-admin", "worker"}  # IMPORT_RECORDS on the batch's carrier
WORKER_ONLY = {"worker"}


@pytest.fixture
def actors(db: Session, create_org: Callable[..., Organization], create_user: Callable[..., User]) -> dict[str, Any]:
    carrier = create_org(kind="carrier", code="wf-carrier")
    add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    people: dict[str, Any] = {role: create_user(role=role) for role in ("allocator", "enterprise", "regulator",
                                                                        "regulator-admin")}  # fmt: skip
    people["carrier"] = create_user(role="carrier", organization=carrier)
    people["other-carrier"] = create_user(role="carrier")
    people["worker"] = IMPORT_WORKER
    people["_carrier"] = carrier
    return people


def batch_in(db: Session, app: Flask, carrier: Organization, state: BatchStatus) -> ImportBatch:
    path = Path(app.config["IMPORT_DIR"]) / f"{state.value}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("地址段,使用单位名称\n2001:db8:1::/48,甲\n", encoding="utf-8")
    batch = start_batch(db, actor=OPERATOR, carrier=carrier, path=path, file_name=path.name, file_format="csv",
                        dry_run=state is BatchStatus.PREVIEWED)  # fmt: skip
    batch.status = state.value
    if state is BatchStatus.FAILED:
        batch.message = WORKER_STOPPED
    db.flush()
    return batch


def take(db: Session, batch: ImportBatch, action: str, actor: Any) -> None:
    if action == "confirm":
        confirm_batch(db, batch, actor=actor)
    elif action == "run_again":
        run_batch_again(db, batch, actor=actor)
    else:
        apply_transition(db, batch, action, actor=actor)


def may(role: str, permission: str) -> bool:
    return role in (WORKER_ONLY if permission in {"run_import", "sweep_imports"} else PEOPLE_WHO_IMPORT)


def state_of_the_world(db: Session) -> tuple[Any, ...]:
    return (
        tuple(
            db.execute(select(ImportBatch.id, ImportBatch.status, ImportBatch.next_batch_id).order_by(ImportBatch.id))
        ),
        db.scalar(select(func.count()).select_from(AuditEvent)),
    )


@pytest.mark.parametrize("state", list(BatchStatus), ids=str)
@pytest.mark.parametrize("action", BATCHES.actions)
def test_every_action_in_every_state_by_every_actor(
    app: Flask, db: Session, actors: dict[str, Any], state: BatchStatus, action: str
) -> None:
    transition = BATCHES.table.get((state, action))
    for role in ROLES:
        with db.begin_nested() as attempt:
            batch = batch_in(db, app, actors["_carrier"], state)
            before = state_of_the_world(db)
            allowed = transition is not None and may(role, transition.permission)
            if allowed:
                take(db, batch, action, actors[role])
                db.expire_all()
                assert batch.status == transition.target.value, (role, action, state)
                audited = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id.desc()).limit(1)).one()
                assert audited == transition.audit
            else:
                expected = IllegalTransition if transition is None else PermissionDenied
                with pytest.raises(expected):
                    take(db, batch, action, actors[role])
                assert state_of_the_world(db) == before, (role, action, state)
            attempt.rollback()


def test_a_check_is_confirmed_once_and_the_two_batches_are_linked(
    app: Flask, db: Session, actors: dict[str, Any]
) -> None:
    preview = batch_in(db, app, actors["_carrier"], BatchStatus.PREVIEWED)
    assert [t.action for t in offered(preview, actors["carrier"])] == ["confirm"]
    later = confirm_batch(db, preview, actor=actors["carrier"])
    assert preview.next_batch_id == later.id and later.dry_run is False
    assert offered(preview, actors["carrier"]) == []
    with pytest.raises(IllegalTransition) as again:
        confirm_batch(db, preview, actor=actors["carrier"])
    assert str(later.id) in str(again.value.message)


def test_a_check_with_errors_cannot_be_loaded_unless_partial_loads_were_asked(
    app: Flask, db: Session, actors: dict[str, Any]
) -> None:
    preview = batch_in(db, app, actors["_carrier"], BatchStatus.PREVIEWED)
    preview.errors = 2
    with pytest.raises(IllegalTransition):
        confirm_batch(db, preview, actor=actors["carrier"])
    preview.allow_partial = True
    assert confirm_batch(db, preview, actor=actors["carrier"]).allow_partial


def test_two_workers_cannot_both_start_a_batch(app: Flask, db: Session, actors: dict[str, Any]) -> None:
    batch = batch_in(db, app, actors["_carrier"], BatchStatus.QUEUED)
    db.execute(ImportBatch.__table__.update().values(status="running"))  # another worker, a moment earlier
    with pytest.raises(IllegalTransition):
        apply_transition(db, batch, "start", actor=IMPORT_WORKER)  # this one still sees it queued


def test_an_illegal_step_is_a_409_in_the_api_and_a_message_on_the_page(
    app: Flask, db: Session, actors: dict[str, Any], client: Any, login_as: Callable[..., User]
) -> None:
    loaded = batch_in(db, app, actors["_carrier"], BatchStatus.LOADED)
    db.commit()
    login_as(actors["carrier"])
    page = client.get(f"/imports/{loaded.id}")
    assert 'data-testid="confirm"' not in page.get_data(as_text=True)
    from tests.support import csrf_token_in

    refused = client.post(
        f"/imports/{loaded.id}/confirm", data={"csrf_token": csrf_token_in(page.get_data(as_text=True))}
    )
    assert refused.status_code == 302
    assert db.get(ImportBatch, loaded.id).status == "loaded"
    assert IllegalTransition.status == 409
