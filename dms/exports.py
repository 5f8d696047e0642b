"""CSV exports: every cell safe to open in a spreadsheet, every file streamed row by row, and a
stream that fails part-way never passes for a complete file.

- `safe_cell()`: a text cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return
  would be read by Excel, LibreOffice or WPS as a formula (CSV/formula injection, e.g. a customer
  named `=HYPERLINK(…)`); it is written with a leading `'`, which spreadsheets show as text.
  Numbers are left as they are.
- `csv_response()`: a `StreamingHttpResponse` of the rows. The header and the first row are
  produced before the response starts, so a failure there is an ordinary error answer. A failure later is logged, a
  last line saying the file is incomplete is written, and the stream is then aborted: the server
  ends the transfer without its final chunk, which HTTP clients report as a broken download.
"""

import csv
import logging
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _

log = logging.getLogger(__name__)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ExportFailed(RuntimeError):
    """Raised into the server to abort a stream that failed part-way."""


def safe_cell(value: Any) -> Any:
    """The cell as a spreadsheet should show it: text that could start a formula gets a `'`."""
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    text = str(value)
    if text.startswith("\ufeff"):  # the byte-order mark some exports put before the header
        return "\ufeff" + safe_cell(text[1:])
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in row]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _lines(rows: Iterator[Iterable[Any]], first: list[str], name: str) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield from first
    try:
        for row in rows:
            yield writer.writerow(safe_row(row))
    except Exception as exc:
        log.exception("Export %s failed part-way; the download is aborted", name)
        yield writer.writerow([_("EXPORT FAILED: this file is incomplete. Export it again.")])
        raise ExportFailed(name) from exc


def csv_response(filename: str, rows: Iterable[Iterable[Any]], *, bom: bool = True):
    """Stream `rows` (an iterable of cell lists, the first one the header) as a CSV download.
    `bom` starts the file with a UTF-8 byte-order mark so spreadsheet programs read Chinese text
    correctly."""
    writer = csv.writer(_Echo())
    rows = iter(rows)
    first = ["\ufeff"] if bom else []
    # a failure in the header or the first row is an ordinary error answer (nothing sent yet)
    for _i in range(2):
        row = next(rows, None)
        if row is None:
            break
        first.append(writer.writerow(safe_row(row)))
    response = StreamingHttpResponse(
        _lines(rows, first, filename), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
