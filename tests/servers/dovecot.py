"""A real Dovecot 2.3 for the tests: IMAP, IMAPS (self-signed) and POP3 on free loopback ports.

It runs with its own config, base_dir and instance name in a temporary directory, so it never
touches a system instance. Users are added to a passwd-file that Dovecot re-reads on change.
"""

from __future__ import annotations

import itertools
import os
import secrets
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.common import (
    RUNNING_AS_ROOT,
    free_port,
    give_to,
    require_binary,
    unprivileged_user,
    wait_for_port,
)
from tests.servers.tls import SelfSigned, make_self_signed

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
instance_name = {instance}
protocols = imap pop3
listen = 127.0.0.1
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
{login_users}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth2_mechanisms}
mail_location = maildir:{root}/mail/%u/Maildir:LAYOUT=fs
mail_max_userip_connections = 200
mail_fsync = never
maildir_very_dirty_syncs = no
pop3_uidl_format = %08Xv%08Xu
{imap_capability}
first_valid_uid = 0

namespace inbox {{
  inbox = yes
  separator = {separator}
  prefix = {prefix}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
  mailbox Archive {{
    special_use = \\Archive
    auto = create
  }}
}}

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
{oauth2_passdb}userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}

service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = {pop3s_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{quota}"""

# Added by Dovecot.start(quota=...): a storage quota per user (QUOTA capability, GETQUOTAROOT)
# and, optionally, a largest message size that APPEND refuses.
QUOTA = """\
mail_plugins = $mail_plugins quota
protocol imap {{
  mail_plugins = $mail_plugins imap_quota
}}
plugin {{
  quota = count:User quota
  quota_rule = *:storage={storage}
  quota_vsizes = yes
{max_mail_size}}}
"""

# Added by Dovecot.start(oauth2_introspection_url=...): a second passdb that accepts bearer
# tokens (XOAUTH2, OAUTHBEARER) by asking the URL, the way a provider's mail server does.
OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/dovecot-oauth2.conf.ext
}}
"""
OAUTH2_CONF = """\
introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
force_introspection = yes
"""

_counter = itertools.count(1)


@dataclass(frozen=True)
class MailUser:
    username: str
    password: str


@dataclass
class Dovecot:
    """A running instance; `stop()` ends it and removes its files."""

    root: Path
    imap_port: int
    imaps_port: int
    pop3_port: int
    pop3s_port: int
    cert: SelfSigned
    process: subprocess.Popen | None = None
    users: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    layout: dict | None = None

    @classmethod
    def start(
        cls,
        capabilities: str | None = None,
        oauth2_introspection_url: str | None = None,
        oauth2_mechanisms: str = "xoauth2 oauthbearer",
        separator: str = "/",
        prefix: str = "",
        quota: str | None = None,
        max_mail_size: str | None = None,
    ) -> Dovecot:
        """Start an instance; `capabilities` replaces the advertised IMAP capability list.

        With `oauth2_introspection_url`, users also log in with OAuth2 bearer tokens (SASL
        XOAUTH2 and OAUTHBEARER, advertised in the order of `oauth2_mechanisms`) that Dovecot
        checks against that RFC 7662 introspection endpoint.

        `separator` and `prefix` set the personal namespace (e.g. "." and "INBOX." like
        Courier and many hosted servers); `quota` (e.g. "2M") gives every user a storage
        quota, and `max_mail_size` (e.g. "100k") makes APPEND refuse larger messages.
        """
        binary = require_binary("dovecot", "dovecot-imapd", ("/usr/sbin/dovecot",))
        root = Path(tempfile.mkdtemp(prefix="bw-dovecot-"))
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir()
        (root / "users").mkdir()
        instance = cls(
            root=root,
            imap_port=free_port(),
            imaps_port=free_port(),
            pop3_port=free_port(),
            pop3s_port=free_port(),
            cert=make_self_signed(root),
        )
        instance.layout = {
            "separator": separator,
            "prefix": prefix,
            "quota": _quota_block(quota, max_mail_size),
        }
        instance._write_config(capabilities, oauth2_introspection_url, oauth2_mechanisms)
        instance.process = subprocess.Popen(
            [binary, "-F", "-c", str(root / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in (instance.imap_port, instance.pop3_port, instance.imaps_port):
            try:
                wait_for_port(port, proc=instance.process)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{exc}: {instance.log_tail()}") from exc
        return instance

    def _write_config(
        self, capabilities: str | None, oauth2_url: str | None = None, oauth2_mechanisms: str = ""
    ) -> None:
        user, uid, gid = unprivileged_user()
        if RUNNING_AS_ROOT:
            login_users = ""  # Debian's dovenull and dovecot users
        else:
            login_users = f"default_login_user = {user}\ndefault_internal_user = {user}"
        text = CONFIG.format(
            root=self.root,
            instance=f"bw-test-{os.getpid()}-{next(_counter)}",
            login_users=login_users,
            cert=self.cert.cert_path,
            key=self.cert.key_path,
            uid=uid,
            gid=gid,
            imap_port=self.imap_port,
            imaps_port=self.imaps_port,
            pop3_port=self.pop3_port,
            pop3s_port=self.pop3s_port,
            imap_capability="" if capabilities is None else f"imap_capability = {capabilities}",
            oauth2_mechanisms=f" {oauth2_mechanisms}" if oauth2_url else "",
            oauth2_passdb=OAUTH2_PASSDB.format(root=self.root) if oauth2_url else "",
            **(self.layout or {"separator": "/", "prefix": "", "quota": ""}),
        )
        if oauth2_url:
            conf = self.root / "dovecot-oauth2.conf.ext"
            conf.write_text(OAUTH2_CONF.format(url=oauth2_url))
            conf.chmod(0o644)
        (self.root / "dovecot.conf").write_text(text)
        give_to(self.root / "mail", uid, gid)
        # Dovecot's auth process reads the key and the users' files.
        os.chmod(self.root, 0o755)
        self.cert.key_path.chmod(0o644)

    def add_user(self, username: str | None = None, password: str | None = None) -> MailUser:
        username = username or f"user{next(_counter)}-{secrets.token_hex(3)}"
        password = password or secrets.token_urlsafe(12)
        self.users[username] = password
        # One passwd-file per user: Dovecot re-reads a changed file at most once a second,
        # but opens a file it has not seen at once.
        users_file = self.root / "users" / username
        users_file.write_text(f"{username}:{{PLAIN}}{password}::::::\n")
        users_file.chmod(0o644)
        return MailUser(username, password)

    def maildir(self, user: MailUser) -> Path:
        return self.root / "mail" / user.username / "Maildir"

    def log_tail(self, lines: int = 30) -> str:
        log = self.root / "dovecot.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        if self.process and self.process.stderr and self.process.poll() is not None:
            text += self.process.stderr.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        subprocess.run(["rm", "-rf", str(self.root)], check=False)


def _quota_block(storage: str | None, max_mail_size: str | None) -> str:
    if storage is None:
        return ""
    limit = f"  quota_max_mail_size = {max_mail_size}\n" if max_mail_size else ""
    return QUOTA.format(storage=storage, max_mail_size=limit)
