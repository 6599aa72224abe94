"""Provider presets: server names, ports and security for well-known mail providers.

A preset only fills the form; the admin can still edit every field. The hints say what trips
people up with each provider (app passwords, IMAP switched off by default). Static data, served
to the form's JavaScript with `json_script`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    security: str  # "ssl", "starttls" or "none", as Account.Security


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    imap: Server | None
    pop3: Server | None
    hint: str

    def server(self, protocol: str) -> Server | None:
        return self.pop3 if protocol == "pop3" else self.imap


def _tls(host: str, port: int) -> Server:
    return Server(host, port, "ssl")


PRESETS: tuple[Preset, ...] = (
    Preset(
        "gmail",
        "Gmail / Google Workspace",
        _tls("imap.gmail.com", 993),
        _tls("pop.gmail.com", 995),
        "Google accepts an app password (Google Account → Security → 2-Step Verification → "
        "App passwords), not your normal password; in Google Workspace an admin may have to "
        "allow IMAP, and POP must be turned on in Gmail's settings.",
    ),
    Preset(
        "outlook",
        "Outlook.com / Microsoft 365",
        _tls("outlook.office365.com", 993),
        _tls("outlook.office365.com", 995),
        "Microsoft has switched off password sign-in for IMAP and POP on Outlook.com and most "
        "Microsoft 365 tenants (they require OAuth2); a password works only where the tenant "
        "still allows basic authentication, and IMAP/POP must be on in Outlook's settings.",
    ),
    Preset(
        "yahoo",
        "Yahoo Mail",
        _tls("imap.mail.yahoo.com", 993),
        _tls("pop.mail.yahoo.com", 995),
        "Yahoo needs an app password (Account Info → Account security → Generate app password).",
    ),
    Preset(
        "icloud",
        "iCloud Mail",
        _tls("imap.mail.me.com", 993),
        None,
        "iCloud needs an app-specific password (appleid.apple.com → Sign-In and Security); the "
        "user name is your iCloud address. iCloud offers no POP3.",
    ),
    Preset(
        "aol",
        "AOL Mail",
        _tls("imap.aol.com", 993),
        _tls("pop.aol.com", 995),
        "AOL needs an app password (Account Security → Generate app password).",
    ),
    Preset(
        "fastmail",
        "Fastmail",
        _tls("imap.fastmail.com", 993),
        _tls("pop.fastmail.com", 995),
        "Fastmail needs an app password with IMAP/POP access "
        "(Settings → Privacy & Security → App passwords).",
    ),
    Preset(
        "zoho",
        "Zoho Mail",
        _tls("imap.zoho.com", 993),
        _tls("pop.zoho.com", 995),
        "Turn on IMAP or POP access in Zoho Mail's settings; with two-factor sign-in use an "
        "application-specific password. Accounts in the EU or India use imap.zoho.eu / "
        "imap.zoho.in.",
    ),
    Preset(
        "gmx",
        "GMX",
        _tls("imap.gmx.net", 993),
        _tls("pop.gmx.net", 995),
        "Turn on 'POP3/IMAP access' in GMX's settings first (gmx.com accounts use "
        "imap.gmx.com / pop.gmx.com); with two-factor sign-in use an app password.",
    ),
    Preset(
        "yandex",
        "Yandex Mail",
        _tls("imap.yandex.com", 993),
        _tls("pop.yandex.com", 995),
        "Allow mail clients in Yandex Mail's settings and use an app password "
        "(Yandex ID → Security → App passwords).",
    ),
    Preset(
        "workmail",
        "Amazon WorkMail",
        _tls("imap.mail.us-east-1.awsapps.com", 993),
        None,
        "Replace us-east-1 with your organization's AWS region; WorkMail offers IMAP only, "
        "and the user name is the full email address.",
    ),
    Preset("custom", "Custom server", None, None, ""),
)

BY_KEY: dict[str, Preset] = {preset.key: preset for preset in PRESETS}
CHOICES: list[tuple[str, str]] = [(preset.key, preset.label) for preset in PRESETS]


def get(key: str) -> Preset:
    return BY_KEY.get(key or "custom", BY_KEY["custom"])


def as_json() -> dict[str, dict]:
    """The presets for the form's script (host, port, security per protocol, and the hint)."""
    return {
        preset.key: {
            "label": preset.label,
            "imap": asdict(preset.imap) if preset.imap else None,
            "pop3": asdict(preset.pop3) if preset.pop3 else None,
            "hint": preset.hint,
        }
        for preset in PRESETS
    }
