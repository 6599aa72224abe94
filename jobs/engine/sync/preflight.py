"""Pre-flight of a sync, shown before the first run and available any time.

Logs in on both sides, lists what each server can do (UIDPLUS, MOVE, CONDSTORE, QRESYNC,
SPECIAL-USE, NAMESPACE, QUOTA), measures the source folders (messages and bytes: STATUS=SIZE
where the server has it, else the sum of RFC822.SIZE), reads the destination's quota and predicts
the folder mapping. A migration whose selected folders would not fit the quota left says so.
Nothing is written anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.engine.copying.destination import Destination
from jobs.engine.copying.mapping import FolderMap, Layout
from jobs.engine.copying.report import SyncOptions
from jobs.engine.sizes import size_text
from jobs.engine.sync import plan
from jobs.engine.sync.plan import FolderSize
from mail import errors

CAPABILITIES = ("UIDPLUS", "MOVE", "CONDSTORE", "QRESYNC", "SPECIAL-USE", "NAMESPACE", "QUOTA")


@dataclass
class Side:
    label: str  # "source" | "destination"
    account: str
    ok: bool = False
    error: str = ""
    capabilities: list[tuple[str, bool]] = field(default_factory=list)
    layout: Layout | None = None
    quota: tuple[int, int] | None = None  # bytes used, bytes allowed

    @property
    def quota_left(self) -> int | None:
        return max(0, self.quota[1] - self.quota[0]) if self.quota else None


@dataclass
class Preflight:
    source: Side
    destination: Side
    sizes: list[FolderSize] = field(default_factory=list)
    mapping: list[FolderMap] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.source.ok and self.destination.ok

    @property
    def selected_messages(self) -> int:
        chosen = {m.source.name for m in self.mapping if not m.skip}
        return sum(s.messages for s in self.sizes if s.name in chosen)

    @property
    def selected_bytes(self) -> int:
        chosen = {m.source.name for m in self.mapping if not m.skip}
        return sum(s.bytes for s in self.sizes if s.name in chosen)

    @property
    def fits(self) -> bool | None:
        """None when the destination has no quota we can read."""
        left = self.destination.quota_left
        return None if left is None else self.selected_bytes <= left


def preflight(source_account, destination_account, options: SyncOptions | None = None) -> Preflight:
    options = options or SyncOptions()
    report = Preflight(
        Side("source", str(source_account)), Side("destination", str(destination_account))
    )
    source = _login(report.source, plan.connect_source, source_account)
    dest = _login(report.destination, plan.connect_destination, destination_account)
    try:
        if source is None or dest is None:
            return report
        maps, source_layout, dest_layout = plan.plan_folders(source, dest, options)
        report.mapping = maps
        report.source.layout, report.destination.layout = source_layout, dest_layout
        report.destination.quota = dest.quota()
        report.sizes = plan.folder_sizes(source, [m.source for m in maps])
        _warn(report)
    finally:
        for side in (source, dest):
            if side is not None:
                side.logout()
    return report


def _login(side: Side, connect, account):
    try:
        connected = connect(account)
    except errors.EngineError as exc:
        side.error = str(exc)
        return None
    session = connected.session if isinstance(connected, Destination) else connected
    side.ok = True
    side.capabilities = [(c, c in session.capabilities) for c in CAPABILITIES]
    return connected


def _warn(report: Preflight) -> None:
    dest = report.destination
    if report.fits is False:
        need, left = size_text(report.selected_bytes), size_text(dest.quota_left)
        report.warnings.append(
            f"The selected folders hold {need} but the destination has {left} "
            "left of its quota: the migration would not fit."
        )
    if not dict(dest.capabilities).get("UIDPLUS"):
        report.warnings.append(
            "The destination has no UIDPLUS: copies are recognised on re-runs by fingerprint only."
        )
    creates = {m.target_raw for m in report.mapping if not m.skip and not m.exists}
    if creates:
        report.warnings.append(f"{len(creates)} folders will be created on the destination.")
