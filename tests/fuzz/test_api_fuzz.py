"""Schemathesis fuzzing of ``/api/v1``: every operation, with a regulator administrator's and a carrier's token.

Not part of the normal run (tests/conftest.py leaves this folder out unless V6BEIAN_FUZZ is set); ``make fuzz``
runs it. Each backend gets a
fresh, migrated database with the demo data, a few more prefixes and an import; the app answers in-process over
WSGI with PROPAGATE_EXCEPTIONS off, as in production, so a crash is a 500 and its traceback is taken from the log.

The test fails only for a 5xx (``not_a_server_error``, shrunk by Hypothesis to a minimal request). The other
conformance checks (status code, content type, response schema and headers) are recorded without failing. Both
kinds land, deduplicated, in the JSON report: ``$FUZZ_REPORT``, by default test-artifacts/fuzz-report.json.

Knobs: FUZZ_MAX_EXAMPLES (examples per operation, role and backend; default 100: about two minutes), V6BEIAN_TEST_BACKENDS.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from flask import Flask
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from sqlalchemy import select

from accounts import operations as accounts_ops
from accounts.models import Organization, User
from app import create_app
from core import migrate
from core.demo import DemoContext, run_demo_loaders
from core.extensions import db
from core.policy import OPERATOR
from importers.models import ImportBatch
from ipam import operations as ipam_ops
from ipam.models import Prefix
from ipam.space import Strategy
from tests.support import BACKENDS, fresh_database

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "100"))
REPORT = Path(os.environ.get("FUZZ_REPORT", Path(__file__).resolve().parents[2] / "test-artifacts/fuzz-report.json"))
ROLES = {"regulator-admin": "demo-admin", "carrier": "demo-carrier"}
SOFT_CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
CSV_HEADER = "地址段,使用单位名称,统一社会信用代码,分配方式,IP地址使用方式,分配使用时间,所在地区代码,备注"


class _Capture(logging.Handler):
    """Keeps the formatted records (with tracebacks) of ERROR and above since the last ``clear``."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.records: list[str] = []
        self.lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock_:
            self.records.append(self.format(record))

    def clear(self) -> None:
        with self.lock_:
            self.records.clear()


