"""Benchmark: an IMAP-to-IMAP copy of a whole mailbox, and the no-change re-run, by backupweb's
`manage.py sync`, mbsync (an IMAP-to-IMAP channel) and offlineimap3 (IMAP to IMAP), between
accounts of the same local Dovecot. A script, never a test.

    .venv/bin/python bench/sync.py [--messages 20000] [--folders 40] [--skip offlineimap3]

The source mailbox is seeded by bench/backup.py's `seed_maildir` (corpus messages made unique,
plus a few large ones); every tool copies it into its own empty destination account. After each
full copy the destination's message count per folder is checked against the source. backupweb's
accounts allow one connection pair per core (mbsync uses one pair, offlineimap3 up to four).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BASE_DIR))
sys.path.insert(0, str(BASE_DIR / "bench"))

from backup import (  # noqa: E402
    Result,
    arguments,
    ensure_peers,
    print_results,
    seeded,
    timed,
)
from imapclient import IMAPClient  # noqa: E402

from tests.servers.dovecot import Dovecot, MailUser  # noqa: E402

# Both servers run on this machine: more connection pairs than cores only make the Dovecot
# processes compete (measured on 2 cores: 2 pairs 14.7 s, 4 pairs 24.8 s for 20,000 messages).
CONNECTIONS = max(1, min(4, os.cpu_count() or 1))


class Backupweb:
    name = "backupweb"

    def __init__(self, work: Path, dovecot: Dovecot, source: MailUser, dest: MailUser):
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "backupweb.settings",
            "DATA_DIR": str(work / "backupweb"),
        }
        for key in ("DATABASE_URL", "ARCHIVE_ROOT"):
            self.env.pop(key, None)
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], env=self.env, cwd=BASE_DIR, check=True)
        create = textwrap.dedent(f"""
            from accounts.models import Account
            for name, user, password in (("src", {source.username!r}, {source.password!r}),
                                         ("dst", {dest.username!r}, {dest.password!r})):
                a = Account(name=name, host="127.0.0.1", port={dovecot.imap_port},
                            security="none", username=user, max_connections={CONNECTIONS})
                a.set_secret(password); a.save()
        """)
        subprocess.run([*manage, "shell", "-c", create], env=self.env, cwd=BASE_DIR, check=True)
        self.command = [*manage, "sync", "src", "dst"]

    def run(self) -> tuple:
        return timed(self.command, env=self.env, cwd=BASE_DIR)


class Mbsync:
    name = "mbsync"

    def __init__(self, work: Path, dovecot: Dovecot, source: MailUser, dest: MailUser):
        state = work / "mbsync-state"
        state.mkdir()
        self.config = work / "mbsyncrc"
        stores = "".join(
            textwrap.dedent(f"""\
            IMAPAccount {label}
            Host 127.0.0.1
            Port {dovecot.imap_port}
            User {user.username}
            Pass {user.password}
            SSLType None
            AuthMechs LOGIN
            PipelineDepth 50

            IMAPStore {label}
            Account {label}

            """)
            for label, user in (("src", source), ("dst", dest))
        )
        self.config.write_text(
            stores
            + textwrap.dedent(f"""\
            Channel bench
            Far :src:
            Near :dst:
            Patterns *
            Create Near
            Sync Pull
            CopyArrivalDate yes
            SyncState {state}/
            """)
        )

    def run(self) -> tuple:
        return timed(["mbsync", "-q", "-c", str(self.config), "bench"])


class OfflineImap:
    name = "offlineimap3"

    def __init__(self, work: Path, dovecot: Dovecot, source: MailUser, dest: MailUser):
        self.config = work / "offlineimaprc"
        repo = textwrap.dedent("""\
            [Repository {label}]
            type = IMAP
            remotehost = 127.0.0.1
            remoteport = {port}
            remoteuser = {user}
            remotepass = {password}
            ssl = no
            maxconnections = 4
            {extra}
            """)
        self.config.write_text(
            textwrap.dedent(f"""\
            [general]
            accounts = bench
            metadata = {work}/offlineimap-meta
            [Account bench]
            localrepository = dst
            remoterepository = src
            """)
            + repo.format(
                label="src",
                port=dovecot.imap_port,
                user=source.username,
                password=source.password,
                extra="readonly = True",
            )  # fmt: skip
            + repo.format(
                label="dst",
                port=dovecot.imap_port,
                user=dest.username,
                password=dest.password,
                extra="",
            )  # fmt: skip
        )

    def run(self) -> tuple:
        return timed(["offlineimap", "-c", str(self.config), "-o", "-u", "quiet"])


def folder_counts(dovecot: Dovecot, user: MailUser) -> dict[str, int]:
    client = IMAPClient("127.0.0.1", port=dovecot.imap_port, ssl=False)
    client.login(user.username, user.password)
    try:
        return {
            name: client.folder_status(name, ["MESSAGES"])[b"MESSAGES"]
            for flags, _delim, name in client.list_folders()
            if b"\\Noselect" not in flags
        }
    finally:
        client.logout()


def complete(source: dict[str, int], dest: dict[str, int]) -> str:
    """ "" when every source folder has as many messages on the destination, else what differs."""
    wrong = [f"{n}: {c} vs {dest.get(n, 0)}" for n, c in source.items() if dest.get(n, 0) != c]
    return "; ".join(wrong[:5])


def main() -> None:
    args = arguments(__doc__).parse_args()
    args.skip += sorted(ensure_peers())
    work = Path(tempfile.mkdtemp(prefix="bw-bench-sync-"))
    os.chmod(work, 0o755)
    dovecot, source, total = seeded(args, work)
    try:
        expected = folder_counts(dovecot, source)
        tools = []
        for tool in (Backupweb, Mbsync, OfflineImap):
            if tool.name not in args.skip:
                dest = dovecot.add_user()
                tools.append((tool(work, dovecot, source, dest), dest))
        results = []
        for run in ("full", "no-change"):
            for tool, dest in tools:
                seconds, peak, code, err = tool.run()
                tail = err.decode(errors="replace").strip()[-300:]
                note = "" if code == 0 else f"exit status {code}: {tail}"
                if run == "full" and code == 0:
                    note = complete(expected, folder_counts(dovecot, dest))
                ok = code == 0 and not note
                results.append(Result(tool.name, run, seconds, peak, args.messages, ok, note))
                print(f"  {tool.name} {run}: {seconds:.2f}s{'' if ok else '  ' + note}", flush=True)
        print_results(results, total)
    finally:
        dovecot.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
