"""Importing CRM records from CSV files: column mapping, per-row upsert, per-row error report.

Each row is written by the record actions in its own transaction, so a bad row is reported with
its line number and reason and leaves nothing behind, while the good rows around it are kept.
Rows with an ``external_id`` are upserted (importing the same file twice changes nothing); rows
without one are created.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils.translation import gettext as _

from textdesk.crm import record_types
from textdesk.crm.actions.records import create_record, upsert_record
from textdesk.crm.models import Account, Contact, Lead, OwnedRecord
from textdesk.org.models import Team, User

KINDS = record_types.MODELS

_COMMON = {
    "external_id": "the record's id in your other system; rows with one are created or updated (upsert)",
    "owner_username": "username of the owning user (give this or owner_team)",
    "owner_team": "name of the owning team (give this or owner_username)",
    "country": "ISO country code (e.g. BR) for phone numbers written without +country code",
    "status_reason": "e.g. active / inactive; leads: new, contacted, qualified, disqualified; "
    "opportunities: in_progress, on_hold, won, lost",
}
_PHONES = {
    "business_phone": "any format; kept as written and normalised to E.164",
    "mobile_phone": "any format; kept as written and normalised to E.164",
}

# The customer's consent for one purpose, recorded in the consent ledger (method "import") for the row's
# mobile_phone, else its business_phone. Kinds with phone numbers only.
CONSENT_COLUMNS = {
    "consent_purpose": "transactional or marketing (with consent: records the row's consent in the consent ledger, "
    "for its mobile_phone, else its business_phone)",
    "consent": "granted or revoked",
    "consent_date": "when it was granted or revoked: YYYY-MM-DD or YYYY-MM-DD HH:MM (UTC unless an offset is "
    "given); empty: the time of the import",
    "consent_wording": "the wording the customer was shown",
    "consent_legal_basis": "consent (default), contract, legitimate_interest or legal_obligation",
}

COLUMNS: dict[str, dict[str, str]] = {
    "account": {
        "name": "account name (required)",
        **_PHONES,
        "email": "",
        "website": "",
        "city": "",
        **_COMMON,
        **CONSENT_COLUMNS,
    },
    "contact": {
        "last_name": "required",
        "first_name": "",
        **_PHONES,
        "email": "",
        "job_title": "",
        "account_external_id": "external id of the contact's account (imported before)",
        **_COMMON,
        **CONSENT_COLUMNS,
    },
    "lead": {
        "last_name": "last_name or company_name is required",
        "first_name": "",
        "company_name": "",
        "topic": "",
        **_PHONES,
        "email": "",
        **_COMMON,
        **CONSENT_COLUMNS,
    },
    "opportunity": {
        "name": "topic (required)",
        "account_external_id": "customer: external id of an account, or",
        "contact_external_id": "customer: external id of a contact (not both)",
        "related_contact_external_ids": "external ids of related contacts, separated by ;",
        "estimated_value": "a number, e.g. 48000.00",
        "estimated_close_date": "YYYY-MM-DD",
        **_COMMON,
    },
}
REQUIRED_COLUMNS = {"account": ("name",), "contact": ("last_name",), "lead": (), "opportunity": ("name",)}
_DIRECT = {
    "name",
    "first_name",
    "last_name",
    "email",
    "website",
    "city",
    "job_title",
    "company_name",
    "topic",
    "business_phone",
    "mobile_phone",
    "country",
    "status_reason",
}


class ImportFileError(Exception):
    """The file as a whole cannot be imported (unreadable, unknown kind, wrong columns)."""


class RowRejected(Exception):
    """One row cannot be imported; the message says why."""


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str
    row: dict[str, str]


@dataclass(frozen=True)
class NumberWarning:
    """A phone number that was imported as written but cannot be texted (it is not a number of any country)."""

    line: int
    column: str
    value: str

    def describe(self) -> str:
        return _("%(column)s %(value)r is not a phone number that can be texted (kept as written)") % {
            "column": self.column,
            "value": self.value,
        }


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    unreadable_numbers: list[NumberWarning] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.errors)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.failed

    @property
    def stored(self) -> int:
        return self.created + self.updated

    def summary(self) -> str:
        text = _("%(total)s rows: %(created)s created, %(updated)s updated, %(failed)s failed") % {
            "total": self.total,
            "created": self.created,
            "updated": self.updated,
            "failed": self.failed,
        }
        if self.unreadable_numbers:
            text += "; " + _("%(n)s phone numbers cannot be texted") % {"n": len(self.unreadable_numbers)}
        return text


_WITH_CONSENT = {kind for kind, columns in COLUMNS.items() if "consent" in columns}


def columns_help() -> str:
    lines = []
    for kind, columns in COLUMNS.items():
        lines.append(f"{kind} columns:")
        for name, text in columns.items():
            lines.append(f"  {name:<29} {text}".rstrip())
        lines.append("")
    return "\n".join(lines)


def check_header(kind: str, header: list[str]) -> None:
    if kind not in KINDS:
        raise ImportFileError(
            _("Unknown kind %(kind)s; choose one of: %(kinds)s.") % {"kind": kind, "kinds": ", ".join(KINDS)}
        )
    known = COLUMNS[kind]
    unknown = [c for c in header if c not in known]
    if unknown:
        raise ImportFileError(
            _("Unknown column %(cols)s for %(kind)s (known: %(known)s).")
            % {"cols": ", ".join(unknown), "kind": kind, "known": ", ".join(known)}
        )
    missing = [c for c in REQUIRED_COLUMNS[kind] if c not in header]
    if missing:
        raise ImportFileError(_("Missing column %(cols)s.") % {"cols": ", ".join(missing)})
    if len(set(header)) != len(header):
        raise ImportFileError(_("A column name appears twice in the header."))


ENCODINGS = ("utf-8", "cp1252")  # what spreadsheets write: UTF-8 (with or without BOM), else Windows Latin-1
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
DELIMITERS = ",;\t|"  # Excel writes ";" where the decimal separator is "," (Brazil, Italy, Spain, ...)


@dataclass
class CsvFile:
    """A decoded CSV file: its header, its data rows (line where each starts, cells by column) and how it was read."""

    header: list[str]
    encoding: str
    delimiter: str
    text: str

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """Each non-blank data row; a row whose cell count differs from the header's is yielded as such, to be
        reported rather than guessed at (line 1 is the header)."""
        reader = csv.reader(io.StringIO(self.text, newline=""), delimiter=self.delimiter)
        next(reader, None)
        start = reader.line_num + 1
        width = len(self.header)
        try:
            for cells in reader:
                if any(c.strip() for c in cells):
                    if len(cells) != width:
                        yield start, {WRONG_WIDTH: str(len(cells)), **dict(zip(self.header, cells, strict=False))}
                    else:
                        yield start, dict(zip(self.header, cells, strict=True))
                start = reader.line_num + 1
        except csv.Error as exc:
            yield start, {UNREADABLE: str(exc)}

    def count_rows(self) -> int:
        return sum(1 for _ in self.rows())


WRONG_WIDTH = "__cells__"
UNREADABLE = "__unreadable__"


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read with: a byte-order mark says it, else UTF-8, else Windows
    Latin-1 (which reads any byte, so a file is never refused for its encoding alone)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding), encoding
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def sniff_delimiter(text: str, kind: str) -> str:
    """The cell separator of the file: the candidate that splits the header into the most known column names
    (our column names are known, which makes this exact where a header is right), else the standard library's
    sniffer on a sample, else a comma."""
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    known = set(COLUMNS.get(kind, {}))
    best, score = ",", 0
    for candidate in DELIMITERS:
        names = {c.strip().strip('"') for c in first.split(candidate)}
        found = len(names & known)
        if found > score:
            best, score = candidate, found
    if score:
        return best
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def parse_csv(data: bytes, kind: str, delimiter: str | None = None) -> CsvFile:
    """Decode and split a CSV file's bytes (delimiter: given, or sniffed); raises ImportFileError when there is
    no header to read."""
    text, encoding = decode(data)
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ImportFileError(_("The file is empty."))
    delimiter = delimiter or sniff_delimiter(text, kind)
    try:
        header = [h.strip() for h in next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))]
    except (StopIteration, csv.Error) as exc:
        raise ImportFileError(_("The file cannot be read as CSV: %(error)s") % {"error": exc}) from exc
    return CsvFile(header=header, encoding=encoding, delimiter=delimiter, text=text)


def read_csv(path: Path, kind: str, delimiter: str | None = None) -> CsvFile:
    return parse_csv(Path(path).read_bytes(), kind, delimiter)


class _Lookups:
    """Owners and related records by their names and external ids, remembered across rows."""

    def __init__(self) -> None:
        self.users: dict[str, int | None] = {}
        self.teams: dict[str, int | None] = {}

    def user_id(self, username: str) -> int:
        if username not in self.users:
            self.users[username] = User.objects.filter(username=username).values_list("pk", flat=True).first()
        pk = self.users[username]
        if pk is None:
            raise RowRejected(_("unknown user %(name)r in owner_username") % {"name": username})
        return pk

    def team_id(self, name: str) -> int:
        if name not in self.teams:
            self.teams[name] = Team.objects.filter(name=name).values_list("pk", flat=True).first()
        pk = self.teams[name]
        if pk is None:
            raise RowRejected(_("unknown team %(name)r in owner_team") % {"name": name})
        return pk

    @staticmethod
    def record_id(model: type[OwnedRecord], external_id: str, column: str) -> int:
        pk = model.objects.filter(external_id=external_id).values_list("pk", flat=True).first()
        if pk is None:
            raise RowRejected(
                _("no %(what)s with external id %(id)r (%(column)s)")
                % {"what": model._meta.verbose_name, "id": external_id, "column": column}
            )
        return pk


def row_data(kind: str, row: dict[str, str], lookups: _Lookups, default_owner: str = "", header_width: int = 0) -> dict:
    """The record fields a CSV row stands for; raises RowRejected for what only the file can get wrong."""
    if WRONG_WIDTH in row:
        raise RowRejected(
            _("the row has %(n)s cells but the header has %(columns)s columns")
            % {"n": row[WRONG_WIDTH], "columns": header_width}
        )
    if UNREADABLE in row:
        raise RowRejected(_("unreadable row: %(error)s") % {"error": row[UNREADABLE]})
    cells = {k: (v or "").strip() for k, v in row.items()}
    data: dict = {k: v for k, v in cells.items() if k in _DIRECT}
    if "status_reason" in data and not data["status_reason"]:
        del data["status_reason"]  # empty: the default (or the current value)

    username, team = cells.get("owner_username", ""), cells.get("owner_team", "")
    if username and team:
        raise RowRejected(_("both owner_username and owner_team are given; a record has exactly one owner"))
    if username:
        data["owner_user_id"] = lookups.user_id(username)
    elif team:
        data["owner_team_id"] = lookups.team_id(team)
    elif default_owner:
        data["owner_user_id"] = lookups.user_id(default_owner)

    if kind == "lead":
        data.setdefault("source", Lead.Source.IMPORT)
        if not cells.get("last_name") and not cells.get("company_name"):
            raise RowRejected(_("a lead needs a last_name or a company_name"))
    if kind in ("account", "opportunity") and not cells.get("name"):
        raise RowRejected(_("name is required"))
    if kind == "contact" and not cells.get("last_name"):
        raise RowRejected(_("last_name is required"))
    if cells.get("account_external_id"):
        data["account_id"] = lookups.record_id(Account, cells["account_external_id"], "account_external_id")
    elif "account_external_id" in cells:
        data["account_id"] = None
    if kind == "opportunity":
        if cells.get("contact_external_id"):
            data["customer_contact_id"] = lookups.record_id(
                Contact, cells["contact_external_id"], "contact_external_id"
            )
        elif "contact_external_id" in cells:
            data["customer_contact_id"] = None
        if "related_contact_external_ids" in cells:
            ids = [i.strip() for i in cells["related_contact_external_ids"].split(";") if i.strip()]
            data["contact_ids"] = [lookups.record_id(Contact, i, "related_contact_external_ids") for i in ids]
        if "estimated_value" in cells:
            try:
                data["estimated_value"] = Decimal(cells["estimated_value"]) if cells["estimated_value"] else None
            except InvalidOperation:
                raise RowRejected(
                    _("estimated_value %(v)r is not a number") % {"v": cells["estimated_value"]}
                ) from None
        if "estimated_close_date" in cells:
            try:
                value = cells["estimated_close_date"]
                data["estimated_close_date"] = dt.date.fromisoformat(value) if value else None
            except ValueError:
                raise RowRejected(
                    _("estimated_close_date %(v)r is not a date (YYYY-MM-DD)") % {"v": cells["estimated_close_date"]}
                ) from None
    return data


_GRANTED = {
    "granted": True,
    "yes": True,
    "true": True,
    "1": True,
    "revoked": False,
    "no": False,
    "false": False,
    "0": False,
}


@dataclass(frozen=True)
class ConsentCells:
    """A row's consent, checked before anything is written."""

    purpose: str
    granted: bool
    at: dt.datetime | None
    wording: str
    legal_basis: str


