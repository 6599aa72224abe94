"""Small display helpers of the archive browser."""

from __future__ import annotations

from django import template

register = template.Library()

# System flags and the common keywords (RFC 5788 registry, Thunderbird, Apple Mail, Gmail) by
# the names a mail program shows; \Recent is the server's business, not the reader's.
_FLAG_NAMES = {
    "\\seen": "Seen",
    "\\answered": "Answered",
    "\\flagged": "Flagged",
    "\\draft": "Draft",
    "\\deleted": "Deleted",
    "\\recent": "",
    "$forwarded": "Forwarded",
    "forwarded": "Forwarded",
    "$junk": "Junk",
    "junk": "Junk",
    "$notjunk": "Not junk",
    "notjunk": "Not junk",
    "nonjunk": "Not junk",
    "$phishing": "Phishing",
    "$mdnsent": "Receipt sent",
    "$submitpending": "Sending",
    "$submitted": "Sent",
    "$important": "Important",
    "\\important": "Important",
}


@register.filter
def flag_names(flags) -> list[str]:
    """IMAP flags by human names ("\\Seen" -> "Seen", "$Forwarded" -> "Forwarded"), other
    keywords without their "$" ("$label1" -> "label1"), each name once."""
    out: list[str] = []
    for flag in flags or []:
        text = str(flag)
        name = _FLAG_NAMES.get(text.lower(), text.removeprefix("$"))
        if name and name not in out:
            out.append(name)
    return out


@register.filter
def unread(flags) -> bool:
    return "\\seen" not in {str(f).lower() for f in flags or []}


@register.filter
def depth_class(depth: int) -> str:
    return f"depth-{min(int(depth), 9)}"
