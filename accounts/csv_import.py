"""Bulk import of accounts from CSV, shared by the upload page and `manage.py import_accounts`.

Every row is validated first (with the same form as the browser, so the rules are the same);
then either all rows are imported in one transaction, or, when the admin asks for it, only the
valid ones. Rows whose name already exists are skipped or update that account.

The file: UTF-8 with or without BOM, comma or semicolon separated, a header line with
`name,protocol,host,port,security,username,password` and optionally `preset`, `notes`,
`tls_fingerprint`. A preset fills an empty host, port or security; an empty port or security
falls back to the protocol's usual one.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.db import transaction

from accounts import presets
from accounts.forms import AccountForm
from accounts.models import Account

REQUIRED = ("name", "protocol", "host", "port", "security", "username", "password")
OPTIONAL = ("preset", "notes", "tls_fingerprint")
MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
SECURITY_ALIASES = {
    "ssl": "ssl",
    "tls": "ssl",
    "ssl/tls": "ssl",
    "implicit": "ssl",
    "implicit tls": "ssl",
    "starttls": "starttls",
    "none": "none",
    "plain": "none",
}
DEFAULT_PORTS = {("imap", "ssl"): 993, ("imap", ""): 143, ("pop3", "ssl"): 995, ("pop3", ""): 110}
# Form field -> CSV column, for error messages.
FIELD_TO_COLUMN = {"provider": "preset", "__all__": "row"}


class ImportFileError(Exception):
    """The file as a whole cannot be read (encoding, header, size)."""


@dataclass
class Row:
    line: int
    name: str
    action: str = "create"  # create, update, skip
    errors: dict[str, list[str]] = field(default_factory=dict)
    form: AccountForm | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def describe(self) -> str:
        """One line for the command's output."""
        if self.errors:
            problems = "; ".join(f"{col}: {' '.join(msgs)}" for col, msgs in self.errors.items())
            return f"line {self.line}: {self.name or '(no name)'}: error: {problems}"
        verb = {"create": "created", "update": "updated", "skip": "skipped (name exists)"}
        return f"line {self.line}: {self.name}: {verb[self.action]}"


@dataclass
class Plan:
    rows: list[Row]
    update_existing: bool

    @property
    def bad_rows(self) -> list[Row]:
        return [row for row in self.rows if not row.ok]

    @property
    def ok(self) -> bool:
        return not self.bad_rows


@dataclass
class Outcome:
    plan: Plan
    imported: bool  # False: nothing was written because some rows had errors
    created: list[Row] = field(default_factory=list)
    updated: list[Row] = field(default_factory=list)
    skipped: list[Row] = field(default_factory=list)


def read_rows(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """(line number, column -> value) for each non-empty row; header problems raise."""
    if len(data) > MAX_BYTES:
        raise ImportFileError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("The file is not UTF-8 text; save it as 'CSV UTF-8'.") from None
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader, [])]
    _check_header(header)
    rows = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        if len(rows) >= MAX_ROWS:
            raise ImportFileError(f"The file has more than {MAX_ROWS} rows.")
        padded = values + [""] * (len(header) - len(values))
        rows.append((reader.line_num, dict(zip(header, padded, strict=False))))
    return rows


def _check_header(header: list[str]) -> None:
    if not any(header):
        raise ImportFileError("The file is empty: it needs a header line.")
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s): {', '.join(unknown)}")
    if len(set(header)) != len(header):
        problems.append("a column appears twice")
    if problems:
        raise ImportFileError(f"The header line is wrong: {'; '.join(problems)}.")


def form_data(values: dict[str, str]) -> dict[str, str]:
    """CSV values to the account form's fields, filling what a preset or protocol implies."""
    v = {k: (values.get(k) or "").strip() for k in REQUIRED + OPTIONAL}
    v["password"] = values.get("password") or ""  # passwords keep their spaces
    protocol = v["protocol"].lower()
    preset_key = v["preset"].lower() or "custom"
    server = presets.BY_KEY[preset_key].server(protocol) if preset_key in presets.BY_KEY else None
    security = SECURITY_ALIASES.get(v["security"].lower(), v["security"].lower())
    if server and not v["host"]:
        v["host"] = server.host
    if server and not security and not v["port"]:
        security, v["port"] = server.security, str(server.port)
    port = v["port"]
    if not security:  # implicit TLS unless the port says otherwise
        security = "ssl" if port in ("", "993", "995") else "starttls"
    if not port and protocol in ("imap", "pop3"):
        port = str(DEFAULT_PORTS[(protocol, "ssl" if security == "ssl" else "")])
    return {
        "name": v["name"],
        "provider": preset_key,
        "protocol": protocol,
        "host": v["host"],
        "port": port,
        "security": security,
        "username": v["username"],
        "password": v["password"],
        "tls_verify": "on",
        "tls_fingerprint": v["tls_fingerprint"],
        "notes": v["notes"],
    }


def plan(data: bytes, update_existing: bool = False) -> Plan:
    """Validate every row and decide what would happen to it; writes nothing."""
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for line, values in read_rows(data):
        name = (values.get("name") or "").strip()
        row = Row(line=line, name=name)
        rows.append(row)
        if name in seen:
            row.errors["name"] = [f"This name is already used on line {seen[name]} of the file."]
            continue
        seen[name] = line
        existing = Account.objects.active().filter(name=name).first() if name else None
        if existing and not update_existing:
            row.action = "skip"
            continue
        row.action = "update" if existing else "create"
        row.form = AccountForm(form_data(values), instance=existing)
        for field_name, messages in row.form.errors.items():
            row.errors[FIELD_TO_COLUMN.get(field_name, field_name)] = list(messages)
    return Plan(rows=rows, update_existing=update_existing)


def apply(the_plan: Plan, valid_only: bool = False) -> Outcome:
    """Write the planned rows: all or nothing, or only the valid ones when `valid_only`."""
    if not the_plan.ok and not valid_only:
        return Outcome(plan=the_plan, imported=False)
    outcome = Outcome(plan=the_plan, imported=True)
    with transaction.atomic():
        for row in the_plan.rows:
            if not row.ok:
                continue
            if row.action == "skip":
                outcome.skipped.append(row)
                continue
            row.form.save()
            (outcome.updated if row.action == "update" else outcome.created).append(row)
    return outcome


def import_csv(data: bytes, update_existing: bool = False, valid_only: bool = False) -> Outcome:
    return apply(plan(data, update_existing), valid_only)


def template_csv() -> str:
    """The downloadable template: the header and two example rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REQUIRED + OPTIONAL)
    writer.writerow(
        ["Work mail", "imap", "", "", "", "me@example.com", "app-password", "gmail", "", ""]
    )
    writer.writerow(
        [
            "Old POP box",
            "pop3",
            "pop.example.net",
            "995",
            "ssl",
            "me",
            "secret",
            "",
            "Kept for the records, with a comma",
            "",
        ]
    )
    return out.getvalue()