@dataclass
class Findings:
    """5xx and non-conforming responses, one entry per (backend, role, operation, kind, signature)."""

    entries: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)

    def add(self, key: tuple[str, ...], entry: dict[str, Any]) -> None:
        known = self.entries.get(key)
        entry["seen"] = (known["seen"] if known else 0) + 1
        # Hypothesis shrinks towards small inputs: keep the shortest reproduction seen.
        if known is None or len(entry["curl"]) < len(known["curl"]):
            self.entries[key] = entry
        else:
            known["seen"] = entry["seen"]

    def write(self) -> None:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        rows = sorted(self.entries.values(), key=lambda e: (e["kind"], e["operation"], e["backend"], e["role"]))
        REPORT.write_text(json.dumps(rows, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


FINDINGS = Findings()


@dataclass
class FuzzEnv:
    app: Flask
    backend: str
    tokens: dict[str, str]
    prefix_ids: list[int]
    batch_ids: list[int]
    org_codes: list[str]
    log: _Capture
    statuses: dict[str, int] = field(default_factory=dict)


def _seed(app: Flask) -> tuple[dict[str, str], list[str]]:
    """Demo organizations, users and prefixes, more prefixes (IPv4 too), and a token per fuzzed role."""
    with app.app_context(), db.session_scope() as session:
        run_demo_loaders(session, DemoContext(passwords={u: "fuzz-password-1234" for u in [
            "demo-admin", "demo-regulator", "demo-carrier", "demo-allocator", "demo-enterprise"]}))  # fmt: skip
        orgs = {o.code: o for o in session.scalars(select(Organization))}
        v4 = ipam_ops.add_prefix(session, "192.0.2.0/24", actor=OPERATOR, kind="aggregate", holder=orgs["haixing"],
                                 description="IPv4 示例", child_default_len=28)  # fmt: skip
        request = ipam_ops.AllocationRequest(28, 3, Strategy.FIRST_FIT, "assignment", "idc", "v4 客户")
        ipam_ops.allocate_prefixes(session, v4, request, holder=orgs["jingu-zn"], actor=OPERATOR)
        ipam_ops.add_prefix(session, "2001:db8:8000::/36", actor=OPERATOR, kind="aggregate", holder=orgs["haixing"],
                            description="海星第二块", default_strategy=Strategy.BEST_FIT.value)  # fmt: skip
        ipam_ops.add_prefix(session, "2001:db8:8000::/48", actor=OPERATOR, kind="assignment", holder=orgs["haihe-jm"],
                            usage="enterprise-network", description="手工登记")  # fmt: skip
        tokens = {}
        for role, username in ROLES.items():
            user = session.scalar(select(User).where(User.username == username))
            _, secret = accounts_ops.create_token(session, user, name=f"fuzz {role}", days=7, read_only=False,
                                                  actor=user)  # fmt: skip
            tokens[role] = secret
        codes = sorted(orgs)
    # One import through the API, so /imports and /imports/{batch_id} have something to show.
    rows = ["2001:db8:1::/48,甲单位,,指派,,,,", "2001:db8:2::/48,乙单位,,指派,,,,"]
    csv = (CSV_HEADER + "\n" + "\n".join(rows) + "\n").encode()
    response = app.test_client().post(
        "/api/v1/imports", headers={"Authorization": f"Bearer {tokens['carrier']}"},
        data={"mode": "delta", "dry_run": "true", "file": (io.BytesIO(csv), "book.csv")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert response.status_code in (201, 202), response.get_data(as_text=True)
    return tokens, codes


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzEnv]:
    directory = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with fresh_database(request.param, directory) as url:
        migrate.upgrade(url)
        app = create_app(
            {
                "TESTING": False,
                "PROPAGATE_EXCEPTIONS": False,  # as in production: a crash becomes a logged 500
                "DATABASE_URL": url,
                "SECRET_KEY": "fuzz-secret-" + "x" * 40,
                "V6BEIAN_LANGUAGE": "zh_CN",
                "IMPORT_DIR": str(directory / "imports"),
                "IMPORT_JOBS_IMMEDIATE": True,
                "LOG_LEVEL": "WARNING",
            }
        )
        app.instance_path = str(directory / "instance")
        tokens, codes = _seed(app)
        with app.app_context(), db.session_scope() as session:
            prefix_ids = list(session.scalars(select(Prefix.id).order_by(Prefix.id)))
            batch_ids = list(session.scalars(select(ImportBatch.id)))
        capture = _Capture()
        logging.getLogger().addHandler(capture)
        env = FuzzEnv(app, request.param, tokens, prefix_ids, batch_ids, codes, capture)
        REAL.update(prefix_id=prefix_ids, batch_id=batch_ids, code=codes)
        try:
            yield env
        finally:
            logging.getLogger().removeHandler(capture)
            FINDINGS.write()
            print(f"\n[fuzz {request.param}] status counts: {dict(sorted(env.statuses.items()))}")
            assert db.engine is not None
            db.engine.dispose()


@pytest.fixture(params=list(ROLES))
def role(request: pytest.FixtureRequest) -> str:
    return request.param


def _openapi_document() -> dict[str, Any]:
    """The document as the app serves it; building it touches no database."""
    with tempfile.TemporaryDirectory() as directory:
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{directory}/doc.db",
                "SECRET_KEY": "fuzz-secret-" + "x" * 40,
                "IMPORT_DIR": directory,
                "IMPORT_JOBS_IMMEDIATE": True,
            }
        )
        app.instance_path = directory
        document = app.test_client().get("/api/v1/openapi.json").get_json()
        assert db.engine is not None
        db.engine.dispose()
    return document


# Built at import (the document does not depend on the data); each request goes to the current backend's app.
schema = schemathesis.openapi.from_dict(_openapi_document())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
# Ids and codes that exist in the current backend's database, filled in by the fuzz_env fixture.
REAL: dict[str, list[Any]] = {"prefix_id": [], "batch_id": [], "code": []}


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> st.SearchStrategy:
    """Random integers almost never name a real row: often, use an id (or code) that exists."""
    if not path_parameters:
        return st.just(path_parameters)
    options = [st.just(path_parameters)]
    for name, values in REAL.items():
        if name in path_parameters and values:
            options.append(st.sampled_from(list(values)).map(lambda v, n=name: {**path_parameters, n: v}))
    return st.one_of(*options)


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    database=None,  # a fresh search each run; replay one with pytest's --hypothesis-seed=N
)
def test_api(case: schemathesis.Case, fuzz_env: FuzzEnv, role: str) -> None:
    headers = {"Authorization": f"Bearer {fuzz_env.tokens[role]}"}
    fuzz_env.log.clear()
    operation = f"{case.method.upper()} {case.path}"
    try:
        response = case.call(app=fuzz_env.app, headers=headers)
    except Exception as exc:
        # The transport re-raises what Flask's got_request_exception saw: an exception that escaped the view and
        # the error handlers (the client gets Flask's last-resort 500).
        logged = "\n".join(fuzz_env.log.records) or "".join(traceback.format_exception(exc))
        FINDINGS.add(
            (fuzz_env.backend, role, operation, "5xx", f"{type(exc).__name__}: {exc}".splitlines()[0]),
            {"backend": fuzz_env.backend, "role": role, "operation": operation,
             "curl": case.as_curl_command(headers=headers), "status": "500 (exception escaped the error handlers)",
             "response": None, "kind": "5xx", "traceback": logged},
        )  # fmt: skip
        fuzz_env.statuses["exception"] = fuzz_env.statuses.get("exception", 0) + 1
        raise
    status = response.status_code
    fuzz_env.statuses[str(status)] = fuzz_env.statuses.get(str(status), 0) + 1
    curl = case.as_curl_command(headers=headers)
    base = {
        "backend": fuzz_env.backend,
        "role": role,
        "operation": operation,
        "curl": curl,
        "status": status,
        "response": response.text[:2000],
    }
    try:
        case.validate_response(response, checks=SOFT_CHECKS, headers=headers)
    except (FailureGroup, AssertionError) as exc:  # conformance failures: record them, do not fail the test
        failures = getattr(exc, "exceptions", [exc])
        for failure in failures:
            title = getattr(failure, "title", type(failure).__name__)
            where = [line.strip() for line in str(failure).splitlines() if line.strip().startswith("Schema at")]
            signature = f"{title} [{status}] {where[0] if where else ''}"
            FINDINGS.add(
                (fuzz_env.backend, role, base["operation"], "nonconforming", signature),
                {**base, "kind": "nonconforming", "check": signature, "detail": str(failure)[:2000]},
            )
    if status >= 500:
        logged = "\n".join(fuzz_env.log.records)
        last_line = logged.strip().splitlines()[-1] if logged.strip() else response.text[:200]
        FINDINGS.add(
            (fuzz_env.backend, role, base["operation"], "5xx", last_line),
            {**base, "kind": "5xx", "traceback": logged},
        )
        print(f"\n{base['operation']} -> {status}\n{curl}\n{logged}")
    case.validate_response(response, checks=[not_a_server_error], headers=headers)


def test_report_written() -> None:
    """Runs last in the module: leaves the report for ``make fuzz`` to show even when no backend ran."""
    FINDINGS.write()
    print(f"\nfuzz report: {REPORT} ({len(FINDINGS.entries)} findings)")
