"""Benchmark: a full backup and a no-change re-run by backupweb, mbsync, offlineimap3 and a raw
floor, against the same local Dovecot with the same mailbox. A script, never a test.

    .venv/bin/python bench/backup.py [--messages 20000] [--folders 40] [--skip offlineimap]
                                     [--repeat 3] [--archive s3://BUCKET/PREFIX]

With --archive s3://..., backupweb also backs up into that object store ("backupweb s3", each
run under a prefix of its own) and the ratio of its throughput to the local store's is printed.
The endpoint and keys come from AWS_ENDPOINT_URL (or S3_ENDPOINT_URL), AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY; without an endpoint a SeaweedFS is started on loopback for the run.

With --repeat N every tool makes N full backups, each into a fresh place, taking turns; the
table shows each run and the median, and the ratio is of the medians. Single runs vary by 10-20%
on a small virtual machine. On ext4 without a journal (as here), creating files soon after many
were deleted is several times slower for up to five minutes (the kernel skips recently freed
inodes): the work directories are therefore removed only at the end, and a second benchmark
started right after the first one is slower for every tool.

The mailbox is written straight into Dovecot's Maildir (APPENDing 20,000 messages would take
longer than the benchmark): sizes follow the corpus (messages sampled from it, each made unique
with an X-Bench-Id header so no tool gains from deduplication) plus a few large ones. Each tool
runs in its own process; wall time and that process's peak RSS (wait4) are measured.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BASE_DIR))

from tests.corpus import corpus_messages  # noqa: E402
from tests.servers.common import give_to, unprivileged_user  # noqa: E402
from tests.servers.dovecot import Dovecot, MailUser  # noqa: E402

LARGE = (8, 12, 20)  # MB: "a few large ones"
TIME = Path("/usr/bin/time").exists()  # Debian's `time` package


@dataclass
class Result:
    tool: str
    run: str
    seconds: float
    peak_mb: float  # the biggest single process
    messages: int
    ok: bool = True
    note: str = ""
    total_mb: float = float("nan")  # all processes of the tool together

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


# -- seeding -------------------------------------------------------------------------------


def seed_maildir(dovecot: Dovecot, user: MailUser, messages: int, folders: int) -> int:
    """Write `messages` unique messages over `folders` folders; returns the total bytes."""
    rng = random.Random(20260401)
    corpus = [m.read() for m in corpus_messages()]
    root = dovecot.maildir(user)
    names = ["INBOX"] + [f"Folder {i:02d}" for i in range(1, folders)]
    dirs = [root if n == "INBOX" else root / n for n in names]
    for d in dirs:
        for sub in ("cur", "new", "tmp"):
            (d / sub).mkdir(parents=True, exist_ok=True)
    total = 0
    when = time.time() - 86400 * 365
    for i in range(messages):
        raw = b"X-Bench-Id: %d\n" % i + _body(rng, corpus, i, messages)
        target = dirs[i % len(dirs)] / "cur" / f"{int(when) + i}.M{i}P1.bench,S={len(raw)}:2,S"
        target.write_bytes(raw)
        os.utime(target, (when + i, when + i))
        total += len(raw)
    _, uid, gid = unprivileged_user()
    give_to(dovecot.root / "mail", uid, gid)
    return total


def _body(rng: random.Random, corpus: list[bytes], i: int, count: int) -> bytes:
    large_at = {count // (len(LARGE) + 1) * (k + 1): mb for k, mb in enumerate(LARGE)}
    if i in large_at:
        payload = base64.encodebytes(rng.randbytes(large_at[i] * 1024 * 1024 * 3 // 4))
        return b"Subject: large\nContent-Type: application/octet-stream\n" + (
            b"Content-Transfer-Encoding: base64\n\n" + payload
        )
    return rng.choice(corpus)


# -- the tools -----------------------------------------------------------------------------


def timed(command: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple:
    """Run a command; returns (seconds, peak RSS in MB, returncode, stderr) (bench/sync.py)."""
    seconds, peak, _total, code, err = timed_tree(command, env, cwd)
    return seconds, peak, code, err


def timed_tree(command: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple:
    """Run a command; returns (seconds, peak RSS of its biggest process in MB, peak RSS of all
    its processes together in MB, returncode, stderr).

    The first peak comes from getrusage of the children of a tiny launcher (/usr/bin/time):
    measured on our own child, it would include this script's memory, copied at fork. The
    second is sampled from /proc every 50 ms over the whole process tree (worker processes)."""
    with tempfile.NamedTemporaryFile("r") as rss:
        wrapper = ["/usr/bin/time", "-f", "%M", "-o", rss.name] if TIME else []
        started = time.monotonic()
        proc = subprocess.Popen(
            wrapper + command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        sampler = TreeSampler(proc.pid)
        _, err = proc.communicate()
        seconds = time.monotonic() - started
        sampler.stop()
        lines = rss.read().split()
    peak = int(lines[-1]) / 1024 if lines and lines[-1].isdigit() else float("nan")
    return seconds, peak, sampler.peak / 1024, proc.returncode, err


class TreeSampler:
    """Peak of the summed RSS (kB) of a process and all its descendants, from /proc."""

    def __init__(self, root: int):
        self.root, self.peak, self._stop = root, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, sum(_rss(pid) for pid in self._tree()))

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        tree, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        return tree


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Backupweb:
    name = "backupweb"

    def __init__(self, work: Path, dovecot: Dovecot, user: MailUser):
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "backupweb.settings",
            "DATA_DIR": str(work / "backupweb"),
            # As deployed (the image sets PRODUCTION=true): with DEBUG on, Django also records
            # every query and quotes its parameters with one more query (~10% of a backup).
            "DEBUG": "false",
        }
        self.env.pop("DATABASE_URL", None)
        self.env.pop("ARCHIVE_ROOT", None)
        self.env.pop("ARCHIVE_URL", None)  # the local store; BackupwebS3 sets its own
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], env=self.env, cwd=BASE_DIR, check=True)
        create = textwrap.dedent(f"""
            from accounts.models import Account
            a = Account(name="bench", host="127.0.0.1", port={dovecot.imap_port},
                        security="none", username={user.username!r})
            a.set_secret({user.password!r}); a.save()
        """)
        subprocess.run([*manage, "shell", "-c", create], env=self.env, cwd=BASE_DIR, check=True)
        self.command = [*manage, "backup", "bench"]

    def run(self, timer=timed) -> tuple:
        return timer(self.command, env=self.env, cwd=BASE_DIR)


class BackupwebS3(Backupweb):
    """backupweb storing into object storage (`--archive s3://...`), a prefix per run."""

    name = "backupweb s3"
    url = ""  # set by main() from --archive
    s3_env: dict = {}

    def __init__(self, work: Path, dovecot: Dovecot, user: MailUser):
        os.environ.update(self.s3_env)
        super().__init__(work, dovecot, user)
        self.env["ARCHIVE_URL"] = f"{self.url.rstrip('/')}/{work.name}-{os.getpid()}"


def s3_target(url: str):
    """The environment for --archive: the caller's endpoint, or a SeaweedFS started here (then
    returned, for the caller to stop)."""
    if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("S3_ENDPOINT_URL"):
        return {}, None
    from tests.servers.seaweedfs import SeaweedFS

    server = SeaweedFS.start()
    server.create_bucket(url.removeprefix("s3://").split("/")[0])
    env = {
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
    }
    return env, server


def print_store_ratio(results: list[Result]) -> None:
    def best(tool: str) -> Result | None:
        runs = [r for r in results if r.tool == tool and r.run.startswith("full") and r.ok]
        return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2] if runs else None

    local, s3 = best("backupweb"), best("backupweb s3")
    if local and s3:
        ratio = local.seconds / s3.seconds
        print(f"\nobject store throughput: {ratio:.2f}x the local store's (target: 0.70x or more)")


class Mbsync:
    name = "mbsync"

    def __init__(self, work: Path, dovecot: Dovecot, user: MailUser):
        maildir = self.maildir = work / "mbsync"
        maildir.mkdir()
        self.config = work / "mbsyncrc"
        self.config.write_text(
            textwrap.dedent(f"""\
            IMAPAccount bench
            Host 127.0.0.1
            Port {dovecot.imap_port}
            User {user.username}
            Pass {user.password}
            SSLType None
            AuthMechs LOGIN

            IMAPStore remote
            Account bench

            MaildirStore local
            Path {maildir}/
            Inbox {maildir}/INBOX
            SubFolders Verbatim

            Channel bench
            Far :remote:
            Near :local:
            Patterns *
            Create Near
            Sync Pull
            SyncState *
            """)
        )

    def run(self, timer=timed) -> tuple:
        return timer(["mbsync", "-q", "-c", str(self.config), "bench"])


class OfflineImap:
    name = "offlineimap3"

    def __init__(self, work: Path, dovecot: Dovecot, user: MailUser):
        self.maildir = work / "offlineimap"
        self.config = work / "offlineimaprc"
        self.config.write_text(
            textwrap.dedent(f"""\
            [general]
            accounts = bench
            metadata = {work}/offlineimap-meta
            [Account bench]
            localrepository = local
            remoterepository = remote
            [Repository local]
            type = Maildir
            localfolders = {work}/offlineimap
            [Repository remote]
            type = IMAP
            remotehost = 127.0.0.1
            remoteport = {dovecot.imap_port}
            remoteuser = {user.username}
            remotepass = {user.password}
            ssl = no
            starttls = no
            readonly = True
            maxconnections = 4
            """)
        )

    def run(self, timer=timed) -> tuple:
        return timer(["offlineimap", "-c", str(self.config), "-o", "-u", "quiet"])


class RawFloor:
    """One connection, BODY.PEEK[] of everything, bytes discarded: what the server can give."""

    name = "raw floor"

    def __init__(self, work: Path, dovecot: Dovecot, user: MailUser):
        self.script = work / "floor.py"
        self.script.write_text(
            textwrap.dedent(f"""\
            from imapclient import IMAPClient
            c = IMAPClient("127.0.0.1", port={dovecot.imap_port}, ssl=False)
            c.login({user.username!r}, {user.password!r})
            for flags, delim, name in c.list_folders():
                c.select_folder(name, readonly=True)
                uids = c.search("ALL")
                for i in range(0, len(uids), 500):
                    c.fetch(uids[i:i + 500], ["BODY.PEEK[]"])
            c.logout()
            """)
        )

    def run(self, timer=timed) -> tuple:
        return timer([sys.executable, str(self.script)])


# -- the benchmark -------------------------------------------------------------------------

PEERS = {"mbsync": "isync", "offlineimap": "offlineimap3"}


def ensure_peers() -> set[str]:
    """Install the peer tools (Debian packages) when missing and we are root; returns the
    names of the tools still missing, which are then left out of the run."""
    missing = {cmd: pkg for cmd, pkg in PEERS.items() if shutil.which(cmd) is None}
    if missing and os.geteuid() == 0:
        print(f"installing {' '.join(missing.values())} ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing.values()],
            env=env,
            check=False,
        )
        missing = {cmd: pkg for cmd, pkg in missing.items() if shutil.which(cmd) is None}
    for cmd, pkg in missing.items():
        print(f"{cmd} is not installed (Debian package {pkg}): it is left out of this run")
    return {"mbsync" if cmd == "mbsync" else "offlineimap3" for cmd in missing}


def measure(tool, run: str, messages: int) -> Result:
    # Every tool starts with nothing left to write back: otherwise whoever runs after a tool
    # that wrote 500 MB shares the disk with its write-back (and a syncfs waits for it).
    os.sync()
    time.sleep(2)
    seconds, peak, total, code, err = tool.run(timed_tree)
    lines = err.decode(errors="replace").strip().splitlines()
    note = "" if code == 0 else (lines[-1] if lines else f"exit status {code}")
    maildir = getattr(tool, "maildir", None)
    if maildir is not None and run.startswith("full"):  # how many messages the peer copied
        copied = sum(1 for f in maildir.rglob("*") if f.parent.name in ("cur", "new"))
        note = f"{note} ({copied:,} of {messages:,} messages copied)".strip()
    return Result(tool.name, run, seconds, peak, messages, code == 0, note, total)


def with_medians(results: list[Result]) -> list[Result]:
    """The runs, then each tool's median full run (by time), named "full median"."""
    medians = []
    for tool in dict.fromkeys(r.tool for r in results):
        runs = sorted(
            (r for r in results if r.tool == tool and r.run.startswith("full ")),
            key=lambda r: r.seconds,
        )
        if len(runs) > 1:
            medians.append(Result(**{**vars(runs[len(runs) // 2]), "run": "full median"}))
    return results + medians


def print_results(results: list[Result], total_bytes: int) -> None:
    """The table of figures, each run's times as a ratio to backupweb's (bench/sync.py too)."""
    with_total = any(r.total_mb == r.total_mb for r in results)  # NaN: not measured
    total_head = f"{'all MB':>8}" if with_total else ""
    print(
        f"\n{'tool':<14}{'run':<13}{'wall s':>9}{'msg/s':>10}{'MB/s':>8}{'peak MB':>9}"
        f"{total_head}  ratio"
    )
    ours = {r.run: r for r in results if r.tool == "backupweb"}
    for r in results:
        mine = ours.get(r.run)
        ratio = f"{r.seconds / mine.seconds:5.2f}x backupweb's time" if mine else ""
        full = r.run.startswith("full")
        mbps = total_bytes / 1e6 / r.seconds if full and r.seconds else 0
        flag = f"  {r.note}" if r.ok else f"  FAILED {r.note}"
        total = f"{r.total_mb:>8.0f}" if with_total else ""
        print(
            f"{r.tool:<14}{r.run:<13}{r.seconds:>9.2f}{r.rate if full else 0:>10.0f}"
            f"{mbps:>8.1f}{r.peak_mb:>9.0f}{total}  {ratio}{flag}"
        )


def arguments(doc: str) -> argparse.ArgumentParser:
    """The options every benchmark of a seeded mailbox takes (bench/sync.py too)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--folders", type=int, default=40)
    parser.add_argument("--skip", action="append", default=[], help="tool name to skip")
    return parser


def seeded(args, work: Path) -> tuple[Dovecot, MailUser, int]:
    """A Dovecot with a user whose mailbox holds the benchmark's messages, its indexes built;
    (dovecot, user, total bytes). The caller stops the Dovecot."""
    dovecot = Dovecot.start()
    try:
        user = dovecot.add_user()
        total = seed_maildir(dovecot, user, args.messages, args.folders)
        print(
            f"seeded {args.messages:,} messages ({total / 1e6:,.0f} MB) in {args.folders} folders"
        )
        RawFloor(work, dovecot, user).run()  # lets Dovecot build its indexes before timing
    except BaseException:
        dovecot.stop()
        raise
    return dovecot, user, total


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="full backups per tool")
    parser.add_argument("--archive", default="", help="also back up into s3://BUCKET/PREFIX")
    args = parser.parse_args()
    args.skip += sorted(ensure_peers())
    seaweed = None
    if args.archive:
        BackupwebS3.url = args.archive
        BackupwebS3.s3_env, seaweed = s3_target(args.archive)
    else:
        args.skip.append(BackupwebS3.name)
    work = Path(tempfile.mkdtemp(prefix="bw-bench-"))
    os.chmod(work, 0o755)
    dovecot, user, total = seeded(args, work)
    try:
        all_kinds = (RawFloor, Backupweb, BackupwebS3, Mbsync, OfflineImap)
        kinds = [t for t in all_kinds if t.name not in args.skip]
        results = []
        for i in range(args.repeat):
            place = work / f"run{i + 1}"
            place.mkdir()
            tools = [kind(place, dovecot, user) for kind in kinds]
            label = f"full {i + 1}" if args.repeat > 1 else "full"
            for tool in tools:
                results.append(measure(tool, label, args.messages))
                print(f"  {tool.name} {label}: {results[-1].seconds:.2f}s", flush=True)
        for tool in tools:  # the state of the last full runs
            if tool.name != "raw floor":  # the floor has no state: its re-run is its full run
                results.append(measure(tool, "no-change", args.messages))
                print(f"  {tool.name} no-change: {results[-1].seconds:.2f}s", flush=True)
        print_results(with_medians(results) if args.repeat > 1 else results, total)
        print_store_ratio(results)
    finally:
        dovecot.stop()
        if seaweed is not None:
            seaweed.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
