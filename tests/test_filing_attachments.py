"""A filing's documents: PDF files and images only, by their content; size-limited; stored outside the web root by
a random name; served only to those who may see the filing, as a download under the name the filer gave."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from accounts.models import AuditEvent
from core.errors import PermissionDenied, ValidationFailed
from core.workflow import IllegalTransition
from filing import operations
from filing.attachments import (
    FILE_TYPES,
    MAX_ATTACHMENTS,
    Upload,
    add_attachment,
    attachment_dir,
    display_name,
    remove_attachment,
    sniff,
    stored_path,
    sweep_attachment_files,
)
from filing.models import Filing, FilingAttachment
from tests.conftest import TEST_PASSWORD
from tests.filing_support import FilingWorld
from tests.support import csrf_token_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
HTML = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
PDF_TYPE, PNG_TYPE = FILE_TYPES[0], FILE_TYPES[1]


class Unseekable(io.RawIOBase):
    """An upload stream that cannot tell its size in advance (read as it arrives)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def seekable(self) -> bool:
        return False

    def seek(self, *_args: Any) -> int:
        raise OSError("not seekable")

    def tell(self) -> int:
        raise OSError("not seekable")


@pytest.fixture
def context(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app


def stored_files(app: Flask) -> list[Path]:
    directory = Path(app.instance_path) / "attachments"
    return sorted(directory.iterdir()) if directory.is_dir() else []


def attach(world: FilingWorld, filing: Filing, data: bytes, name: str, actor: Any = None) -> FilingAttachment:
    return add_attachment(world.db, filing, Upload(io.BytesIO(data), name), actor=actor or world.carrier_user)


def sign_in(client: FlaskClient, user: Any) -> None:
    token = csrf_token_in(client.get("/login").get_data(as_text=True))
    answer = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD, "csrf_token": token})
    assert answer.status_code == 302


# --- what is taken ----------------------------------------------------------------------------------------------


def test_a_png_is_stored_outside_the_web_root_by_a_random_name_and_audited(world: FilingWorld, context: Flask) -> None:
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    document = attach(world, draft, PNG, "机房照片.png")
    path = stored_path(document)
    assert (document.content_type, document.size, document.filename) == ("image/png", len(PNG), "机房照片.png")
    assert path.read_bytes() == PNG and path.parent == Path(context.instance_path) / "attachments"
    assert "机房" not in document.stored_name and not path.is_relative_to(Path(context.root_path) / "static")
    audit = world.db.scalars(select(AuditEvent).where(AuditEvent.action == "filing.attach")).one()
    assert audit.object_id == str(draft.id) and audit.changes["attachment"] == [None, "机房照片.png"]


def test_an_html_page_named_pdf_is_refused_and_nothing_is_stored(world: FilingWorld, context: Flask) -> None:
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    with pytest.raises(ValidationFailed) as refused:
        attach(world, draft, HTML, "许可证.pdf")
    assert "file" in refused.value.fields
    assert stored_files(context) == [] and world.db.scalars(select(FilingAttachment)).all() == []


@pytest.mark.parametrize("stream", [io.BytesIO, Unseekable], ids=["seekable", "unseekable"])
def test_a_file_over_the_size_limit_is_refused_and_nothing_is_stored(
    world: FilingWorld, context: Flask, stream: Any
) -> None:
    context.config["FILING_ATTACHMENT_MAX_BYTES"] = 1024
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    with pytest.raises(ValidationFailed) as refused:
        add_attachment(world.db, draft, Upload(stream(PDF + bytes(2048)), "big.pdf"), actor=world.carrier_user)
    assert "1 KiB" in str(refused.value.fields["file"][0])
    assert stored_files(context) == [] and world.db.scalars(select(FilingAttachment)).all() == []


