"""CSV files as vendors really have them -> ImportRecords for the transformation engine.

Reading: strict UTF-8 (with or without BOM; UTF-16 when it has a BOM), then cp1252, or the
``--encoding`` given; the delimiter (comma, semicolon, tab, pipe) is sniffed from the header
row; blank lines are skipped. Columns are recognised by name (``transform.headers``), by a
``--preset`` or a ``--mapping`` file. Rows that cannot be used become ``Rejected`` with the
reason (invalid email, impossible date); a file that cannot be used at all is a DataError (65)
and nothing is written.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import itertools
import json
import operator
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wedsync_cli.domain.models import ImportRecord, Rejected
from wedsync_cli.errors import DataError, UsageError
from wedsync_cli.transform.dates import BadDate, parse_date, parse_time
from wedsync_cli.transform.emails import InvalidEmail, normalise_email
from wedsync_cli.transform.engine import time_order_problem, wedding_day_fields
from wedsync_cli.transform.names import split_couple, tidy
from wedsync_cli.transform.phones import is_e164, normalise_phone
from wedsync_cli.transform.presets import STATUS_WORDS

DELIMITERS = (",", ";", "\t", "|")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_MULTI_EMAIL = re.compile(r"\s*[;,/]\s*|\s+and\s+|\s+&\s+|\s+")
_MULTI_EMAIL_SEP = re.compile(r"\s*[;,/]\s*|\s+and\s+|\s+&\s+")


@dataclass
class CsvTable:
    """A decoded CSV file whose data rows are parsed on each ``iter_rows()`` (not kept: a
    100k-row file as lists of cells is ~10x its text)."""

    path: Path
    headers: list[str]
    encoding: str
    delimiter: str
    text: str = field(repr=False, default="")
    line_offset: int = 0  # lines removed before the text (Excel's "sep=" hint)
    skip: int = 0         # non-blank rows before the data (title lines and the header)

    def iter_rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line number in the file, cells) of each non-blank data row."""
        rows = _parse_rows(self.path, self.text, self.delimiter, self.line_offset)
        for _ in zip(range(self.skip), rows, strict=False):
            pass
        yield from rows


# A line with its ending, split as io.StringIO(newline="") does (\n, \r\n or a lone \r), without
# StringIO's copy of the whole text (4 bytes a character: 50 MB for a 13 MB file).
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _parse_rows(p: Path, text: str, delimiter: str, line_offset: int) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(map(_match_text, _LINE.finditer(text)), delimiter=delimiter)
    last: tuple[int, list[str]] | None = None
    try:
        previous = 0
        for cells in reader:
            if any(c.strip() for c in cells):
                last = (previous + 1 + line_offset, cells)
                yield reader.line_num + line_offset, cells
            previous = reader.line_num
    except csv.Error as exc:
        raise DataError(f"CSV file {p} is malformed near line {reader.line_num} ({exc})",
                        fix="check that line's quotes, or re-export the file") from None
    if last is not None and any("\n" in c or "\r" in c for c in last[1]):
        # A quote never closed swallows every line after it into one cell, and the lenient reader
        # says nothing: the rows after it would silently vanish. Only the strict reader tells.
        try:
            for _ in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True):
                pass
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise DataError(f"CSV file {p} has a quote opened on line {last[0]} that is never closed, "
                                "so every line after it would be read as one cell",
                                fix="close or remove that quote, then import the file again") from None


