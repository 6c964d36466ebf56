"""The regulator's filing dashboard: filings by state, what is overdue, review times in working days, filings per
district and per filer, the policy's progress; every number links to the filings it counts, the page is the
regulators' alone, and it reads the same few statements however many filings there are."""

from __future__ import annotations

import html
import itertools
import json
import re
import statistics as stats
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import Organization, User
from core.policy import OPERATOR
from filing import queries
from filing.exports import filter_from_args
from filing.models import Filing, FilingVersion
from filing.statistics import (
    dashboard,
    filings_by_state,
    filings_per_district,
    filings_per_filer,
    policy_progress,
    review_times,
    unfiled_enterprises,
    weighted_median,
)
from ipam.models import to_key
from ipam.operations import add_prefix
from tests.querycount import count_statements

STATIC = Path(__file__).resolve().parent.parent / "static"
CHART_LIBRARY = "vendor/chart.js-4.6.1"
URL = "/filings/dashboard"


# -- the world -------------------------------------------------------------------------------------------------


@dataclass
class World:
    db: Session
    create_org: Callable[..., Organization]
    today: date = field(default_factory=date.today)
    blocks: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def filing(
        self,
        filer: Organization,
        state: str,
        *,
        division: str | None = None,
        due_in: int | None = None,
        review_due_in: int | None = None,
        user: Organization | None = None,
    ) -> Filing:
        """A filing row as the workflow leaves it in ``state`` (deadlines in days from today)."""
        n = next(self.blocks)
        first = (0x20010DB8 << 96) | (n << 80)
        filing = Filing(
            state=state,
            filing_type="assignment",
            filer_id=filer.id,
            family=6,
            start=to_key(first),
            last=to_key(first | ((1 << 80) - 1)),
            span_bits=80,
            block=f"2001:db8:{n:x}::/48",
            user_division=division,
            user_organization_id=user.id if user else None,
            user_name=user.name if user else "某用户单位",
            due_on=None if due_in is None else self.today + timedelta(days=due_in),
            review_due_on=None if review_due_in is None else self.today + timedelta(days=review_due_in),
        )
        self.db.add(filing)
        self.db.flush()
        return filing

    def decision(self, submitted: datetime, decided: datetime | None, outcome: str) -> FilingVersion:
        filing = self.filing(self.create_org(kind="carrier"), "approved")
        version = FilingVersion(
            filing_id=filing.id,
            version=1,
            values={},
            submitted_at=submitted,
            submitted_by="carrier-user",
            outcome=outcome,
            decided_at=decided,
        )
        self.db.add(version)
        self.db.flush()
        return version


@pytest.fixture
def world(db: Session, create_org: Callable[..., Organization]) -> World:
    return World(db, create_org)


@dataclass
class Filings:
    """Twelve filings of two carriers in every state a regulator sees, some overdue."""

    alpha: Organization
    beta: Organization


@pytest.fixture
def filings(world: World) -> Filings:
    alpha = world.create_org(kind="carrier", code="alpha", name="甲通信")
    beta = world.create_org(kind="carrier", code="beta", name="乙通信")
    world.filing(alpha, "draft", division="120101", due_in=-1)  # past the filing deadline
    world.filing(alpha, "draft", division="120101", due_in=5)
    world.filing(alpha, "draft", division="120116", due_in=0)  # due today: not yet overdue
    world.filing(beta, "returned", division="120116", due_in=-3)  # past the filing deadline
    world.filing(alpha, "submitted", division="120101", due_in=-10, review_due_in=-1)  # review overdue only
    world.filing(beta, "submitted", review_due_in=2)
    world.filing(alpha, "approved", division="120116", due_in=-30)
    world.filing(beta, "approved", division="120101")
    world.filing(alpha, "change_submitted", division="120116", review_due_in=-2)  # review overdue
    world.filing(beta, "rejected", division="120101", due_in=-40)
    world.filing(alpha, "cancelled", due_in=-40)
    world.filing(beta, "change_returned", division="129999", due_in=-1)  # past the filing deadline
    return Filings(alpha, beta)


# -- the figures -----------------------------------------------------------------------------------------------


def test_filings_are_counted_by_state_with_those_overdue(world: World, filings: Filings) -> None:
    figures = {f.state.value: (f.filings, f.overdue) for f in filings_by_state(world.db, today=world.today)}
    assert figures == {
        "draft": (3, 1), "submitted": (2, 1), "returned": (1, 1), "approved": (2, 0), "change_submitted": (1, 1),
        "change_returned": (1, 1), "rejected": (1, 0), "cancelled": (1, 0),
    }  # fmt: skip


