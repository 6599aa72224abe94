"""The mass-deletion alarm: a backup that finds much of an account gone from the server warns.

A hacked or wiped account shows up as messages and folders vanishing between two backups. The
archive keeps them either way (`archive.folder_state.mark_deleted`); this module only decides
whether what vanished in one run is worth a warning, by the account's thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PERCENT = 20  # of the messages the account had on the server at the previous run
DEFAULT_COUNT = 500


@dataclass(frozen=True)
class Thresholds:
    percent: int = DEFAULT_PERCENT
    count: int = DEFAULT_COUNT

    @classmethod
    def of(cls, account) -> Thresholds:
        percent = getattr(account, "mass_deletion_percent", None)
        count = getattr(account, "mass_deletion_count", None)
        return cls(
            DEFAULT_PERCENT if percent is None else percent,
            DEFAULT_COUNT if count is None else count,
        )


def vanished_per_folder(reports, gone: dict[str, int], folders_gone: list[str]) -> dict[str, int]:
    """Messages gone per folder: those marked deleted in this run, and every message a folder
    gone from the server held."""
    counts = {r.folder: r.vanished for r in reports if r.vanished}
    counts.update({name: gone.get(name, 0) for name in folders_gone})
    return counts


def warning(
    vanished: dict[str, int],
    folders_gone: list[str],
    flags_changed: dict[str, int],
    before: int,
    limits: Thresholds,
) -> str:
    """The warning line for the run, or "" when nothing passed the thresholds: messages gone
    from the server, a whole folder gone, or flags changed on many messages at once (such as
    a wiper marking everything \\Deleted before the expunge).

    `before` is how many messages the archive held as on the server when the run began."""
    parts = []
    if folders_gone or _too_many(sum(vanished.values()), before, limits):
        parts.append(_deletions(vanished, folders_gone, before))
    if _too_many(sum(flags_changed.values()), before, limits):
        total = sum(flags_changed.values())
        parts.append(
            f"flags of {_share(total, before)} changed at once ({_per_folder(flags_changed)})"
        )
    return f"Possible mass deletion: {'; '.join(parts)}"[:500] if parts else ""


def _too_many(total: int, before: int, limits: Thresholds) -> bool:
    return total > limits.count or bool(before and total * 100 > limits.percent * before)


def _deletions(vanished: dict[str, int], folders_gone: list[str], before: int) -> str:
    text = f"{_share(sum(vanished.values()), before)} gone from the server since the last run"
    if folders_gone:
        text += f"; folders gone: {', '.join(folders_gone)}"
    return f"{text} ({_per_folder(vanished)})"


def _share(total: int, before: int) -> str:
    percent = f" ({total * 100 // before}%)" if before else ""
    return f"{total:,} of {before:,} messages{percent}"


def _per_folder(counts: dict[str, int]) -> str:
    return ", ".join(f"{name}: {n:,}" for name, n in sorted(counts.items()))
