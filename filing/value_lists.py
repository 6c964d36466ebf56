"""The value lists a filing's fields take (单位性质, 行业分类, IP使用方式): shipped as data, kept by regulator
administrators. A value is never deleted (filings name it); one no longer offered is made inactive."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.audit import record_event
from core import policy
from core.errors import NotFound, ValidationFailed
from core.messages import message as _l
from filing.calendar import forget_cached
from filing.choices import ChoiceList
from filing.models import ChoiceValue
from filing.permissions import Action

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
NAME_LENGTH = 100


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[Any]] = {}
    for name in ("name_zh", "name_en"):
        text = (values.get(name) or "").strip()
        if not text or len(text) > NAME_LENGTH or any(ord(ch) < 32 for ch in text):
            errors[name] = [_l("Give a name of 1 to %(n)d characters.", n=NAME_LENGTH)]
        values[name] = text
    if errors:
        raise ValidationFailed(_l("Please correct the marked fields."), fields=errors)
    return values


def add_value(session: Session, list_name: str, code: str, name_zh: str, name_en: str, *, actor: Any) -> ChoiceValue:
    policy.require(actor, Action.MANAGE_FILING_SETTINGS)
    if list_name not in {c.value for c in ChoiceList}:
        raise ValidationFailed.on("list", _l("There is no value list %(name)s.", name=list_name))
    code = (code or "").strip()
    if not CODE.match(code):
        raise ValidationFailed.on("code", _l("A code has 1 to 32 letters, digits, dots, hyphens or underscores."))
    if session.scalar(select(ChoiceValue.id).where(ChoiceValue.list == list_name, ChoiceValue.code == code)):
        raise ValidationFailed.on("code", _l("The list already has the code %(code)s.", code=code))
    names = _checked({"name_zh": name_zh, "name_en": name_en})
    position = (session.scalar(select(func.max(ChoiceValue.position))) or 0) + 1
    value = ChoiceValue(list=list_name, code=code, position=position, active=True, **names)
    session.add(value)
    session.flush()
    record_event(session, actor=actor, action="choice_value.add", object_type="choice_value", object_id=value.id,
                 organization_id=None, after={"list": list_name, "code": code, **names}, summary=code)  # fmt: skip
    forget_cached(session)
    return value


def update_value(
    session: Session, value_id: int, *, name_zh: str, name_en: str, active: bool, actor: Any
) -> ChoiceValue:
    policy.require(actor, Action.MANAGE_FILING_SETTINGS)
    value = session.get(ChoiceValue, value_id)
    if value is None:
        raise NotFound(_l("There is no such value."))
    before = {"name_zh": value.name_zh, "name_en": value.name_en, "active": value.active}
    names = _checked({"name_zh": name_zh, "name_en": name_en})
    value.name_zh, value.name_en, value.active = names["name_zh"], names["name_en"], bool(active)
    session.flush()
    after = {"name_zh": value.name_zh, "name_en": value.name_en, "active": value.active}
    if after != before:
        record_event(session, actor=actor, action="choice_value.update", object_type="choice_value",
                     object_id=value.id, organization_id=None, before=before, after=after, summary=value.code)  # fmt: skip
        forget_cached(session)
    return value
