"""The regulator's filing dashboard (``/filings/dashboard``): a chart per figure, and under each chart the numbers
behind it, each linking to the filing list filtered to exactly those filings.

A figure is built once as rows of cells (a number and where it leads); the table and the chart are two readings
of it, so they never disagree. The chart travels to ``static/filing-dashboard.js`` as JSON in a ``data-chart``
attribute: the Content-Security-Policy allows no inline script.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import render_template, url_for
from flask_babel import gettext as _

from accounts.validators import division_name
from core.db import utcnow
from core.extensions import db
from core.i18n import current_language
from core.security import allow
from filing import queries, statistics
from filing.blueprint import bp
from filing.choices import ChoiceList, FilingState
from filing.operations import today_for
from filing.permissions import Action
from filing.statistics import Dashboard, GroupFigures, PolicyProgress, Progress, Ranking, ReviewTimes

OVERDUE = "overdue"
QUEUE = "queue"


def filing_list_url(**filters: Any) -> str:
    """The filing list with these filters (query arguments of ``filing.filing_list``; None leaves one out)."""
    return url_for("filing.filing_list", **{name: value for name, value in filters.items() if value is not None})


@dataclass(frozen=True)
class Cell:
    value: int
    url: str | None = None
    share: float | None = None  # shown beside the number, as a percentage


@dataclass(frozen=True)
class Row:
    label: str
    cells: list[Cell]


@dataclass(frozen=True)
class Figure:
    """One chart and the table of its numbers."""

    key: str  # names the figure in the page (ids, test ids)
    title: str
    columns: list[str]
    rows: list[Row]
    chart_type: str = "bar"
    charted: tuple[int, ...] = (0,)  # the columns drawn, one dataset each
    horizontal: bool = False
    notes: list[str] = field(default_factory=list)
    tones: tuple[str, ...] = ()  # a color per dataset (a doughnut: per row), by name: see the script's TONES

    def chart(self) -> dict[str, Any]:
        return {
            "type": self.chart_type,
            "horizontal": self.horizontal,
            "tones": list(self.tones),
            "labels": [row.label for row in self.rows],
            "datasets": [
                {
                    "label": self.columns[column],
                    "data": [row.cells[column].value for row in self.rows],
                    "links": [row.cells[column].url for row in self.rows],
                }
                for column in self.charted
            ],
        }


# -- the figures -------------------------------------------------------------------------------------------------


STATE_TONES = {
    FilingState.DRAFT: "grey", FilingState.SUBMITTED: "blue", FilingState.RETURNED: "yellow",
    FilingState.APPROVED: "green", FilingState.CHANGE_SUBMITTED: "cyan", FilingState.CHANGE_RETURNED: "orange",
    FilingState.REJECTED: "red", FilingState.CANCELLED: "dark", FilingState.DELETED: "dark",
}  # fmt: skip


def states_figure(figures: Dashboard) -> Figure:
    rows = [Row(f.state.label, [Cell(f.filings, filing_list_url(state=f.state.value))]) for f in figures.states]
    tones = tuple(STATE_TONES[f.state] for f in figures.states)
    return Figure("states", _("Filings by state"), [_("Filings")], rows, chart_type="doughnut", tones=tones)


def overdue_figure(figures: Dashboard) -> Figure:
    rows = []
    for f in figures.states:
        if f.state.with_filer:
            rows.append(Row(f.state.label, [Cell(f.overdue, filing_list_url(state=f.state.value, due=OVERDUE))]))
        elif f.state.under_review:
            url = filing_list_url(state=f.state.value, due=OVERDUE, view=QUEUE)
            rows.append(Row(f.state.label, [Cell(f.overdue, url)]))
    notes = [
        _("With the filer (draft or returned): the filing deadline has passed."),
        _("Awaiting review: the review's target day has passed."),
    ]
    return Figure("overdue", _("Overdue"), [_("Overdue filings")], rows, horizontal=True, notes=notes, tones=("red",))


def _band_label(low: int, high: int | None) -> str:
    if high is None:
        return _("More than %(days)d working days", days=low - 1)
    return _("%(low)d–%(high)d working days", low=low, high=high)


def review_figure(review: ReviewTimes) -> Figure:
    rows = [Row(_band_label(band.low, band.high), [Cell(band.decisions)]) for band in review.bands]
    notes = [
        _("Decisions (approved, returned or rejected) of the last %(days)d days.", days=statistics.REVIEW_WINDOW_DAYS)
    ]
    if review.median is not None:
        notes.insert(0, _("Median: %(days)s working days from submission to decision.", days=f"{review.median:g}"))
    return Figure("review-time", _("Review time in working days"), [_("Decisions")], rows, notes=notes, tones=("blue",))


# The columns of the district and filer tables: the count, and the filing list's filter that shows those filings.
GROUP_COLUMNS: tuple[tuple[str, dict[str, str]], ...] = (
    ("filings", {}),
    ("approved", {"state": FilingState.APPROVED.value}),
    ("awaiting_review", {"state": "review"}),
    ("past_filing_deadline", {"state": "with_filer", "due": OVERDUE}),
    ("review_overdue", {"due": OVERDUE, "view": QUEUE}),
)

GROUP_TONES = ("blue", "red", "yellow")  # the charted columns: filings, past the filing deadline, review overdue


def _group_headers() -> list[str]:
    return [_("Filings"), _("Approved"), _("Awaiting review"), _("Past the filing deadline"), _("Review overdue")]


def _group_cells(group: GroupFigures[Any], **where: Any) -> list[Cell]:
    """The counts of a district or filer, each linking to the list of those filings (``where``: the group's
    filter; no links when it is None, which the list cannot select)."""
    linked = all(value is not None for value in where.values())
    return [
        Cell(getattr(group, count), filing_list_url(**where, **filters) if linked else None)
        for count, filters in GROUP_COLUMNS
    ]


def district_name(code: str | None) -> str:
    """A division in the reader's language; an unknown code as it was filed."""
    if code is None:
        return _("Not given")
    return division_name(code, chinese=current_language() == "zh_CN") or code


