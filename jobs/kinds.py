"""The job kinds: for each, how its options come from a job's JSON and from command-line
arguments, and which engine runs it.

This is the only place that tells the kinds apart. `jobs.runner` starts every run the same way
(the UI, the scheduler, `run_job` and the `backup`/`sync`/`restore`/`verify` commands) and calls
`run_engine`; the commands build their options JSON with the kind's `options_from_args`, so job
options and command-line options go through the same conversion into the engine's options.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from jobs.engine.backup.account import backup_account
from jobs.engine.backup.report import BackupOptions
from jobs.engine.copying.mapping import parse_rules
from jobs.engine.copying.report import SyncOptions
from jobs.engine.export import run_export
from jobs.engine.restore import RestoreOptions, restore_messages
from jobs.engine.sync.account import sync_accounts
from jobs.engine.verify import verify_account
from jobs.models import Job, JobRun
from mail.errors import PermanentError


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _selection(options: dict, only_folders: Iterable[str]) -> dict[str, Any]:
    """The folder and message selection every copying kind shares."""
    extra = {"batch_bytes": int(options["batch_bytes"])} if options.get("batch_bytes") else {}
    return {
        **extra,
        "folders": list(only_folders) or options.get("folders") or None,
        "include": list(options.get("include") or []),
        "exclude": list(options.get("exclude") or []),
        "since": _date(options.get("since")),
        "before": _date(options.get("before")),
        "max_message_size": options.get("max_message_size") or None,
        "skip_trash_and_junk": bool(options.get("skip_trash_and_junk")),
    }


def backup_options(options: dict, *, only_folders: Iterable[str] = ()) -> BackupOptions:
    """A backup job's options JSON as the engine's BackupOptions (dates from ISO strings)."""
    return BackupOptions(**_selection(options, only_folders))


def sync_options(
    options: dict, *, only_folders: Iterable[str] = (), dry_run: bool = False
) -> SyncOptions:
    """A sync job's options JSON as SyncOptions (rules as text, one `source -> target` a line)."""
    return SyncOptions(
        **_selection(options, only_folders),
        rules=parse_rules(options.get("rules") or ""),
        sync_flags=bool(options.get("sync_flags")),
        mirror_deletions=bool(options.get("mirror_deletions")),
        gmail_dedupe=options.get("gmail_dedupe", True) is not False,
        encode_8bit_headers=bool(options.get("encode_8bit_headers")),
        dry_run=dry_run,
    )


def restore_options(
    options: dict, *, only_folders: Iterable[str] = (), dry_run: bool = False
) -> RestoreOptions:
    ids = options.get("message_ids")
    return RestoreOptions(
        folders=list(only_folders) or options.get("folders") or None,
        message_ids=[int(i) for i in ids] if ids is not None else None,
        into=(options.get("into") or "").strip("/"),
        include_deleted=options.get("include_deleted", True) is not False,
        encode_8bit_headers=bool(options.get("encode_8bit_headers")),
        dry_run=dry_run,
    )


def options_of(run: JobRun) -> dict:
    """The options a run uses: its own copy (command line, or taken when it was queued)."""
    return run.options if run.options is not None else run.job.options


def destination_of(job: Job):
    if job.destination is None:
        raise PermanentError(
            f"The {job.get_kind_display().lower()} job has no destination account."
        )
    return job.destination


def _listening(recorder) -> dict[str, Callable]:
    return {
        "progress": recorder.progress,
        "should_stop": recorder.should_stop,
        "log": recorder.log,
    }


def _run_backup(run: JobRun, recorder):
    options = backup_options(options_of(run), only_folders=run.only_folders)
    return backup_account(run.account, options, **_listening(recorder))


def _run_verify(run: JobRun, recorder):
    online = not options_of(run).get("offline")
    return verify_account(run.account, online=online, **_listening(recorder))


def _run_sync(run: JobRun, recorder):
    options = sync_options(options_of(run), only_folders=run.only_folders)
    return sync_accounts(run.account, destination_of(run.job), options, **_listening(recorder))


def _run_restore(run: JobRun, recorder):
    # Retrying failed folders: the FolderRun names are the archived folders'.
    only = [name for entry in run.only_folders for name in entry.split(", ")]
    options = restore_options(options_of(run), only_folders=only)
    return restore_messages(run.account, destination_of(run.job), options, **_listening(recorder))


# -- command-line arguments -------------------------------------------------------------------


def _folder_arguments(parser) -> None:
    parser.add_argument(
        "--folder", action="append", dest="folders", metavar="NAME", help="only this folder"
    )
    parser.add_argument("--batch-bytes", type=int, default=None, help="bytes per body FETCH")


