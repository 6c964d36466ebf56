"""The load test's simulated people (``bench/loadtest/run.py`` builds their world and starts Locust with it).

* Regulator staff sign in and browse: the dashboards, the prefix list and search, prefix pages (a leaf and a
  parent of hundreds of thousands of children), the filings list.
* Carrier staff allocate and release through the JSON API with their tokens: every user of a carrier allocates
  /56s from the same large parent, and /64s from one small pool that is often full.
* Enterprise staff read their own prefixes, as pages and through the API.

The world comes from the JSON file LOADTEST_WORLD names; on exit the figures (each request kind's percentiles,
the allocations per parent, the failures) are written to the file LOADTEST_STATS names.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task
from locust.env import Environment

from tests.support import csrf_token_in

WORLD: dict[str, Any] = json.loads(Path(os.environ["LOADTEST_WORLD"]).read_text(encoding="utf-8"))
PERCENTILES = (0.5, 0.95, 0.99)
LIVE_ALLOCATIONS = 4  # a carrier user releases its oldest allocation once it holds more than this

# Successful allocations per parent label, and the 409s that said the parent is full (expected, not errors).
allocated: Counter[str] = Counter()
exhausted: Counter[str] = Counter()
window: dict[str, float] = {}
_accounts = {kind: itertools.count() for kind in ("regulators", "carriers", "enterprises")}


def next_account(kind: str) -> dict[str, Any]:
    """The accounts of a role in turn (with more simulated users than accounts, several share one)."""
    pool = WORLD[kind]
    return pool[next(_accounts[kind]) % len(pool)]


class ApiCaller(HttpUser):
    """Someone (or a script) with an API token, the account's own."""

    abstract = True
    kind = ""

    def on_start(self) -> None:
        self.account = next_account(self.kind)

    def api(self, method: str, url: str, name: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.account['token']}"}
        return self.client.request(method, url, name=name, headers=headers, catch_response=True, **kwargs)

    def api_call(self, method: str, url: str, name: str, *, expect: int = 200, **kwargs: Any) -> None:
        with self.api(method, url, name, **kwargs) as response:
            if response.status_code != expect:
                response.failure(f"{response.status_code} {error_code(response)}")


class SignedInUser(ApiCaller):
    """Someone using the pages too: signs in through the form (with its CSRF token) once, then browses."""

    abstract = True
    wait_time = between(1.0, 5.0)  # a person reads a page for a few seconds

    def on_start(self) -> None:
        super().on_start()
        form = self.client.get("/login", name="sign-in form")
        token = csrf_token_in(form.text)
        with self.client.post(
            "/login", name="sign in", allow_redirects=False, catch_response=True,
            data={"username": self.account["username"], "password": WORLD["password"], "csrf_token": token},
        ) as response:  # fmt: skip
            if response.status_code != 302 or "/login" in response.headers.get("Location", ""):
                response.failure(f"sign-in refused: {response.status_code}")

    def page(self, url: str, name: str, *, expect: int = 200) -> None:
        with self.client.get(url, name=name, allow_redirects=False, catch_response=True) as response:
            if response.status_code != expect:
                where = response.headers.get("Location", "")
                response.failure(f"{response.status_code} {where}".strip())


class Regulator(SignedInUser):
    """Regulator staff overseeing the whole registry."""

    weight = 4
    kind = "regulators"

    @task(3)
    def dashboard(self) -> None:
        self.page("/", "page: dashboard")

    @task(1)
    def filing_dashboard(self) -> None:
        self.page("/filings/dashboard", "page: filing dashboard")

    @task(2)
    def prefix_list(self) -> None:
        self.page("/prefixes", "page: prefix list")

    @task(3)
    def prefix_search(self) -> None:
        leaf = random.choice(WORLD["leaves"])
        self.page(f"/prefixes?q={leaf['address']}", "page: prefix search (address)", expect=302)

    @task(2)
    def search(self) -> None:
        self.page(f"/search?q={random.choice(WORLD['search_terms'])}", "page: search")

    @task(3)
    def leaf_page(self) -> None:
        self.page(f"/prefixes/{random.choice(WORLD['leaves'])['id']}", "page: prefix (leaf)")

    @task(2)
    def parent_page(self) -> None:
        parent = random.choice(WORLD["parents"])
        self.page(f"/prefixes/{parent['id']}", "page: prefix (large parent)")

    @task(2)
    def filing_list(self) -> None:
        self.page("/filings", "page: filing list")


