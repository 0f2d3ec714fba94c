"""CSV in and out of the portal, for every quadrant.

Export: a list view builds the queryset its page shows (visibility, filters, search,
order) and, when the link asked for CSV, hands it to `export_csv` with its columns
instead of paginating it. Every row the filters select is written (not one page),
streamed in chunks with a constant number of queries per chunk, and every text cell
that a spreadsheet would run as a formula is defused. One line per list view:

    if csv_io.export_requested(request):
        return csv_io.export_csv(qs, COLUMNS, filename="changes")

Import: `read_table` turns an uploaded file (UTF-8 with or without BOM, or UTF-16 with
BOM; comma, semicolon or tab) into numbered rows, within the size and row limits of
the settings; what a row means is decided by the importer (mof.cmdb_import).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Model, QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from mof.db_router import lagging_reads, read_alias

# --- export ------------------------------------------------------------------------

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection). "|"
# starts a DDE call in some; ";" splits the cell when the file is opened with semicolons
# as separator (";=1+1" becomes an empty cell and a formula). Spreadsheets skip leading
# spaces before reading a formula, so " =1+1" is one too.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "|", ";")


@dataclass(frozen=True)
class Column:
    """One column of an export: its header and how to read it from a row, either a
    dotted attribute path ("ci_class.name", "get_status_display") or a function."""

    header: str
    value: str | Callable[[Any], Any]

    def read(self, obj):
        if callable(self.value):
            return self.value(obj)
        current = obj
        for part in self.value.split("."):
            if current is None:
                return None
            current = getattr(current, part)
            if callable(current) and not isinstance(current, Model):
                current = current()
        return current


def columns(*specs) -> list[Column]:
    """columns(("Name", "name"), ("Class", "ci_class.name"), ...)"""
    return [spec if isinstance(spec, Column) else Column(*spec) for spec in specs]


def export_requested(request, table: str = "csv") -> bool:
    """Did the page's "Export CSV" link ask for this table? (`?export=csv`; a page
    with several lists names the one wanted, e.g. `?export=freezes`.)"""
    return request.method == "GET" and request.GET.get("export") == table


def neutralise(text: str) -> str:
    """`text` as a spreadsheet shows it, never as a formula: text starting with one of
    FORMULA_PREFIXES, also after leading whitespace, gets a leading quote (OWASP's
    advice). Every CSV the portal writes passes its text cells through here."""
    if text.startswith(FORMULA_PREFIXES) or text.lstrip().startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def unneutralise(text: str) -> str:
    """The inverse of `neutralise`, for a re-import of an export: the leading quote goes
    only if neutralise would have added it."""
    return text[1:] if text.startswith("'") and neutralise(text[1:]) == text else text


def safe_row(values) -> list:
    """A row for csv.writer: text cells neutralised, None empty, numbers left as numbers."""
    return ["" if v is None else neutralise(v) if isinstance(v, str) else v for v in values]


class SafeWriter:
    """csv.writer whose text cells are never formulas (for the exports that write rows
    themselves rather than through `export_csv`)."""

    def __init__(self, out, **kwargs):
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, values):
        return self._writer.writerow(safe_row(values))

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def safe_cell(value) -> str:
    """The text of a cell, never a formula (see `neutralise`); numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, decimal.Decimal)):
        return str(value)
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        text = "; ".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, sort_keys=True, default=str) if value else ""
    else:
        text = str(value)
    return neutralise(text)


class _Line:
    """csv.writer writes into this and we hand the line on (no buffer grows)."""

    def write(self, value):
        return value


def chunks(rows, size: int):
    """Lists of up to `size` rows; a queryset is read with .iterator(), so its rows are
    fetched (and its prefetches run) chunk by chunk, never all at once."""
    iterator = rows.iterator(chunk_size=size) if isinstance(rows, QuerySet) else iter(rows)
    chunk = []
    for row in iterator:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def csv_lines(
    rows, cols: list[Column], *, prepare: Callable[[list], None] | None = None, chunk_size: int | None = None
):
    """The CSV text of `rows`, line by line (a BOM first, so spreadsheets read UTF-8).
    `prepare(chunk)` may load what the columns need for a chunk in one query."""
    writer = csv.writer(_Line())
    yield "\ufeff" + writer.writerow([c.header for c in cols])
    for chunk in chunks(rows, chunk_size or settings.MOF_EXPORT_CHUNK_SIZE):
        if prepare is not None:
            prepare(chunk)
        yield "".join(writer.writerow([safe_cell(c.read(row)) for c in cols]) for row in chunk)