def test_a_file_at_the_size_limit_is_taken(world: FilingWorld, context: Flask) -> None:
    context.config["FILING_ATTACHMENT_MAX_BYTES"] = 1024
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    data = PDF + bytes(1024 - len(PDF))
    document = add_attachment(world.db, draft, Upload(Unseekable(data), "a.pdf"), actor=world.carrier_user)
    assert document.size == 1024 and stored_path(document).read_bytes() == data


@pytest.mark.parametrize(
    ("head", "content_type"),
    [(PDF, "application/pdf"), (PNG, "image/png"), (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
     (b"GIF89a\x01\x00", "image/gif"), (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
     (HTML, None), (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None), (b"PK\x03\x04", None), (b"", None)],
)  # fmt: skip
def test_the_type_is_read_from_the_content(head: bytes, content_type: str | None) -> None:
    kind = sniff(head[:16])
    assert (kind.content_type if kind else None) == content_type


def test_a_filing_holds_at_most_its_number_of_documents(world: FilingWorld, context: Flask) -> None:
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    for n in range(MAX_ATTACHMENTS):
        attach(world, draft, PNG, f"{n}.png")
    with pytest.raises(ValidationFailed):
        attach(world, draft, PNG, "one-more.png")
    assert len(stored_files(context)) == MAX_ATTACHMENTS


@pytest.mark.parametrize(
    ("given", "kind", "shown"),
    [("C:\\Users\\张工\\营业执照.pdf", PDF_TYPE, "营业执照.pdf"), ("../../etc/passwd.pdf", PDF_TYPE, "passwd.pdf"),
     ("report\u202efdp.exe.pdf", PDF_TYPE, "reportfdp.exe.pdf"), ("a\x00b\nc.png", PNG_TYPE, "abc.png"),
     ("scan.pdf", PNG_TYPE, "scan.pdf.png"), ("photo.JPG", FILE_TYPES[2], "photo.JPG"), ("", PDF_TYPE, "attachment.pdf"),
     (".pdf", PDF_TYPE, "attachment.pdf"), ('a<b>:"c"|?*.pdf', PDF_TYPE, "a_b___c____.pdf")],
)  # fmt: skip
def test_the_shown_name_keeps_chinese_and_loses_paths_and_control_characters(given: str, kind: Any, shown: str) -> None:
    assert display_name(given, kind) == shown


def test_a_long_name_is_cut_keeping_its_extension() -> None:
    shown = display_name("备" * 300 + ".pdf", PDF_TYPE)
    assert len(shown) == 200 and shown.endswith("备.pdf")


# --- when, and by whom ------------------------------------------------------------------------------------------------


def test_only_the_filer_attaches(world: FilingWorld, context: Flask) -> None:
    world.carrier_holding()
    submitted = world.submitted(world.carrier, "assignment", "2001:db8:1::/48")
    operations.return_filing(world.db, submitted, actor=world.regulator, comment="add the contract")
    for outsider in (world.enterprise_user, world.other_carrier_user, world.regulator):
        with pytest.raises(PermissionDenied):
            attach(world, submitted, PDF, "contract.pdf", actor=outsider)
    assert attach(world, submitted, PDF, "contract.pdf").filename == "contract.pdf"


def test_nothing_is_attached_or_removed_while_the_filing_is_under_review(world: FilingWorld, context: Flask) -> None:
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    document = attach(world, draft, PDF, "apnic.pdf")
    operations.submit_filing(world.db, draft, actor=world.carrier_user)
    with pytest.raises(IllegalTransition):
        attach(world, draft, PNG, "late.png")
    with pytest.raises(IllegalTransition):
        remove_attachment(world.db, draft, document, actor=world.carrier_user)


def test_an_approved_filing_takes_evidence_for_a_change_but_keeps_what_was_reviewed(
    world: FilingWorld, context: Flask
) -> None:
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    reviewed = attach(world, draft, PDF, "apnic.pdf")
    operations.submit_filing(world.db, draft, actor=world.carrier_user)
    operations.approve_filing(world.db, draft, actor=world.regulator)
    evidence = attach(world, draft, PDF, "new-contract.pdf")
    with pytest.raises(IllegalTransition):
        remove_attachment(world.db, draft, reviewed, actor=world.carrier_user)
    remove_attachment(world.db, draft, evidence, actor=world.carrier_user)
    assert world.db.scalars(select(FilingAttachment.filename)).all() == ["apnic.pdf"]


def test_a_removed_documents_file_goes_when_the_removal_commits(world: FilingWorld, context: Flask) -> None:
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    document = attach(world, draft, PDF, "apnic.pdf")
    path = stored_path(document)
    world.db.commit()
    remove_attachment(world.db, draft, document, actor=world.carrier_user)
    world.db.rollback()  # a removal that did not happen keeps its file
    assert path.is_file()
    document = world.db.get(FilingAttachment, document.id)
    remove_attachment(world.db, world.db.get(Filing, draft.id), document, actor=world.carrier_user)
    assert path.is_file()  # the row is gone only once the transaction commits
    world.db.commit()
    assert not path.exists()
    actions = world.db.scalars(select(AuditEvent.action).where(AuditEvent.action.like("filing.%tach"))).all()
    assert sorted(actions) == ["filing.attach", "filing.detach"]


def test_an_upload_whose_transaction_rolls_back_leaves_no_file(world: FilingWorld, context: Flask) -> None:
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    world.db.commit()
    attach(world, world.db.get(Filing, draft.id), PDF, "apnic.pdf")
    assert len(stored_files(context)) == 1
    world.db.rollback()
    assert stored_files(context) == []


def test_the_sweep_deletes_old_files_no_document_names(world: FilingWorld, context: Flask) -> None:
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    kept = stored_path(attach(world, draft, PDF, "apnic.pdf"))
    stray, fresh = attachment_dir() / ("a" * 32), attachment_dir() / ("b" * 32)
    stray.write_bytes(PDF)
    fresh.write_bytes(PDF)
    old = time.time() - 2 * 3600
    os.utime(stray, (old, old))
    os.utime(kept, (old, old))
    assert sweep_attachment_files(world.db) == 1
    assert kept.is_file() and fresh.is_file() and not stray.exists()


# --- the pages ----------------------------------------------------------------------------------------------------


def test_the_filer_uploads_from_the_filing_page_and_downloads_under_the_given_name(
    world: FilingWorld, client: FlaskClient
) -> None:
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    world.db.commit()
    sign_in(client, world.carrier_user)
    page = client.get(f"/filings/{draft.id}").get_data(as_text=True)
    assert 'data-testid="attach-form"' in page
    answer = client.post(f"/filings/{draft.id}/attachments",
                         data={"csrf_token": csrf_token_in(page), "file": (io.BytesIO(PNG), "网关照片.png")})  # fmt: skip
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/filings/{draft.id}")
    document = world.db.scalars(select(FilingAttachment)).one()
    listed = client.get(f"/filings/{draft.id}").get_data(as_text=True)
    assert f"/filings/{draft.id}/attachments/{document.id}" in listed and "网关照片.png" in listed
    download = client.get(f"/filings/{draft.id}/attachments/{document.id}")
    assert download.status_code == 200 and download.data == PNG
    assert download.mimetype == "image/png" and download.headers["X-Content-Type-Options"] == "nosniff"
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and f"filename*=UTF-8''{quote('网关照片.png')}" in disposition
    assert "sandbox" in download.headers["Content-Security-Policy"]


def test_a_refused_upload_is_named_on_the_filing_page(world: FilingWorld, client: FlaskClient, app: Flask) -> None:
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    world.db.commit()
    sign_in(client, world.carrier_user)
    token = csrf_token_in(client.get(f"/filings/{draft.id}").get_data(as_text=True))
    answer = client.post(f"/filings/{draft.id}/attachments", data={"csrf_token": token,
                         "file": (io.BytesIO(HTML), "license.pdf")}, follow_redirects=True)  # fmt: skip
    assert answer.status_code == 200 and 'class="alert alert-danger' in answer.get_data(as_text=True)
    assert world.db.scalars(select(FilingAttachment)).all() == [] and stored_files(app) == []


def test_another_organizations_user_gets_404_for_a_document(world: FilingWorld, client: FlaskClient) -> None:
    with client.application.app_context():
        draft = world.draft(world.carrier, "holding", "2001:db8::/32")
        document = attach(world, draft, PDF, "apnic.pdf")
    world.db.commit()
    sign_in(client, world.other_carrier_user)
    assert client.get(f"/filings/{draft.id}/attachments/{document.id}").status_code == 404


def test_a_document_is_found_only_under_its_own_filing(world: FilingWorld, client: FlaskClient) -> None:
    with client.application.app_context():
        holding = world.draft(world.carrier, "holding", "2001:db8::/32")
        other = world.draft(world.carrier, "reserved", "2001:db8:ff::/48")
        document = attach(world, holding, PDF, "apnic.pdf")
    world.db.commit()
    sign_in(client, world.carrier_user)
    assert client.get(f"/filings/{holding.id}/attachments/{document.id}").status_code == 200
    assert client.get(f"/filings/{other.id}/attachments/{document.id}").status_code == 404


def test_the_user_organization_downloads_the_documents_once_the_filing_is_submitted(
    world: FilingWorld, client: FlaskClient
) -> None:
    with client.application.app_context():
        world.carrier_holding()
        assignment = world.draft(world.carrier, "assignment", "2001:db8:1::/48")
        document = attach(world, assignment, PDF, "合同.pdf")
    world.db.commit()
    url = f"/filings/{assignment.id}/attachments/{document.id}"
    sign_in(client, world.enterprise_user)
    assert client.get(url).status_code == 404  # a draft is the filer's own business
    operations.submit_filing(world.db, assignment, actor=world.carrier_user)
    world.db.commit()
    assert client.get(url).status_code == 200


def test_who_may_see_but_not_file_cannot_upload_or_remove(world: FilingWorld, client: FlaskClient) -> None:
    with client.application.app_context():
        world.carrier_holding()
        assignment = world.draft(world.carrier, "assignment", "2001:db8:1::/48")
        document = attach(world, assignment, PDF, "合同.pdf")
        operations.submit_filing(world.db, assignment, actor=world.carrier_user)
        operations.return_filing(world.db, assignment, actor=world.regulator, comment="sign the contract")
    world.db.commit()
    sign_in(client, world.enterprise_user)
    page = client.get(f"/filings/{assignment.id}").get_data(as_text=True)
    assert 'data-testid="attach-form"' not in page and 'data-testid="detach"' not in page
    token = csrf_token_in(page)
    upload = {"csrf_token": token, "file": (io.BytesIO(PDF), "x.pdf")}
    assert client.post(f"/filings/{assignment.id}/attachments", data=upload).status_code == 403
    removal = client.post(f"/filings/{assignment.id}/attachments/{document.id}/delete", data={"csrf_token": token})
    assert removal.status_code == 403
    assert world.db.scalars(select(FilingAttachment.id)).all() == [document.id]


def test_the_filer_removes_a_document_from_the_filing_page(world: FilingWorld, client: FlaskClient) -> None:
    with client.application.app_context():
        draft = world.draft(world.carrier, "holding", "2001:db8::/32")
        path = stored_path(attach(world, draft, PDF, "apnic.pdf"))
    world.db.commit()
    sign_in(client, world.carrier_user)
    page = client.get(f"/filings/{draft.id}").get_data(as_text=True)
    document = world.db.scalars(select(FilingAttachment)).one()
    answer = client.post(f"/filings/{draft.id}/attachments/{document.id}/delete",
                         data={"csrf_token": csrf_token_in(page)})  # fmt: skip
    assert answer.status_code == 302 and not path.exists()
    assert world.db.scalars(select(FilingAttachment)).all() == []