@dataclass
class CsvOptions:
    mapping: str | Path | None = None
    preset: str | None = None
    encoding: str | None = None
    date_order: str | None = None
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# -- reading -------------------------------------------------------------------------------------
def read_table(path: str | Path, encoding: str | None = None) -> CsvTable:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise DataError(f"CSV file {p} does not exist", fix="check the path and run the command again") from None
    except IsADirectoryError:
        raise DataError(f"{p} is a folder, not a CSV file", fix="give the path of the .csv file") from None
    except OSError as exc:
        raise DataError(f"CSV file {p} cannot be read ({exc.strerror})", fix="check its permissions") from None
    if not data.strip():
        raise DataError(f"CSV file {p} is empty", fix="export the clients again and import the new file")
    text, used = _decode(p, data, encoding)
    if "\x00" in text and not encoding and data[1:400:2].count(0) > 100 and data[0:400:2].count(0) < 5:
        raise DataError(f"CSV file {p} looks like UTF-16 text without a byte-order mark",
                        fix="pass --encoding utf-16-le (or utf-16-be)")
    if "\x00" in text or len(_CONTROL.findall(text[:20000])) > 2:
        raise DataError(f"{p} does not look like a CSV text file (it contains binary data)",
                        fix="export the clients as CSV from your CRM or spreadsheet and import that file")
    # The first lines only (splitting the whole text would briefly hold every line of the file).
    lines = [ln for ln in text[:1_000_000].splitlines()[:30] if ln.strip()]
    first_line = lines[0] if lines else ""
    if first_line.lower().startswith("sep=") and len(first_line.strip()) == 5:
        # Excel's "sep=;" hint line: it names the delimiter and is not data.
        delimiter = first_line.strip()[4]
        text = text.lstrip().split("\n", 1)[1] if "\n" in text else ""
        line_offset = 1
    else:
        line_offset = 0
        delimiter = _sniff(_header_line(lines))
    # Only the first rows here; the whole file is parsed (and a malformed line found) by
    # RowConverter's first pass, before anything is written.
    first_rows = list(itertools.islice(_parse_rows(p, text, delimiter, line_offset), 10))
    if not first_rows:
        raise DataError(f"CSV file {p} is empty", fix="export the clients again and import the new file")
    # The header is the first row, unless a title line or two comes before it ("Client export").
    start = next((i for i, (_, cells) in enumerate(first_rows) if _looks_like_header(cells)), 0)
    headers = _unique_headers(first_rows[start][1])
    return CsvTable(p, headers, used, delimiter, text=text, line_offset=line_offset, skip=start + 1)


def _looks_like_header(cells: list[str]) -> bool:
    from wedsync_cli.transform.headers import AUTO, norm_header

    return sum(1 for c in cells if norm_header(c) in AUTO) >= 2


def _header_line(lines: list[str]) -> str:
    """The line to sniff the delimiter on: the first with two known column names, else the first."""
    from wedsync_cli.transform.headers import AUTO, norm_header

    for ln in lines[:10]:
        for d in DELIMITERS:
            if sum(1 for c in ln.split(d) if norm_header(c) in AUTO) >= 2:
                return ln
    return lines[0] if lines else ""


def _decode(p: Path, data: bytes, encoding: str | None) -> tuple[str, str]:
    if encoding:
        import codecs

        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UsageError(f"Unknown encoding {encoding!r}",
                             fix="use a Python codec name such as utf-8, cp1252, latin-1 or utf-16") from None
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            raise DataError(f"CSV file {p} is not valid {encoding} text (byte {exc.start})",
                            fix="pass the file's real encoding with --encoding (e.g. utf-8 or cp1252)") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise DataError(f"CSV file {p} is neither UTF-8 nor Windows-1252 text",
                    fix="pass its encoding with --encoding (e.g. --encoding latin-1)")


def _sniff(line: str) -> str:
    """The delimiter that splits the header row into the most fields (quotes respected)."""
    best, best_n = ",", 1
    for d in DELIMITERS:
        try:
            n = len(next(csv.reader([line], delimiter=d)))
        except (csv.Error, StopIteration):
            continue
        if n > best_n:
            best, best_n = d, n
    return best


def _unique_headers(cells: list[str]) -> list[str]:
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, c in enumerate(cells):
        h = c.replace("\ufeff", "").strip() or f"column {i + 1}"
        if h in seen:
            seen[h] += 1
            h = f"{h} ({seen[h]})"
        else:
            seen[h] = 1
        out.append(h)
    return out


_match_text = operator.methodcaller("group")


