"""Importing CRM records from CSV files: column mapping, per-row upsert, per-row error report.

Each row is written by the record actions in its own transaction, so a bad row is reported with
its line number and reason and leaves nothing behind, while the good rows around it are kept.
Rows with an ``external_id`` are upserted (importing the same file twice changes nothing); rows
without one are created.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.utils.translation import gettext as _

from textdesk.crm.actions.records import create_record, upsert_record
from textdesk.crm.models import Account, Contact, Lead, Opportunity, OwnedRecord
from textdesk.org.models import Team, User

KINDS: dict[str, type[OwnedRecord]] = {
    "account": Account,
    "contact": Contact,
    "lead": Lead,
    "opportunity": Opportunity,
}

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

COLUMNS: dict[str, dict[str, str]] = {
    "account": {"name": "account name (required)", **_PHONES, "email": "", "website": "", "city": "", **_COMMON},
    "contact": {
        "last_name": "required",
        "first_name": "",
        **_PHONES,
        "email": "",
        "job_title": "",
        "account_external_id": "external id of the contact's account (imported before)",
        **_COMMON,
    },
    "lead": {
        "last_name": "last_name or company_name is required",
        "first_name": "",
        "company_name": "",
        "topic": "",
        **_PHONES,
        "email": "",
        **_COMMON,
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


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.errors)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.failed


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


def read_csv(path: Path, delimiter: str = ",") -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and an iterator of (line number where the row starts, row). Line 1 is the header."""
    handle = open(path, newline="", encoding="utf-8-sig")
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        handle.close()
        raise ImportFileError(_("The file is empty.")) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        handle.close()
        raise ImportFileError(_("The file cannot be read as UTF-8 CSV: %(error)s") % {"error": exc}) from exc

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        with handle:
            start = reader.line_num + 1
            try:
                for cells in reader:
                    if any(c.strip() for c in cells):
                        if len(cells) > len(header):
                            yield start, {"__too_many_cells__": str(len(cells))}
                        else:
                            yield start, {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header)}
                    start = reader.line_num + 1
            except (UnicodeDecodeError, csv.Error) as exc:
                yield start, {"__unreadable__": str(exc)}

    return header, rows()


def count_rows(path: Path, delimiter: str = ",") -> int:
    """How many data rows the file has (for the progress bar)."""
    _header, rows = read_csv(path, delimiter)
    return sum(1 for _ in rows)


class _Lookups:
    """Owners and related records by their names and external ids, remembered across rows."""

    def __init__(self) -> None:
        self.users: dict[str, int | None] = {}
        self.teams: dict[str, int | None] = {}

    def user_id(self, username: str) -> int:
        if username not in self.users:
            self.users[username] = User.objects.filter(username=username).values_list("pk", flat=True).first()
        if self.users[username] is None:
            raise RowRejected(_("unknown user %(name)r in owner_username") % {"name": username})
        return self.users[username]

    def team_id(self, name: str) -> int:
        if name not in self.teams:
            self.teams[name] = Team.objects.filter(name=name).values_list("pk", flat=True).first()
        if self.teams[name] is None:
            raise RowRejected(_("unknown team %(name)r in owner_team") % {"name": name})
        return self.teams[name]

    @staticmethod
    def record_id(model: type[OwnedRecord], external_id: str, column: str) -> int:
        pk = model.objects.filter(external_id=external_id).values_list("pk", flat=True).first()
        if pk is None:
            raise RowRejected(
                _("no %(what)s with external id %(id)r (%(column)s)")
                % {"what": model._meta.verbose_name, "id": external_id, "column": column}
            )
        return pk


def row_data(kind: str, row: dict[str, str], lookups: _Lookups, default_owner: str = "") -> dict:
    """The record fields a CSV row stands for; raises RowRejected for what only the file can get wrong."""
    if "__too_many_cells__" in row:
        raise RowRejected(
            _("the row has %(n)s cells, more than the header's columns") % {"n": row["__too_many_cells__"]}
        )
    if "__unreadable__" in row:
        raise RowRejected(_("unreadable row: %(error)s") % {"error": row["__unreadable__"]})
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
    on_row: Callable[[], None] | None = None,
) -> ImportReport:
    """Import each row on its own; never stops at a bad row."""
    model = KINDS[kind]
    lookups = _Lookups()
    report = ImportReport()
    for line, row in rows:
        try:
            data = row_data(kind, row, lookups, default_owner)
            external_id = data.pop("external_id", None) or (row.get("external_id") or "").strip()
            if external_id:
                _record, created = upsert_record(model, external_id, data)
            else:
                create_record(model, data)
                created = True
            if created:
                report.created += 1
            else:
                report.updated += 1
        except (RowRejected, ValidationError, DatabaseError, ValueError) as exc:
            report.errors.append(RowError(line=line, reason=_reason(exc), row=row))
        if on_row is not None:
            on_row()
    return report


def write_errors(path: Path, header: list[str], errors: list[RowError]) -> None:
    """The failed rows as a CSV: line and reason first, then the row as it was (fix it and import again)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "reason", *header])
        for error in errors:
            writer.writerow([error.line, error.reason, *(error.row.get(h, "") for h in header)])
