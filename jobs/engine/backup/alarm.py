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


def warning(vanished: dict[str, int], folders_gone: list[str], before: int, limits) -> str:
    """The warning line for the run, or "" when what vanished stays under the thresholds.

    `before` is how many messages the archive held as on the server when the run began."""
    total = sum(vanished.values())
    too_many = total > limits.count or (before and total * 100 > limits.percent * before)
    if not folders_gone and not too_many:
        return ""
    share = f" ({total * 100 // before}%)" if before else ""
    parts = [f"{total:,} of {before:,} messages{share} gone from the server since the last run"]
    if folders_gone:
        parts.append(f"folders gone: {', '.join(folders_gone)}")
    per_folder = ", ".join(f"{name}: {n:,}" for name, n in sorted(vanished.items()))
    return f"Possible mass deletion: {'; '.join(parts)} ({per_folder})"[:500]