# -- mapping -------------------------------------------------------------------------------------
def load_mapping(path: str | Path) -> dict[str, list[str]]:
    """A mapping file: TOML or JSON ``{our_field: "Their Column"}`` (a list of names also works)."""
    from wedsync_cli.transform.headers import FIELDS

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"Mapping file {p} cannot be read ({exc.strerror})", fix="check the --mapping path") from None
    except UnicodeDecodeError:
        raise DataError(f"Mapping file {p} is not UTF-8 text", fix="save it as UTF-8") from None
    raw: Any
    try:
        raw = json.loads(text)
    except ValueError:
        import tomllib

        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise DataError(f"Mapping file {p} is neither JSON nor TOML ({exc})",
                            fix='write it as JSON {"email": "E-mail Address"} or TOML email = "E-mail Address"') from None
    if isinstance(raw, dict) and isinstance(raw.get("columns"), dict):
        raw = raw["columns"]
    if not isinstance(raw, dict):
        raise DataError(f"Mapping file {p} must be an object of our field -> your column name",
                        fix='write it as {"email": "E-mail Address", "date": "Big Day"}')
    out: dict[str, list[str]] = {}
    for key, value in raw.items():
        if key not in FIELDS:
            raise DataError(f"Mapping file {p} names an unknown field {key!r}",
                            fix=f"use these field names: {', '.join(FIELDS)}")
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise DataError(f"Mapping file {p}: the value of {key!r} must be a column name",
                            fix=f'write {key} = "Your Column"')
        out[key] = names
    return out


def check_mapping_columns(mapping: str | Path, headers: list[str]) -> None:
    """A --mapping entry none of whose columns is in the file is a typo, not "use the automatic
    names": refuse it before anything is imported rather than import without that field."""
    from wedsync_cli.transform.headers import norm_header

    present = {norm_header(h) for h in headers}
    for our_field, names in load_mapping(mapping).items():
        if not any(norm_header(n) in present for n in names):
            shown = ", ".join(headers[:8]) + (" ..." if len(headers) > 8 else "")
            raise DataError(f"Mapping file {mapping} maps {our_field} to {' or '.join(map(repr, names))}, "
                            f"but the CSV file has no such column (its columns are: {shown})",
                            fix=f"correct the column name for {our_field} in {mapping}")


def explicit_columns(mapping: str | Path | None, preset: str | None) -> dict[str, list[str]]:
    from wedsync_cli.transform.presets import PRESETS, preset_names

    cols: dict[str, list[str]] = {}
    if preset:
        if preset not in PRESETS:
            raise UsageError(f"Unknown preset {preset!r}", fix=f"use one of: {', '.join(preset_names())}")
        cols.update(PRESETS[preset])
    if mapping:
        cols.update(load_mapping(mapping))  # the user's own mapping wins over the preset
    return cols


