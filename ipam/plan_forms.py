"""Forms of the subnet plan pages: a plan (its name, the block it divides, its text) and the steps on a saved plan
(apply, delete). ``ipam.plans.save_plan`` judges the values and names the field of each mistake; these forms carry
them, and offer as parents the blocks the user may plan in."""

from __future__ import annotations

import json
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from core import policy
from core.forms import Form
from ipam.choices import KIND_LABELS, PrefixKind
from ipam.models import Prefix
from ipam.permissions import Action
from ipam.plans import MAX_NAME
from ipam.space import Net

PARENT_CHOICES = 300  # blocks offered as parents; an organization holding more finds its block by ?parent=
DESCRIPTION_SHOWN = 40


def prefix_id(value: Any) -> int | None:
    """A posted parent id; anything else is no parent (the operation then asks for one)."""
    text = str(value) if value is not None else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


class PlanForm(Form):
    name = StringField(_l("Name"), render_kw={"maxlength": MAX_NAME})
    # Any id may be posted: the operation refuses a block the user may not plan in, beside this field.
    parent = SelectField(
        _l("Block to divide"), coerce=prefix_id, validate_choice=False,
        description=_l("A block your organization holds; the plan's own parent is replaced by it."),
    )  # fmt: skip
    text = TextAreaField(
        _l("Plan text"), render_kw={"rows": 18, "spellcheck": "false", "autocomplete": "off"},
        description=_l("YAML or JSON. The editor above writes it as JSON, which is YAML too; "
                       "edit either, the other follows."),
    )  # fmt: skip


class PlanStepForm(Form):
    """Apply or delete a saved plan. ``expected``: the digest of the blocks the confirmation page listed."""

    expected = HiddenField()


def plannable_blocks(session: Session, user: Any, limit: int = PARENT_CHOICES) -> list[Prefix]:
    """The blocks of the user's organization it may divide (``allocate_from``), IPv6 first, widest first. Blocks
    of a single subnet (a /64, an IPv4 /32) have nothing to divide and are not offered."""
    held = session.scalars(
        select(Prefix)
        .where(
            Prefix.holder_id == user.organization_id,
            Prefix.kind != PrefixKind.RESERVED.value,
            or_(and_(Prefix.family == 6, Prefix.prefix_len < 64), and_(Prefix.family == 4, Prefix.prefix_len < 32)),
        )
        .order_by(Prefix.family.desc(), Prefix.prefix_len, Prefix.start)
        .limit(limit)
    )
    return [block for block in held if policy.can(user, Action.ALLOCATE_FROM, block)]


def parent_choices(blocks: list[Prefix]) -> list[SelectChoice]:
    return [SelectChoice(block.id, _block_label(block)) for block in blocks]


def _block_label(block: Prefix) -> str:
    label = f"{block.network} · {KIND_LABELS[block.kind_enum]}"
    if block.description:
        shown = block.description[:DESCRIPTION_SHOWN]
        label += f" · {shown}…" if len(block.description) > DESCRIPTION_SHOWN else f" · {shown}"
    return label


def starting_text(parent: Net | None) -> str:
    """A plan to start from, as the editor writes it (JSON): sites of zones of subnets, as in
    ``ipam.plan_format``'s example, in ``parent``."""
    leaf, wide = (64, 56) if parent is None or parent.width == 128 else (28, 26)
    document = {
        "parent": str(parent) if parent is not None else "",
        "nibble": True,
        "headroom": 2,
        "reserve": [],
        "nodes": [
            {
                "name": "site",
                "count": 3,
                "nodes": [
                    {"name": "ot", "count": 4, "nodes": [{"name": "line", "count": 16, "length": leaf}]},
                    {"name": "it", "length": wide},
                ],
            }
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