def consent_cells(row: dict[str, str]) -> ConsentCells | None:
    """The consent a row records, None when it records none; raises RowRejected for a consent it gets wrong."""
    from django.utils import timezone

    from textdesk.compliance.models import LegalBasis, Purpose

    cells = {k: (row.get(k) or "").strip() for k in CONSENT_COLUMNS}
    if not any(cells.values()):
        return None
    purpose, granted = cells["consent_purpose"].lower(), cells["consent"].lower()
    if not purpose or not granted:
        raise RowRejected(_("consent_purpose and consent are both needed to record a consent"))
    if purpose not in Purpose.values:
        raise RowRejected(
            _("consent_purpose %(v)r is not one of: %(known)s") % {"v": purpose, "known": ", ".join(Purpose.values)}
        )
    if granted not in _GRANTED:
        raise RowRejected(_("consent %(v)r is neither granted nor revoked") % {"v": cells["consent"]})
    basis = cells["consent_legal_basis"].lower() or LegalBasis.CONSENT
    if basis not in LegalBasis.values:
        raise RowRejected(
            _("consent_legal_basis %(v)r is not one of: %(known)s")
            % {"v": cells["consent_legal_basis"], "known": ", ".join(LegalBasis.values)}
        )
    at = None
    if cells["consent_date"]:
        try:
            at = dt.datetime.fromisoformat(cells["consent_date"])
        except ValueError:
            raise RowRejected(
                _("consent_date %(v)r is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM)") % {"v": cells["consent_date"]}
            ) from None
        if timezone.is_naive(at):
            at = at.replace(tzinfo=dt.UTC)
        if at > timezone.now() + dt.timedelta(days=1):
            raise RowRejected(_("consent_date %(v)r is in the future") % {"v": cells["consent_date"]})
    return ConsentCells(purpose, _GRANTED[granted], at, cells["consent_wording"], basis)


