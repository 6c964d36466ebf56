"""The upload form of a carrier import."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from core.forms import Form
from importers.models import MODE_LABELS, Format, Mode

FORMAT_LABELS = {
    Format.CSV: _l("CSV (UTF-8 or GB18030, comma or tab)"),
    Format.XLSX: _l("Excel workbook (.xlsx)"),
    Format.RPSL: _l("RPSL inet6num / inetnum objects"),
    Format.RIR: _l("RIR statistics (delegated-*)"),
}


class UploadForm(Form):
    file = FileField(_l("File"), validators=[FileRequired(_l("Choose a file."))],
                     description=_l("CSV, Excel, RPSL or RIR statistics; gzip-compressed files are fine."))  # fmt: skip
    carrier = StringField(_l("Importing organization"), validators=[Optional(), Length(max=32)],
                          description=_l("Code of the registry, carrier or allocator whose records these are."))  # fmt: skip
    format = SelectField(_l("Format"), validators=[Optional()], choices=[
        SelectChoice("", _l("Recognize from the file")), *(SelectChoice(f.value, label) for f, label in FORMAT_LABELS.items())
    ])  # fmt: skip
    # Lazy labels: the choices are built once, and read in each request's language.
    mode = SelectField(_l("Mode"), choices=[SelectChoice(m.value, MODE_LABELS[m]) for m in Mode],
                       default=Mode.DELTA.value)  # fmt: skip
    sheet = StringField(_l("Excel sheet"), validators=[Optional(), Length(max=100)],
                        description=_l("Empty: the first sheet."))  # fmt: skip
    family = SelectField(_l("Address family"), validators=[Optional()], choices=[
        SelectChoice("", _l("IPv4 and IPv6")), SelectChoice("6", _l("IPv6 only")), SelectChoice("4", _l("IPv4 only"))
    ])  # fmt: skip
    allow_partial = BooleanField(_l("Load the valid rows even if others have errors"))