class Carrier(ApiCaller):
    """A carrier's automation: allocations and releases on the carrier's shared parent and pool."""

    weight = 4
    kind = "carriers"
    wait_time = between(0.0, 0.1)  # scripts: the next call as soon as the last one is answered

    def on_start(self) -> None:
        super().on_start()
        self.parent = WORLD["parents"][self.account["parent"]]
        self.pool = WORLD["pools"][self.account["parent"]]
        self.live: dict[str, list[int]] = {"parent": [], "pool": []}

    def allocate(self, where: str, block: dict[str, Any]) -> None:
        body = {"length": block["length"], "holder": random.choice(WORLD["holders"])}
        with self.api("POST", f"/api/v1/prefixes/{block['id']}/allocate", f"api: allocate /{block['length']} "
                      f"({where})", json=body) as response:  # fmt: skip
            if response.status_code == 201:
                allocated[block["label"]] += 1
                self.live[where].append(response.json()[0]["id"])
            elif response.status_code == 409 and error_code(response) == "space_exhausted":
                exhausted[block["label"]] += 1
                response.success()
            else:
                response.failure(f"{response.status_code} {error_code(response)}")
        if len(self.live[where]) > LIVE_ALLOCATIONS:
            self.release(where)

    def release(self, where: str) -> None:
        prefix_id = self.live[where].pop(0)
        self.api_call("DELETE", f"/api/v1/prefixes/{prefix_id}", f"api: release ({where})", expect=204)

    @task(8)
    def allocate_from_parent(self) -> None:
        self.allocate("parent", self.parent)

    @task(2)
    def allocate_from_pool(self) -> None:
        self.allocate("pool", self.pool)

    @task(1)
    def available(self) -> None:
        url = f"/api/v1/prefixes/{self.parent['id']}/available?length={self.parent['length']}&limit=10"
        self.api_call("GET", url, "api: available")


class Enterprise(SignedInUser):
    """An enterprise's staff, reading the few hundred prefixes their organization holds."""

    weight = 2
    kind = "enterprises"

    def own(self) -> dict[str, Any]:
        return random.choice(self.account["prefixes"])

    @task(1)
    def dashboard(self) -> None:
        self.page("/", "page: dashboard")

    @task(2)
    def prefix_list(self) -> None:
        self.page("/prefixes", "page: prefix list")

    @task(2)
    def prefix_page(self) -> None:
        self.page(f"/prefixes/{self.own()['id']}", "page: prefix (leaf)")

    @task(2)
    def api_list(self) -> None:
        self.api_call("GET", "/api/v1/prefixes?limit=50", "api: prefix list")

    @task(2)
    def api_prefix(self) -> None:
        self.api_call("GET", f"/api/v1/prefixes/{self.own()['id']}", "api: prefix")

    @task(1)
    def api_utilization(self) -> None:
        self.api_call("GET", f"/api/v1/prefixes/{self.own()['id']}/utilization", "api: utilization")


def error_code(response: Any) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


@events.test_start.add_listener
def _started(environment: Environment, **_: Any) -> None:
    window["start"] = time.time()


@events.test_stop.add_listener
def _stopped(environment: Environment, **_: Any) -> None:
    window["stop"] = time.time()


@events.quitting.add_listener
def _write_figures(environment: Environment, **_: Any) -> None:
    stats = environment.stats
    kinds = [
        {
            "method": entry.method, "name": entry.name, "requests": entry.num_requests, "failures": entry.num_failures,
            **{f"p{round(q * 100)}": entry.get_response_time_percentile(q) for q in PERCENTILES},
        }
        for entry in sorted(stats.entries.values(), key=lambda e: e.name)
    ]  # fmt: skip
    errors = [
        {"method": e.method, "name": e.name, "error": str(e.error), "occurrences": e.occurrences}
        for e in sorted(stats.errors.values(), key=lambda e: -e.occurrences)
    ]
    # An exception in a simulated user's own code stops its task without a failed request: an error all the same.
    runner = environment.runner
    errors += [
        {
            "method": "",
            "name": "exception in the scenario",
            "error": f"{e['msg']}\n{e['traceback']}",
            "occurrences": e["count"],
        }
        for e in (runner.exceptions.values() if runner is not None else ())
    ]
    figures = {
        "seconds": window.get("stop", time.time()) - window.get("start", time.time()),
        "kinds": kinds, "errors": errors, "allocated": dict(allocated), "exhausted": dict(exhausted),
    }  # fmt: skip
    Path(os.environ["LOADTEST_STATS"]).write_text(json.dumps(figures, indent=1), encoding="utf-8")