def record_consent(record, consent: ConsentCells, *, recorded_by=None, note: str = "") -> None:
    """Append the row's consent to the ledger for the record's mobile number, else its business number.

    Importing the same file twice changes nothing: an entry equal to the number's latest for that purpose is
    not written again."""
    from textdesk.compliance.actions import ledger
    from textdesk.compliance.models import ConsentMethod

    numbers = {p["field"]: p["e164"] for p in record.phone_numbers() if p["is_valid"]}
    customer = numbers.get("mobile_phone") or numbers.get("business_phone")
    if not customer:
        raise RowRejected(_("a consent needs a mobile_phone or business_phone that can be texted"))
    latest = ledger.latest(customer, consent.purpose)
    if (
        latest is not None
        and latest.method == ConsentMethod.IMPORT
        and latest.granted == consent.granted
        and latest.wording == consent.wording
        and latest.legal_basis == consent.legal_basis
        and (consent.at is None or latest.at == consent.at)
    ):
        return
    ledger.record(
        customer=customer,
        purpose=consent.purpose,
        granted=consent.granted,
        method=ConsentMethod.IMPORT,
        wording=consent.wording,
        legal_basis=consent.legal_basis,
        recorded_by=recorded_by,
        note=note,
        at=consent.at,
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            parts = []
            for name, messages in exc.message_dict.items():
                text = " ".join(messages)
                parts.append(text if name == "__all__" else f"{name}: {text}")
            return "; ".join(parts)
        return " ".join(exc.messages)
    return str(exc)


def import_rows(
    kind: str,
    rows: Iterable[tuple[int, dict[str, str]]],
    *,
    default_owner: str = "",
    header_width: int = 0,
    on_row: Callable[[], None] | None = None,
    on_problem: Callable[[RowError | NumberWarning], None] | None = None,
    recorded_by=None,
    source: str = "",
) -> ImportReport:
    """Import each row on its own; never stops at a bad row. ``on_problem`` hears of each rejected row and each
    unreadable phone number as it happens (so a long import reports while it runs). A row's consent columns go
    to the consent ledger in the row's transaction, as recorded by ``recorded_by`` from ``source`` (the file)."""
    model = KINDS[kind]
    lookups = _Lookups()
    report = ImportReport()
    for line, row in rows:
        try:
            data = row_data(kind, row, lookups, default_owner, header_width)
            consent = consent_cells(row) if kind in _WITH_CONSENT else None
            external_id = data.pop("external_id", None) or (row.get("external_id") or "").strip()
            with transaction.atomic():  # the record and its consent, or neither
                if external_id:
                    record, created = upsert_record(model, external_id, data)
                else:
                    record = create_record(model, data)
                    created = True
                if consent is not None:
                    note = _("import of %(file)s, line %(line)s") % {"file": source or "CSV", "line": line}
                    record_consent(record, consent, recorded_by=recorded_by, note=note)
            if created:
                report.created += 1
            else:
                report.updated += 1
            for phone in record.phone_numbers():
                if phone["raw"] and not phone["is_valid"] and phone["field"] in row:
                    warning = NumberWarning(line=line, column=phone["field"], value=phone["raw"])
                    report.unreadable_numbers.append(warning)
                    if on_problem is not None:
                        on_problem(warning)
        except (RowRejected, ValidationError, DatabaseError, ValueError) as exc:
            error = RowError(line=line, reason=_reason(exc), row=row)
            report.errors.append(error)
            if on_problem is not None:
                on_problem(error)
        if on_row is not None:
            on_row()
    return report


def rejected_rows_csv(header: list[str], errors: list[RowError]) -> str:
    """The failed rows as CSV text: line and reason first, then the row as it was (fix it and import again)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "reason", *header])
    for error in errors:
        writer.writerow([error.line, error.reason, *(error.row.get(h, "") for h in header)])
    return out.getvalue()


def write_errors(path: Path, header: list[str], errors: list[RowError]) -> None:
    Path(path).write_text(rejected_rows_csv(header, errors), encoding="utf-8", newline="")


def rejected_path(source: Path) -> Path:
    """Where the rejected rows of ``source`` are written by default: beside it."""
    return source.with_name(f"{source.stem}.rejected.csv")