def _folder_options(args: dict) -> dict:
    options: dict[str, Any] = {"folders": args.get("folders") or None}
    if args.get("batch_bytes"):
        options["batch_bytes"] = args["batch_bytes"]
    return options


def _sync_arguments(parser) -> None:
    _folder_arguments(parser)
    parser.add_argument("--exclude", action="append", default=[], metavar="PATTERN")
    parser.add_argument(
        "--rule", action="append", default=[], metavar="'SOURCE -> TARGET'",
        help="a folder mapping rule, e.g. 'Projects/* -> Work/*'",
    )  # fmt: skip
    parser.add_argument("--sync-flags", action="store_true", help="carry flag changes over")
    parser.add_argument(
        "--mirror-deletions", action="store_true",
        help="delete on the destination what was deleted on the source (not a backup!)",
    )  # fmt: skip
    parser.add_argument("--no-gmail-dedupe", action="store_true")
    _encode_argument(parser)


def _encode_argument(parser) -> None:
    parser.add_argument(
        "--encode-8bit-headers", action="store_true",
        help="send 8-bit header bytes as RFC 2047 encoded-words (servers that replace them)",
    )  # fmt: skip


def _sync_options_from_args(args: dict) -> dict:
    rules = "\n".join(args.get("rule") or [])
    parse_rules(rules)  # a wrong rule is refused before anything runs (ValueError)
    return {
        **_folder_options(args),
        "exclude": args.get("exclude") or [],
        "rules": rules,
        "sync_flags": bool(args.get("sync_flags")),
        "mirror_deletions": bool(args.get("mirror_deletions")),
        "gmail_dedupe": not args.get("no_gmail_dedupe"),
        "encode_8bit_headers": bool(args.get("encode_8bit_headers")),
    }


def _restore_arguments(parser) -> None:
    parser.add_argument("--folder", action="append", dest="folders", metavar="NAME")
    parser.add_argument("--message", action="append", type=int, dest="messages", metavar="ID")
    parser.add_argument("--into", default="", metavar="PREFIX", help="e.g. 'Restored 2026-11-21'")
    parser.add_argument(
        "--skip-deleted", action="store_true", help="leave out messages deleted on the server"
    )
    _encode_argument(parser)


def _restore_options_from_args(args: dict) -> dict:
    return {
        "folders": args.get("folders") or None,
        "message_ids": args.get("messages") or None,
        "into": (args.get("into") or "").strip("/"),
        "include_deleted": not args.get("skip_deleted"),
        "encode_8bit_headers": bool(args.get("encode_8bit_headers")),
    }


def _verify_arguments(parser) -> None:
    parser.add_argument(
        "--offline", action="store_true", help="only re-read the archive, do not connect"
    )


def _no_arguments(parser) -> None:
    return None


@dataclass(frozen=True)
class KindSpec:
    run: Callable  # (run, recorder) -> the engine's report
    add_arguments: Callable = _no_arguments  # the command line's options of this kind
    options_from_args: Callable[[dict], dict] = field(default=lambda args: {})
    verb: str = ""  # "Backup", for the command line's closing line


KINDS: dict[str, KindSpec] = {
    Job.Kind.BACKUP: KindSpec(_run_backup, _folder_arguments, _folder_options, "Backup"),
    Job.Kind.VERIFY: KindSpec(
        _run_verify,
        _verify_arguments,
        lambda args: {"offline": bool(args.get("offline"))},
        "Verify",
    ),  # fmt: skip
    Job.Kind.SYNC: KindSpec(_run_sync, _sync_arguments, _sync_options_from_args, "Sync"),
    Job.Kind.RESTORE: KindSpec(
        _run_restore, _restore_arguments, _restore_options_from_args, "Restore"
    ),
    Job.Kind.EXPORT: KindSpec(run_export, verb="Export"),
}


def run_engine(run: JobRun, recorder):
    """Run the engine of the run's kind; every engine returns a report of the same shape."""
    spec = KINDS.get(run.job.kind)
    if spec is None:
        raise PermanentError(f"{Job.Kind(run.job.kind).label} jobs are not available yet.")
    return spec.run(run, recorder)


def dry_run(kind: str, account, destination, options: dict):
    """What a sync or restore would do, changing nothing (the dry-run page and commands)."""
    if kind == Job.Kind.SYNC:
        return sync_accounts(account, destination, sync_options(options, dry_run=True))
    return restore_messages(account, destination, restore_options(options, dry_run=True))


def dry_run_job(job: Job):
    return dry_run(job.kind, job.account, destination_of(job), job.options)