def export_csv(rows: QuerySet | Iterable, cols: list[Column], *, filename: str, prepare=None) -> StreamingHttpResponse:
    """Stream `rows` (the page's own queryset, before pagination) as a CSV download.
    An export may be seconds old: a queryset is read from the replica when there is one
    (mof.db_router), named now because the rows are read after the view has returned."""
    if isinstance(rows, QuerySet) and rows._db is None:
        with lagging_reads():
            rows = rows.using(read_alias(rows.model))
    response = StreamingHttpResponse(csv_lines(rows, cols, prepare=prepare), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.csv"'
    response["Cache-Control"] = "no-store"  # lists are per reader
    return response


def template_csv(headers: list[str], example_rows: list[list[str]], *, filename: str):
    """A small CSV file to start an import from: the headers and example rows."""
    from django.http import HttpResponse

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerows(example_rows)
    response = HttpResponse("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


# --- import ------------------------------------------------------------------------


@dataclass
class RowError:
    """A reason a row (or the whole file, row None) cannot be imported."""

    row: int | None
    field: str
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "message": self.message}


class ImportRejected(Exception):
    """The file cannot be imported as it is; nothing was written."""

    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} error(s)")
        self.errors = errors


@dataclass
class Table:
    """A parsed file: normalised headers and its rows, each with its row number as a
    spreadsheet shows it (the header is row 1, the first record row 2)."""

    headers: list[str]
    rows: list[tuple[int, dict[str, str]]]
    text: str  # the decoded content, newlines normalised (what the digest is taken of)


def max_bytes() -> int:
    return settings.MOF_IMPORT_MAX_BYTES


def decode(data: bytes) -> str:
    """UTF-8 (with or without the BOM spreadsheets write) or UTF-16 with its BOM; any
    other encoding is refused rather than guessed."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise ImportRejected([RowError(None, "file", "The file is not valid UTF-16 text.")]) from None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ImportRejected(
                [RowError(None, "file", f'The file is not UTF-8 text (byte {exc.start + 1}). Save it as "CSV UTF-8".')]
            ) from None
    return normalise_newlines(text.lstrip("\ufeff"))


def normalise_newlines(text: str) -> str:
    # Browsers send form text with CRLF: a digest must not depend on it.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def normalise_header(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").split())


def read_table(data: bytes | str, *, aliases: dict[str, str] | None = None) -> Table:
    """Parse an uploaded CSV within the limits of the settings. File-level problems
    (size, encoding, no header, too many rows) raise ImportRejected."""
    size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
    if size > max_bytes():
        raise ImportRejected(
            [RowError(None, "file", f"The file is {size:,} bytes; at most {max_bytes():,} may be imported at once.")]
        )
    text = normalise_newlines(data.lstrip("\ufeff")) if isinstance(data, str) else decode(data)
    if not text.strip():
        raise ImportRejected([RowError(None, "file", "The file is empty.")])
    if "\x00" in text:
        raise ImportRejected([RowError(None, "file", "The file is not text (it contains NUL bytes).")])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text.split("\n", 1)[0]), strict=True)
    aliases = aliases or {}
    limit = settings.MOF_IMPORT_MAX_ROWS
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        header = next(reader)
        headers = [aliases.get(normalise_header(h), normalise_header(h)) for h in header]
        for number, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue  # blank lines (a trailing newline, a spacer row) are not records
            if len(rows) >= limit:
                raise ImportRejected(
                    [RowError(number, "file", f"More than {limit:,} rows: import at most {limit:,} at once.")]
                )
            if len(record) > len(headers):
                extra = [c for c in record[len(headers) :] if c.strip()]
                if extra:
                    rows.append((number, {"__extra__": f"{len(record)} cells but {len(headers)} columns"}))
                    continue
            rows.append(
                (number, {h: (record[i].strip() if i < len(record) else "") for i, h in enumerate(headers) if h})
            )
    except csv.Error as exc:
        raise ImportRejected(
            [RowError(reader.line_num or None, "file", f"The file is not valid CSV: {exc}.")]
        ) from None
    seen, duplicates = set(), []
    for h in headers:
        if h and h in seen:
            duplicates.append(h)
        seen.add(h)
    if duplicates:
        raise ImportRejected([RowError(1, h, "This column appears more than once.") for h in duplicates])
    return Table(headers=[h for h in headers if h], rows=rows, text=text)