def test_overdue_is_a_filing_deadline_passed_with_the_filer_or_a_review_past_its_target(
    world: World, filings: Filings
) -> None:
    figures = dashboard(world.db, today=world.today, now=datetime.now(UTC))
    assert (figures.filings, figures.awaiting_review) == (12, 3)
    assert (figures.past_filing_deadline, figures.review_overdue) == (3, 2)


def test_filings_are_counted_per_filer_by_what_awaits_whom(world: World, filings: Filings) -> None:
    ranking = filings_per_filer(world.db, today=world.today)
    counts = {
        g.name: (g.filings, g.approved, g.awaiting_review, g.past_filing_deadline, g.review_overdue)
        for g in ranking.groups
    }
    assert counts == {"甲通信": (7, 1, 2, 1, 2), "乙通信": (5, 1, 1, 2, 0)}
    assert [g.key for g in ranking.groups] == [filings.alpha.id, filings.beta.id]  # the busiest first


def test_filings_are_counted_per_district_of_the_user_organization(world: World, filings: Filings) -> None:
    ranking = filings_per_district(world.db, today=world.today)
    assert [(g.key, g.filings, g.approved, g.awaiting_review, g.past_filing_deadline, g.review_overdue)
            for g in ranking.groups] == [
        ("120101", 5, 1, 1, 1, 1), ("120116", 4, 1, 1, 1, 1), (None, 2, 0, 1, 0, 0), ("129999", 1, 0, 0, 1, 0),
    ]  # fmt: skip
    assert ranking.total_groups == 4 and not ranking.partial


def test_a_long_ranking_shows_the_busiest_and_says_how_many_there_are(world: World, filings: Filings) -> None:
    ranking = filings_per_district(world.db, today=world.today, limit=2)
    assert [g.key for g in ranking.groups] == ["120101", "120116"]
    assert ranking.total_groups == 4 and ranking.partial


def china(day: str, clock: str) -> datetime:
    """A moment given in China time, as the database keeps it (UTC)."""
    return datetime.fromisoformat(f"{day}T{clock}+08:00").astimezone(UTC)


def test_review_time_counts_working_days_of_the_official_calendar_by_the_day_in_china(world: World) -> None:
    world.decision(china("2025-03-03", "09:00"), china("2025-03-04", "10:00"), "approved")  # 1
    world.decision(china("2025-03-03", "09:00"), china("2025-03-10", "16:00"), "returned")  # 5
    world.decision(china("2025-03-03", "09:00"), china("2025-03-17", "09:00"), "rejected")  # 10
    world.decision(china("2025-02-10", "09:00"), china("2025-03-24", "09:00"), "approved")  # 30
    # Friday 07:30 in China is Thursday in UTC: one working day to Monday, not two.
    world.decision(china("2025-03-07", "07:30"), china("2025-03-10", "09:00"), "approved")  # 1
    # Labour Day 2025: 1–5 May off, so from 30 April the next working day is 6 May.
    world.decision(china("2025-04-30", "09:00"), china("2025-05-06", "09:00"), "approved")  # 1
    world.decision(china("2025-03-03", "09:00"), china("2025-03-05", "09:00"), "withdrawn")  # not a decision
    world.decision(china("2025-05-12", "09:00"), None, "pending")  # not decided
    world.decision(china("2025-01-06", "09:00"), china("2025-02-10", "09:00"), "approved")  # before the 90 days
    review = review_times(world.db, now=china("2025-05-20", "12:00"))
    assert review.decisions == 6 and review.median == 3  # 1 1 1 5 10 30
    assert [(band.low, band.high, band.decisions) for band in review.bands] == [
        (0, 5, 4), (6, 10, 1), (11, 20, 0), (21, None, 1)
    ]  # fmt: skip


def test_without_decisions_there_is_no_median(world: World) -> None:
    review = review_times(world.db, now=datetime.now(UTC))
    assert review.decisions == 0 and review.median is None
    assert all(band.decisions == 0 for band in review.bands)


@given(st.dictionaries(st.integers(min_value=0, max_value=60), st.integers(min_value=1, max_value=5), min_size=1))
def test_the_median_of_counted_values_is_the_median_of_the_values(tally: dict[int, int]) -> None:
    values = [value for value, times in tally.items() for _ in range(times)]
    assert weighted_median(tally) == stats.median(values)


@dataclass
class Enterprises:
    by_name: dict[str, Organization]