# -- rows -> records -----------------------------------------------------------------------------
class RowConverter:
    """Turns one table's rows into ImportRecord / Rejected, with the file's decisions made once."""

    def __init__(self, table: CsvTable, *, source: str, timezone: str, region: str,
                 explicit: dict[str, list[str]], date_order: str | None):
        from wedsync_cli.transform.dates import AmbiguousDate, decide_order, parse_date
        from wedsync_cli.transform.headers import resolve_headers

        self.table = table
        self.source = source
        self.timezone = timezone
        self.region = region
        self.phones_kept: list[int] = []  # lines whose phone is not valid for the region
        self.cols, self.unmapped = resolve_headers(table.headers, explicit)
        identity = {"name", "first_name", "last_name", "email", "phone", "partner_first_name", "partner_email"}
        if not identity & self.cols.keys():
            shown = ", ".join(table.headers[:6]) + (" ..." if len(table.headers) > 6 else "")
            raise DataError(
                f"CSV file {table.path} has no column wedsync recognises as a name, email or phone "
                f"(its header row is: {shown})",
                fix="rename the columns (e.g. 'Name', 'Email', 'Wedding Date') or pass --mapping FILE or --preset NAME")
        # One pass over the file: count the rows (and find a malformed line) and, unless the
        # order is given, weigh the date evidence.
        self.row_count = 0
        date_i = self.cols.get("date") if not date_order else None

        def date_values(rows) -> Iterator[str]:
            for _, cells in rows:
                self.row_count += 1
                if date_i is not None and date_i < len(cells):
                    yield cells[date_i]

        if date_i is None:
            for _ in date_values(table.iter_rows()):
                pass
        else:
            order, dmy, mdy = decide_order(date_values(table.iter_rows()))
        if not self.row_count:
            raise DataError(f"CSV file {table.path} has a header row but no data rows",
                            fix="export the clients again and import the new file")
        self.order = date_order
        if date_i is not None:
            values = (cells[date_i] for _, cells in table.iter_rows() if date_i < len(cells))
            if dmy and mdy:
                raise DataError(
                    f"CSV file {table.path} mixes day-first dates ({dmy} rows) and month-first dates ({mdy} rows)",
                    fix="say which is right with --date-order dmy or --date-order mdy (or date_order in the config)")
            self.order = order
            if order is None:
                for v in values:
                    try:
                        parse_date(v, None)
                    except AmbiguousDate:
                        raise DataError(
                            f"CSV file {table.path} has dates such as {v.strip()!r} that could be day-first or "
                            "month-first, and none that decides it",
                            fix="pass --date-order dmy (25/12/2027) or --date-order mdy (12/25/2027), "
                                "or set date_order in the config") from None
                    except ValueError:
                        continue

    def hash_prefix(self) -> bytes:
        """Everything besides a row's cells that decides what the row becomes."""
        from pydantic_core import to_json

        return to_json([conversion_fingerprint(), self.source, self.table.headers, sorted(self.cols.items()),
                        self.order, self.timezone, self.region, self.unmapped])

    def records(self) -> Iterator:
        """One PreparedRecord per row: identified and hashed from the raw cells, converted only
        when the engine has not stored that hash for it (an unchanged row is never normalised)."""
        from pydantic_core import to_json

        from wedsync_cli.transform.engine import PreparedRecord

        prefix = self.hash_prefix()
        source = self.source
        ext_i = self.cols.get("external_id")
        sha256 = hashlib.sha256
        for line, cells in self.table.iter_rows():
            h = sha256(prefix + to_json(cells)).hexdigest()[:32]
            ext = cells[ext_i].strip() if ext_i is not None and ext_i < len(cells) else ""
            key = (source, ext, "client", h) if ext else (source, f"row:{h}", "row", h)
            yield PreparedRecord(key, functools.partial(self.convert, line, cells))

    def check_usable(self, report) -> None:
        """After the last row, before the commit: a file whose every row was rejected is refused."""
        if report.rejected == report.read:
            raise DataError(f"CSV file {self.table.path} has no usable rows (every row was rejected)",
                            fix="run it with --rejects FILE to see each row's reason, fix them and import again")

    def raw_row(self, cells: list[str]) -> dict[str, str]:
        headers = self.table.headers
        raw = {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(headers)}
        for j in range(len(headers), len(cells)):
            if cells[j].strip():
                raw[f"column {j + 1}"] = cells[j]
        return raw

    def convert(self, line: int, cells: list[str]):
        cols = self.cols
        n = len(cells)

        def get(f: str) -> str:
            i = cols.get(f)
            return cells[i].strip() if i is not None and i < n else ""

        raw = self.raw_row(cells)

        def reject(reason: str):
            return Rejected(source=self.source, reason=reason, raw=raw, row_number=line)

        # -- names
        p1 = [tidy(get("first_name")), tidy(get("last_name"))]
        p2 = [tidy(get("partner_first_name")), tidy(get("partner_last_name"))]
        name_cell = get("name")
        if name_cell and not (p1[0] or p1[1]):
            (a, b), partner = split_couple(name_cell)
            p1 = [a, b]
            if partner and not (p2[0] or p2[1]):
                p2 = list(partner)
        partner_cell = get("partner_name")
        if partner_cell and not (p2[0] or p2[1]):
            (a, b), _ = split_couple(partner_cell)
            p2 = [a, b]
        if p1[0] and not (p2[0] or p2[1]) and (" & " in p1[0] or " and " in p1[0].lower()):
            (a, _), partner = split_couple(f"{p1[0]} {p1[1] or ''}")  # "Jane & John" + "Smith"
            if partner:
                p1, p2 = [a, p1[1]], [partner[0], p1[1]]
        # -- emails (a cell may hold both partners' addresses)
        try:
            emails = [normalise_email(e) for e in _split_emails(get("email"))]
            partner_emails = [normalise_email(e) for e in _split_emails(get("partner_email"))]
        except InvalidEmail as exc:
            return reject(str(exc))
        e1 = emails[0] if emails else None
        e2 = partner_emails[0] if partner_emails else (emails[1] if len(emails) > 1 else None)
        # -- phones
        ph1 = normalise_phone(get("phone"), self.region)
        ph2 = normalise_phone(get("partner_phone"), self.region)
        if (ph1 and not is_e164(ph1)) or (ph2 and not is_e164(ph2)):
            self.phones_kept.append(line)  # kept as written: a data-quality note, not a reject
        # -- wedding
        try:
            day = parse_date(get("date"), self.order)
            start = parse_time(get("start_time"))
            end = parse_time(get("end_time"))
        except BadDate as exc:
            return reject(str(exc))
        except ValueError as exc:
            return reject(f"unreadable date ({exc})")
        if problem := time_order_problem(start, end):
            return reject(problem)
        status_cell = get("status")
        if status_cell:
            # "Booked ✅", "Booked!", "Booked (deposit paid)": the words decide, then the first word.
            words = re.sub(r"[\W_]+", " ", status_cell.lower()).split()
            status = STATUS_WORDS.get(" ".join(words)) or (STATUS_WORDS.get(words[0]) if words else None)
            if status is None:
                return reject(f"unknown status {status_cell!r} (use lead, booked, completed or cancelled)")
        else:
            status = "booked"  # contract: a row with no status counts as booked
        venue = get("venue") or None
        ext = get("external_id") or None
        extra = {self.table.headers[i]: cells[i].strip() for i in self.unmapped if i < n and cells[i].strip()}
        notes = get("notes") or None
        wedding = None
        events = []
        if day or venue:
            wedding = {"date": day, "venue": venue, "status": status, "external_id": ext}
            if day and start is not None:  # without times the engine makes (or keeps) the all-day event
                events.append(wedding_day_fields(day, self.timezone, start, end, location=venue))
        try:
            # One validation call for the whole record (nested dicts), not one per model.
            return ImportRecord.model_validate({
                "source": self.source, "external_id": ext, "raw": raw, "row_number": line,
                "client": {"partner1": {"first": p1[0], "last": p1[1], "email": e1, "phone": ph1},
                           "partner2": {"first": p2[0], "last": p2[1], "email": e2, "phone": ph2},
                           "notes": notes, "extra": extra},
                "wedding": wedding, "events": events})
        except ValueError as exc:
            if "no name, email or phone" in str(exc):
                return reject("no name, email or phone for either partner")
            return reject(f"unusable row ({str(exc).splitlines()[-1].strip()})")