def districts_figure(ranking: Ranking[str | None]) -> Figure:
    rows = [Row(district_name(g.key), _group_cells(g, district=g.key)) for g in ranking.groups]
    partial = _("The %(shown)d districts with the most filings, of %(total)d.", shown=len(ranking.groups),
                total=ranking.total_groups)  # fmt: skip
    notes = [_("Districts of the user organizations, as filed."), *([partial] if ranking.partial else [])]
    return _ranking_figure("districts", _("Filings per district"), rows, notes)


def filers_figure(ranking: Ranking[int]) -> Figure:
    rows = [Row(g.name or "", _group_cells(g, filer=g.key)) for g in ranking.groups]
    partial = _("The %(shown)d filers with the most filings, of %(total)d.", shown=len(ranking.groups),
                total=ranking.total_groups)  # fmt: skip
    return _ranking_figure("filers", _("Filings per filer"), rows, [partial] if ranking.partial else [])


def _ranking_figure(key: str, title: str, rows: list[Row], notes: list[str]) -> Figure:
    """A bar per group (district, filer): filings, past their deadline, reviews overdue."""
    return Figure(key, title, _group_headers(), rows, charted=(0, 3, 4), horizontal=True, notes=notes,
                  tones=GROUP_TONES)  # fmt: skip


def _progress_cells(progress: Progress, unfiled_url: str) -> list[Cell]:
    return [
        Cell(progress.enterprises),
        Cell(progress.holding_ipv6, share=progress.holding_share),
        Cell(progress.filed, share=progress.filed_share),
        Cell(progress.unfiled, unfiled_url),
    ]


def progress_figure(progress: PolicyProgress) -> Figure:
    unfiled_url = "#unfiled-enterprises"
    rows = [
        Row(_("All industrial enterprises"), _progress_cells(progress.all, unfiled_url)),
        Row(_("Above designated size"), _progress_cells(progress.above_designated_size, unfiled_url)),
    ]
    columns = [
        _("Industrial enterprises"),
        _("Holding IPv6 space"),
        _("With an approved filing"),
        _("Without an approved filing"),
    ]
    notes = [
        _("Industrial enterprises: enterprises in GB/T 4754 sections B (mining), C (manufacturing) and D (utilities)."),
        _("Holding IPv6 space: an IPv6 prefix in the registry names the enterprise as its holder (share of all)."),
        _("With an approved filing: of those holding IPv6 space, filed by the enterprise or naming it as the user."),
    ]
    tones = ("blue", "cyan", "green")
    return Figure("progress", _("Progress of the policy"), columns, rows, charted=(0, 1, 2), notes=notes, tones=tones)


# -- the page ----------------------------------------------------------------------------------------------------


@bp.get("/dashboard")
@allow(Action.VIEW_FILING_STATISTICS)
def dashboard() -> str:
    session = db.session
    figures = statistics.dashboard(session, today=today_for(session), now=utcnow())
    charts = [
        states_figure(figures),
        overdue_figure(figures),
        review_figure(figures.review),
        districts_figure(figures.districts),
        filers_figure(figures.filers),
        progress_figure(figures.progress),
    ]
    names = queries.choice_names(session, chinese=current_language() == "zh_CN")
    industries = {code: name for (list_name, code), name in names.items() if list_name == ChoiceList.INDUSTRY.value}
    return render_template(
        "filing/dashboard.html", figures=figures, charts=charts, industries=industries, list_url=filing_list_url
    )
