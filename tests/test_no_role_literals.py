"""Views, API handlers and templates ask ``can(...)``; none of them compares or names a role.

Roles are facts the permission rules (each package's ``permissions.py``) are written with. A role named in a view
or a template is a rule hidden where the policy table and its tests cannot see it."""

from __future__ import annotations

import re
from pathlib import Path

from accounts.choices import Role

ROOT = Path(__file__).resolve().parent.parent
ROLE_VALUES = "|".join(re.escape(role.value) for role in Role)
# A comparison with a user's role, the Role enum, or a role's value as a quoted literal (a field named "carrier"
# is not a role: it is followed by a field's use, so values are matched only where roles are compared or listed).
ROLE_USE = re.compile(
    rf"\.role\b\s*(==|!=|in\b|not in\b)|\bRole\.[A-Z_]+|\bis_regulator\(|\ballocates\(|\bis_administrator\("
    rf"|(==|!=|\bin)\s*[\[({{]?\s*['\"]({ROLE_VALUES})['\"]"
)


def view_and_template_files() -> list[Path]:
    files = sorted((ROOT / "templates").rglob("*.html"))
    for package in ("accounts", "ipam", "importers", "filing", "core"):
        files += [p for p in (ROOT / package).glob("*.py") if p.name in {"views.py", "api.py", "web.py", "forms.py"}]
    return files


def test_no_view_or_template_names_a_role() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in view_and_template_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if ROLE_USE.search(line)
    ]
    assert found == []


def test_the_check_finds_a_role_comparison() -> None:
    assert ROLE_USE.search("{% if current_user.role == 'regulator-admin' %}")
    assert ROLE_USE.search("if user.role in ALLOCATING_ROLES:")
    assert ROLE_USE.search("Role.ENTERPRISE.value")
    assert not ROLE_USE.search('carrier = carrier_for(form.carrier.data, field="carrier")')
