"""``/api/v1/imports``: carriers' allocation records over HTTP (multipart upload, then poll the batch)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from sqlalchemy import select

from core import policy
from core.api import API_PREFIX
from core.api import ApiBlueprint as Blueprint
from core.errors import ValidationFailed
from core.extensions import db
from core.security import allow
from core.web import accepts_upload
from importers import queries
from importers.models import COUNTS, ImportBatch
from importers.permissions import Action
from importers.schemas import ImportBatchSchema, ImportBatchSummarySchema, ImportFileSchema, ImportFormSchema
from importers.views import carrier_for, queue_import

blp = Blueprint("imports_api", __name__, url_prefix=f"{API_PREFIX}/imports", description="Carrier imports")
PROBLEMS_SHOWN = 100


def _with_problems(batch: ImportBatch) -> dict[str, Any]:
    data = {name: getattr(batch, name) for name in (
        "id", "file_name", "sha256", "format", "carrier", "mode", "dry_run", "allow_partial", "status", "message",
        "message_params", "same_content_as_id", "created_at", "started_at", "finished_at", "details",
    )}  # fmt: skip
    data["counts"] = {name: getattr(batch, name) for name in COUNTS}
    data["problems"] = queries.first_problems(db.session, batch, PROBLEMS_SHOWN)
    data["problems_total"] = batch.errors
    return _Obj(data)  # type: ignore[return-value]


class _Obj(dict):  # type: ignore[type-arg]
    """Attribute access for the schema's lambdas."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@blp.route("")
class Imports(MethodView):
    @allow(Action.VIEW_IMPORT)
    @blp.response(200, ImportBatchSummarySchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """The 100 most recent imports the caller may see."""
        return [_with_problems(b) for b in db.session.scalars(queries.visible_batches(current_user).limit(100))]

    @allow(Action.IMPORT_RECORDS)
    @accepts_upload
    @blp.arguments(ImportFormSchema, location="form")
    @blp.arguments(ImportFileSchema, location="files")
    @blp.response(202, ImportBatchSchema)
    @blp.alt_response(201, schema=ImportBatchSchema, description="The import already finished (jobs run immediately).")
    def post(self, options: dict[str, Any], files: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Upload a file (CSV, Excel, RPSL, RIR statistics) to validate and load; poll the batch for the result."""
        upload = files.get("file")
        if upload is None or not upload.filename:
            raise ValidationFailed.on("file", "Choose a file.")
        carrier = carrier_for(options.pop("carrier"))
        batch = queue_import(current_user, carrier, upload, options)
        db.session.commit()  # the job starts after the commit (at once when jobs run immediately)
        db.session.refresh(batch)
        return _with_problems(batch), 201 if batch.status_enum.finished else 202


@blp.route("/<int(max=2147483647):batch_id>")
@allow(Action.VIEW_IMPORT)
class ImportById(MethodView):
    @blp.response(200, ImportBatchSchema)
    def get(self, batch_id: int) -> dict[str, Any]:
        """One import: status, counts and the first problems."""
        batch = db.session.scalar(select(ImportBatch).where(ImportBatch.id == batch_id))
        if batch is None or not policy.can(current_user, Action.VIEW_IMPORT, batch):
            abort(404)
        return _with_problems(batch)
