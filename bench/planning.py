"""Subnet planner speed: previews (pure: no database) and applying a plan (both databases). Targets from issue 14:

* 10,000 /64 leaves in a /48 (10 sites × 10 zones × 100 lines, nibble, the first /64 reserved): ≤ 1 s;
* 100,000 /64 leaves across 100 sites (100 sites × 10 zones × 100 lines in a /40, nibble, headroom 2): ≤ 5 s;
* for information, re-planning the 100,000 with the previous plan and one site more (every node kept in place);
* applying a plan of 10,000 /64 leaves (10 sites × 1,000 lines) to an enterprise's /48: ≤ 10 s on SQLite and on
  PostgreSQL, committed, against ipam's bulk leaf writer (``bulk_add_leaves``) registering the same blocks.

Each is timed BENCH_PLAN_RUNS times (median). The baseline, measured in the same run on the same plans, is the
obvious planner: every copy sized one by one, and every node placed by trying aligned candidate positions one at a
time against a netaddr IPSet of the space taken; its plan is checked to be the same. Applying is timed once per
database (each run needs a fresh one). A missed target is printed as MISSED, never asserted. Run with `make bench`, or alone: `.venv/bin/python bench/planning.py`.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import netaddr
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ipam.planner import NodeSpec, PlanSpec, plan
from ipam.space import Net, format_net, parse_net

RUNS = int(os.environ.get("BENCH_PLAN_RUNS", "5"))
BASELINE_RUNS = int(os.environ.get("BENCH_PLAN_BASELINE_RUNS", "1"))
T = TypeVar("T")


def names(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}-{n}" for n in range(1, count + 1))


def factory(parent: str, sites: int, headroom: int, reserve: tuple[str, ...] = ()) -> PlanSpec:
    line = NodeSpec(names("line", 100), length=64)
    zone = NodeSpec(names("zone", 10), children=(line,))
    return PlanSpec(
        parent=parse_net(parent),
        nodes=(NodeSpec(names("site", sites), children=(zone,)),),
        nibble=True,
        headroom=Fraction(headroom),
        reserved=tuple(parse_net(r) for r in reserve),
    )


def naive_plan(spec: PlanSpec) -> dict[str, Net]:
    """Every copy sized on its own; every node placed by trying candidates one by one against a netaddr IPSet."""
    width = spec.parent.width

    def bits_of(node: NodeSpec) -> int:
        if node.length is not None:
            bits = width - node.length
        else:
            cursor = 0
            for child in node.children:
                for _name in child.names:
                    size = 1 << bits_of(child)
                    cursor = -(-cursor // size) * size + size
            headroom = node.headroom or spec.headroom
            bits = max(0, math.ceil(math.log2(math.ceil(cursor * headroom))))
        return -(-bits // 4) * 4 if spec.nibble else bits

    placed: dict[str, Net] = {}

    def lay_out(children: tuple[NodeSpec, ...], container: Net, path: str, taken: netaddr.IPSet) -> None:
        cursor = container.start
        for child in children:
            for name in child.names:
                bits = bits_of(child)
                size = 1 << bits
                net = Net(-(-cursor // size) * size, width - bits, width)
                while not taken.isdisjoint(netaddr.IPSet([format_net(net)])):
                    net = Net(net.start + size, net.length, width)
                if not container.contains(net):
                    raise ValueError(f"{path}/{name} does not fit")
                taken.add(netaddr.IPNetwork(format_net(net)))
                child_path = f"{path}/{name}" if path else name
                placed[child_path] = net
                lay_out(child.children, net, child_path, netaddr.IPSet())
                cursor = net.start + size

    lay_out(spec.nodes, spec.parent, "", netaddr.IPSet(format_net(r) for r in spec.reserved))
    return placed


def timed(call: Callable[[], T], runs: int) -> tuple[float, T]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), result


def report(title: str, spec: PlanSpec, target: float, previous: dict[str, Net] | None = None) -> dict[str, Net]:
    ours, result = timed(lambda: plan(spec, previous=previous), RUNS)
    prefixes = result.prefixes()
    leaves = sum(1 for path in prefixes if path.count("/") == 2)
    verdict = "ok" if ours <= target else "MISSED"
    line = f"{title}: {len(prefixes):,} nodes ({leaves:,} leaves) in {ours:.3f} s (target ≤ {target:.0f} s: {verdict})"
    if previous is None:
        baseline, expected = timed(lambda: naive_plan(spec), BASELINE_RUNS)
        assert expected == prefixes, "the baseline lays the plan out the same way"
        line += f"; baseline (netaddr, one candidate at a time) {baseline:.3f} s, {baseline / ours:.1f}× slower"
    print(line, flush=True)
    return prefixes


def applying(backend: str, directory: Path, use_plan: bool) -> float:
    """Seconds to register the 10,000 leaves in a fresh database: by applying the plan (its 10 sites too, each
    holding its leaves), or (the baseline) the leaves alone through ``bulk_add_leaves``, the commit included."""
    from accounts.models import Organization
    from accounts.operations import create_organization
    from app import create_app
    from core import migrate
    from core.extensions import db
    from core.policy import OPERATOR
    from ipam.models import Prefix
    from ipam.operations import add_prefix, bulk_add_leaves
    from ipam.plan_apply import apply_plan
    from tests.support import fresh_database

    spec = PlanSpec(
        parse_net("2001:db8:100::/48"),
        (NodeSpec(names("site", 10), children=(NodeSpec(names("line", 1000), length=64),)),),
    )
    laid_out = plan(spec)
    with fresh_database(backend, directory) as url:
        migrate.upgrade(url)
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench-" + "k" * 40, "ALLOW_DOCUMENTATION_PREFIXES": True})
        app.instance_path = str(directory / f"instance-{backend}")
        with app.app_context():
            with db.session_scope() as session:
                holder = create_organization(
                    session, actor=OPERATOR, kind="enterprise", code="factory", name="基准工厂"
                )
                add_prefix(session, laid_out.parent, actor=OPERATOR, kind="assignment", holder=holder)
            started = time.perf_counter()
            with db.session_scope() as session:
                parent = session.scalar(select(Prefix).where(Prefix.network == format_net(laid_out.parent)))
                holder = session.scalar(select(Organization).where(Organization.code == "factory"))
                if use_plan:
                    created = len(apply_plan(session, laid_out, parent=parent, holder=holder, actor=OPERATOR).created)
                else:
                    leaves = [p.net for p in laid_out.placements if "/" in p.path]
                    created = bulk_add_leaves(session, parent, leaves, actor=OPERATOR, kind="subnet", holder=holder)
            elapsed = time.perf_counter() - started
            assert created == (10_010 if use_plan else 10_000)
        assert db.engine is not None
        db.engine.dispose()
    return elapsed


def report_applying() -> None:
    with tempfile.TemporaryDirectory() as folder:
        for backend in ("sqlite", "postgresql"):
            ours = applying(backend, Path(folder), use_plan=True)
            baseline = applying(backend, Path(folder), use_plan=False)
            verdict = "ok" if ours <= 10 else "MISSED"
            print(
                f"applying 10,000 leaves on {backend}: {ours:.3f} s (target ≤ 10 s: {verdict}); baseline "
                f"(bulk_add_leaves, the leaves alone) {baseline:.3f} s, {ours / baseline:.1f}× its time",
                flush=True,
            )


def main() -> None:
    print(f"subnet planner preview, medians of {RUNS} runs (baseline: {BASELINE_RUNS})")
    report("10,000 leaves in a /48", factory("2001:db8:100::/48", 10, 1, ("2001:db8:100::/64",)), 1.0)
    large = factory("2001:db8:100::/40", 100, 2)
    earlier = report("100,000 leaves across 100 sites", large, 5.0)
    one_more = replace(large, nodes=(replace(large.nodes[0], names=names("site", 101)),))
    report("re-plan of the 100,000 with one site more, all kept", one_more, 5.0, earlier)
    report_applying()


if __name__ == "__main__":
    main()