@functools.lru_cache(maxsize=1)
def conversion_fingerprint() -> str:
    """A hash of the code that turns a row into a record (this file, the normalisers, the models).
    Part of every row's stored hash: after an upgrade that changes the conversion, the next import
    converts every row again instead of trusting hashes made by the old code (once; it costs a
    normal import, and unchanged results still count as unchanged)."""
    import wedsync_cli.domain.models as models
    import wedsync_cli.transform as transform

    h = hashlib.sha256()
    files = [Path(__file__), Path(models.__file__), *sorted(Path(transform.__file__).parent.glob("*.py"))]
    for f in files:
        try:
            h.update(f.read_bytes())
        except OSError:  # not installed as plain files: fall back to the package version
            from importlib.metadata import version

            return version("wedsync-cli")
    return h.hexdigest()[:16]


def _split_emails(cell: str) -> list[str]:
    if not cell:
        return []
    if "@" not in cell:
        return [cell]  # invalid, and the checker says why
    parts = [e for e in _MULTI_EMAIL.split(cell) if e]
    if all("@" in e for e in parts):
        return parts
    return [e for e in _MULTI_EMAIL_SEP.split(cell) if e]  # "ravi patel@x.com" is one (invalid) address


# -- the import ----------------------------------------------------------------------------------
@dataclass
class CsvImport:
    report: Any
    headers: list[str]
    table: CsvTable
    unmapped: list[str]
    notes: list[str] = field(default_factory=list)  # data-quality notes for the summary