@pytest.fixture
def enterprises(world: World) -> Enterprises:
    """Industrial enterprises (sections B, C, D) with and without IPv6 space and approved filings, and others."""
    carrier = world.create_org(kind="carrier", code="carrier")
    add_prefix(world.db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    blocks = itertools.count(1)

    def enterprise(name: str, industry: str, above: bool, *, v6: bool = False, v4: bool = False) -> Organization:
        org = world.create_org(kind="enterprise", name=name, industry=industry, above_designated_size=above)
        if v6:
            add_prefix(world.db, f"2001:db8:{next(blocks):x}::/48", actor=OPERATOR, kind="assignment", holder=org)
        if v4:
            add_prefix(world.db, "192.0.2.0/24", actor=OPERATOR, kind="allocation", holder=org)
        return org

    orgs = {
        "filed-as-user": enterprise("甲制造", "C", True, v6=True),
        "filed-itself": enterprise("乙矿业", "B", False, v6=True),
        "under-review": enterprise("丙电力", "D", True, v6=True),
        "never-filed": enterprise("丁制造", "C", False, v6=True),
        "ipv4-only": enterprise("戊制造", "C", True, v4=True),
        "no-space": enterprise("己制造", "C", False),
        "change-under-way": enterprise("庚制造", "C", True, v6=True),
        "not-industrial": enterprise("辛软件", "I", True, v6=True),
    }
    world.filing(carrier, "approved", user=orgs["filed-as-user"])
    world.filing(orgs["filed-itself"], "approved")
    world.filing(carrier, "submitted", user=orgs["under-review"])
    world.filing(carrier, "rejected", user=orgs["never-filed"])
    world.filing(carrier, "change_submitted", user=orgs["change-under-way"])  # the approval still stands
    world.filing(carrier, "approved", user=orgs["not-industrial"])
    return Enterprises(orgs)


def test_progress_counts_industrial_enterprises_holding_ipv6_space_and_those_with_an_approved_filing(
    world: World, enterprises: Enterprises
) -> None:
    progress = policy_progress(world.db)
    every, above = progress.all, progress.above_designated_size
    assert (every.enterprises, every.holding_ipv6, every.filed, every.unfiled) == (7, 5, 3, 2)
    assert (above.enterprises, above.holding_ipv6, above.filed, above.unfiled) == (4, 3, 2, 1)
    assert above.filed_share == pytest.approx(2 / 3) and every.holding_share == pytest.approx(5 / 7)


def test_enterprises_without_an_approved_filing_are_listed_those_above_designated_size_first(
    world: World, enterprises: Enterprises
) -> None:
    listed = unfiled_enterprises(world.db)
    assert [org.name for org in listed] == ["丙电力", "丁制造"]
    assert [org.code for org in unfiled_enterprises(world.db, limit=1)] == [enterprises.by_name["under-review"].code]


def test_progress_is_empty_without_industrial_enterprises(world: World) -> None:
    progress = policy_progress(world.db)
    assert progress.all.enterprises == 0 and progress.all.holding_share is None and progress.all.filed_share is None


# -- the page --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["carrier", "allocator", "enterprise"])
def test_only_regulators_see_the_dashboard(client: FlaskClient, login_as: Callable[..., User], role: str) -> None:
    login_as(role)
    assert client.get(URL).status_code == 403


@pytest.mark.parametrize("role", ["regulator", "regulator-admin"])
def test_regulators_see_the_dashboard(client: FlaskClient, login_as: Callable[..., User], role: str) -> None:
    login_as(role)
    assert client.get(URL).status_code == 200


def test_signing_in_comes_first(client: FlaskClient) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


LINKED_NUMBER = re.compile(r'<a href="(/filings\?[^"]*)">(\d+)</a>')


def test_every_number_links_to_the_list_of_exactly_the_filings_it_counts(
    client: FlaskClient, login_as: Callable[..., User], world: World, filings: Filings
) -> None:
    regulator = login_as("regulator")
    page = client.get(URL).get_data(as_text=True)
    links = [(html.unescape(href), int(shown)) for href, shown in LINKED_NUMBER.findall(page)]
    assert len(links) > 40  # the cards, and every count of states, overdue, districts and filers
    for href, shown in links:
        flt = filter_from_args(dict(parse_qsl(urlsplit(href).query)))
        statement = queries.filtered(world.db, regulator, flt, today=world.today)
        listed = world.db.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
        assert listed == shown, href


def table_rows(page: str, testid: str) -> list[str]:
    table = page[page.index(f'data-testid="{testid}"') :]
    return re.findall(r"<tr>(.*?)</tr>", table[table.index("<tbody>") : table.index("</tbody>")], re.S)


def test_a_district_nobody_gave_is_counted_but_not_linked(
    client: FlaskClient, login_as: Callable[..., User], filings: Filings
) -> None:
    login_as("regulator")
    rows = table_rows(client.get(URL).get_data(as_text=True), "numbers-districts")
    unlinked = [row for row in rows if "<a " not in row]
    assert len(rows) == 4 and len(unlinked) == 1
    assert re.findall(r'<td class="text-end text-nowrap">(\d+)</td>', unlinked[0]) == ["2", "0", "1", "0", "0"]


def test_the_progress_figure_lists_the_enterprises_that_still_must_file(
    client: FlaskClient, login_as: Callable[..., User], enterprises: Enterprises
) -> None:
    login_as("regulator")
    page = client.get(URL).get_data(as_text=True)
    listed = page[page.index('data-testid="unfiled-enterprises"') :]
    assert "丙电力" in listed and "丁制造" in listed and "庚制造" not in listed and "辛软件" not in listed
    assert f'href="/organizations/{enterprises.by_name["under-review"].code}"' in listed
    assert 'href="#unfiled-enterprises"' in page


def test_the_page_speaks_chinese_by_default_and_english_on_request(
    client: FlaskClient, login_as: Callable[..., User], filings: Filings
) -> None:
    login_as("regulator")
    chinese = client.get(URL).get_data(as_text=True)
    assert 'lang="zh-CN"' in chinese and "和平区" in chinese and "滨海新区" in chinese and "Heping" not in chinese
    token = re.search(r'name="csrf_token" value="([^"]+)"', chinese).group(1)  # type: ignore[union-attr]
    client.post("/language", data={"language": "en", "next": URL, "csrf_token": token})
    english = client.get(URL).get_data(as_text=True)
    assert 'lang="en"' in english and "Heping District" in english and "和平区" not in english
    assert "Filings per district" in english


def test_the_charts_come_from_the_app_itself_and_their_numbers_from_data_attributes(
    client: FlaskClient, login_as: Callable[..., User], filings: Filings
) -> None:
    login_as("regulator")
    response = client.get(URL)
    page = response.get_data(as_text=True)
    sources = re.findall(r"<script([^>]*)>", page)
    assert sources and all(re.search(r'src="/static/[^"]+"', attributes) for attributes in sources)  # no inline
    assert f"/static/{CHART_LIBRARY}/chart.umd.min.js" in page and "/static/filing-dashboard.js" in page
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert (STATIC / CHART_LIBRARY / "LICENSE.md").read_text().startswith("The MIT License")
    assert client.get(f"/static/{CHART_LIBRARY}/chart.umd.min.js").status_code == 200
    charts = [json.loads(html.unescape(spec)) for spec in re.findall(r"data-chart='([^']*)'", page)]
    assert len(charts) == 6
    by_state = charts[0]
    assert by_state["type"] == "doughnut" and sum(by_state["datasets"][0]["data"]) == 12
    assert all(link.startswith("/filings?state=") for link in by_state["datasets"][0]["links"])


# -- statements --------------------------------------------------------------------------------------------------


def grow(world: World, rounds: int) -> None:
    """Each round: a carrier, two industrial enterprises holding IPv6 space (one without an approved filing),
    filings in several states and districts, and a decision."""
    for n in range(rounds):
        carrier = world.create_org(kind="carrier")
        filed, unfiled = (
            world.create_org(kind="enterprise", industry="C", above_designated_size=n % 2 == 0, division_code="120101")
            for _ in range(2)
        )
        for enterprise in (filed, unfiled):
            block = f"2001:db8:{next(world.blocks):x}::/48"
            add_prefix(world.db, block, actor=OPERATOR, kind="allocation", holder=enterprise)
        for state, division in (("draft", "120101"), ("submitted", f"1201{n % 16 + 1:02d}"), ("approved", None)):
            world.filing(carrier, state, division=division, due_in=-1, review_due_in=-1, user=filed)
        now = datetime.now(UTC)
        world.decision(now - timedelta(days=n + 3), now - timedelta(days=n), "approved")


def test_the_page_reads_the_same_statements_however_many_filings_and_organizations(
    client: FlaskClient, login_as: Callable[..., User], world: World
) -> None:
    login_as("regulator")
    counted = []
    for rounds in (1, 8):
        grow(world, rounds)
        with count_statements() as log:
            assert client.get(URL).status_code == 200
        counted.append(log)
    assert counted[0].count == counted[1].count, f"{counted[0]}\n---\n{counted[1]}"
