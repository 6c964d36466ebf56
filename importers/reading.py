"""Reading an import's file: the parser its format names, with a meter of how far it got."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from importers.models import Format
from importers.records import N_, AllocationRecord, Problem, UnreadableFile


class Meter:
    """How far the reading got, for progress bars and the batch page."""

    def __init__(self, total_bytes: int, report: Callable[[Meter], None] | None = None) -> None:
        self.total_bytes = max(total_bytes, 1)
        self.bytes = 0
        self.rows = 0
        self.phase = "reading"
        self.started = time.monotonic()
        self._report = report
        self._last = 0.0

    def tick(self, rows: int = 0, *, force: bool = False) -> None:
        self.rows += rows
        now = time.monotonic()
        if self._report is not None and (force or now - self._last >= 0.5):
            self._last = now
            self._report(self)

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self.tick(force=True)

    @property
    def rate(self) -> float:
        return self.rows / max(time.monotonic() - self.started, 1e-6)

    @property
    def fraction(self) -> float:
        return min(self.bytes / self.total_bytes, 1.0)


def read_records(
    path: Path, file_format: str, sheet: str | None, meter: Meter, headers: dict[str, str] | None = None
) -> Iterator[AllocationRecord | Problem]:
    """The file's records and problems; a table's header words for its columns go into ``headers``."""
    from importers import csvfile, rir, rpsl, xlsx
    from importers.records import open_text

    if file_format == Format.XLSX.value:
        yield from _metered(xlsx.parse_xlsx(path, sheet, headers), path, meter)
        return
    if file_format == Format.CSV.value:
        yield from _metered(csvfile.parse_csv(path, headers), path, meter)
        return
    if path.stat().st_size == 0:
        raise UnreadableFile(N_("the file is empty"))
    try:
        with open_text(path) as handle:
            parser = rir.parse_rir(handle) if file_format == Format.RIR.value else rpsl.parse_rpsl(handle)
            yield from _metered(parser, path, meter, handle)
    except UnicodeDecodeError:
        raise UnreadableFile(N_("the file is not UTF-8 text")) from None


def _metered(items: Iterator[Any], path: Path, meter: Meter, handle: Any = None) -> Iterator[Any]:
    raw = getattr(getattr(handle, "buffer", None), "tell", None)
    for count, item in enumerate(items, start=1):
        if count % 4096 == 0:
            if raw is not None:
                with contextlib.suppress(OSError, ValueError):
                    meter.bytes = raw()
            else:
                meter.bytes = min(meter.total_bytes, count * 60)
        yield item
    meter.bytes = meter.total_bytes
