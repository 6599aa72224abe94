"""Small display helpers of the archive browser."""

from __future__ import annotations

from django import template

register = template.Library()

_FLAG_NAMES = {
    "\\seen": "read",
    "\\answered": "answered",
    "\\flagged": "flagged",
    "\\draft": "draft",
    "\\deleted": "deleted",
    "\\recent": "",
}


@register.filter
def flag_names(flags) -> list[str]:
    """IMAP flags as short words ("\\Seen" -> "read"), keywords as they are."""
    out = []
    for flag in flags or []:
        name = _FLAG_NAMES.get(str(flag).lower(), str(flag))
        if name:
            out.append(name)
    return out


@register.filter
def unread(flags) -> bool:
    return "\\seen" not in {str(f).lower() for f in flags or []}


@register.filter
def depth_class(depth: int) -> str:
    return f"depth-{min(int(depth), 9)}"