def import_csv(rt, path: str | Path, opts: CsvOptions, *, dry_run: bool = False,
               progress: Callable[[int], None] | None = None,
               on_start: Callable[[int], None] | None = None) -> CsvImport:
    """Read, convert and apply one CSV file in one transaction; the core of `wedsync import csv`."""
    from wedsync_cli.transform import ImportEngine
    from wedsync_cli.transform.engine import paused_gc

    cfg = rt.config
    with paused_gc():
        table = read_table(path, opts.encoding)
    source = opts.source or f"csv:{table.path.stem}"
    if opts.mapping:
        check_mapping_columns(opts.mapping, table.headers)
    conv = RowConverter(table, source=source, timezone=cfg.timezone, region=cfg.phone_region,
                        explicit=explicit_columns(opts.mapping, opts.preset),
                        date_order=opts.date_order or cfg.date_order)
    if on_start is not None:
        on_start(conv.row_count)
    engine = ImportEngine(rt.store, source=source, timezone=cfg.timezone, dry_run=dry_run)
    report = engine.apply(conv.records(), progress=progress, before_commit=conv.check_usable)
    unmapped = [table.headers[i] for i in conv.unmapped]
    report.unmapped_fields.update(unmapped)
    notes = []
    if "date" not in conv.cols:
        datelike = [h for h in unmapped if re.search(r"date|day|when", h, re.IGNORECASE)]
        if datelike:
            notes.append(f"No column was recognised as the wedding date, so no weddings were imported; "
                         f"{', '.join(repr(h) for h in datelike)} looks like one: import again with "
                         f"--mapping naming it as date (e.g. date = {datelike[0]!r})")
    if conv.phones_kept:
        lines = ", ".join(str(n) for n in conv.phones_kept[:10]) + (" ..." if len(conv.phones_kept) > 10 else "")
        notes.append(f"{len(conv.phones_kept)} row(s) have a phone number that is not valid for region "
                     f"{cfg.phone_region}, kept as written "
                     f"(line{'s' if len(conv.phones_kept) > 1 else ''} {lines})")
    return CsvImport(report, table.headers, table, unmapped, notes)


def write_rejects(path: str | Path, headers: list[str], rejects: list) -> int:
    """The rejected rows as they were plus a ``reason`` column, written atomically (tmp + rename)."""
    p = Path(path)
    cols = list(headers)
    for r in rejects:
        for k in r.raw:
            if k not in cols:
                cols.append(k)
    reason_col = "reason" if "reason" not in cols else "wedsync_reason"
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow([*cols, reason_col])
            for r in rejects:
                w.writerow([*(r.raw.get(c, "") for c in cols), r.reason])
        os.replace(tmp, p)
    except BaseException:
        with __import__("contextlib").suppress(OSError):
            os.unlink(tmp)
        raise
    return len(rejects)


class CsvSource:
    """``[sources.<name>] provider = "csv"``: what `wedsync sync` runs to re-import the file."""

    def __init__(self, rt, name: str, source_config):
        self.rt = rt
        self.name = name
        self.config = source_config

    def sync(self, full: bool = False, dry_run: bool = False):
        c = self.config
        get = (lambda k: getattr(c, k, None)) if not isinstance(c, dict) else c.get
        if not get("path"):
            from wedsync_cli.errors import ConfigError

            raise ConfigError(f"Source {self.name!r} has no path",
                              fix=f'set path = "clients.csv" under [sources.{self.name}] in the config')
        cfg = self.rt.config
        path = cfg.resolve_path(get("path"))
        mapping = get("mapping")
        opts = CsvOptions(mapping=cfg.resolve_path(mapping) if mapping else None, preset=get("preset"),
                          encoding=get("encoding"), date_order=get("date_order"), source=f"csv:{self.name}")
        # Every run reads the whole file; unchanged rows are recognised by hash and write nothing,
        # so `full` needs nothing extra.
        return import_csv(self.rt, path, opts, dry_run=dry_run).report
