"""File and folder names for exports, made safe whatever a server or a message put in them.

A safe component has no path separator, is never `.` or `..`, has no control or invisible
formatting characters (a right-to-left override can disguise `exe.txt`), no characters Windows
refuses, is not a reserved Windows device name, and is at most MAX_COMPONENT_BYTES of UTF-8.
Uniqueness is case-insensitive, so an export unpacks the same on macOS and Windows.
"""

from __future__ import annotations

import unicodedata

MAX_COMPONENT_BYTES = 120
_FORBIDDEN = set('/\\:*?"<>|')
_RESERVED = {"con", "prn", "aux", "nul", "conin$", "conout$"} | {
    f"{dev}{n}" for dev in ("com", "lpt") for n in [*"123456789", "¹", "²", "³"]
}


def safe_component(name: str, *, max_bytes: int = MAX_COMPONENT_BYTES, fallback: str = "_") -> str:
    """One path component that cannot escape its directory or confuse a file manager."""
    name = unicodedata.normalize("NFC", name)
    out = []
    for ch in name:
        category = unicodedata.category(ch)
        if ch in _FORBIDDEN or category in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append("_")
        elif category == "Zs":
            out.append(" ")
        else:
            out.append(ch)
    text = " ".join("".join(out).split())  # no leading/trailing/repeated whitespace
    text = text.strip(". ")  # "..", trailing dots (Windows drops them) and hidden dot-files
    text = _truncate_utf8(text, max_bytes).rstrip(". ")
    if not text:
        return fallback
    if text.split(".", 1)[0].lower() in _RESERVED:
        text = "_" + text
    return text


def with_suffix(component: str, suffix: str) -> str:
    """A safe component with `suffix` added, still within the length limit."""
    room = MAX_COMPONENT_BYTES - len(suffix.encode("utf-8"))
    return _truncate_utf8(component, room).rstrip(". ") + suffix


def _truncate_utf8(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", "ignore")


def split_suffix(name: str) -> tuple[str, str]:
    """("report", ".eml") from "report.eml"; the suffix is kept when a name is made unique."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 10:
        return name, ""
    return stem, "." + ext


class UniqueNames:
    """Hands out paths that differ (case-insensitively) from every path handed out before."""

    def __init__(self, taken: set[str] | None = None):
        self._taken = {t.casefold() for t in taken or ()}

    def reserve(self, path: str) -> None:
        self._taken.add(path.casefold())

    def __contains__(self, path: str) -> bool:
        return path.casefold() in self._taken

    def claim(self, leaf: str, *, parent: str = "", keep_suffix: bool = True) -> str:
        """`parent/leaf`, or with `leaf-2`, `leaf-3`... (before its suffix) if already taken.

        `leaf` must already be a safe component; the result stays within the length limit.
        """
        stem, suffix = split_suffix(leaf) if keep_suffix else (leaf, "")
        prefix = f"{parent}/" if parent else ""
        candidate, n = prefix + leaf, 1
        while candidate.casefold() in self._taken:
            n += 1
            tag = f"-{n}"
            room = MAX_COMPONENT_BYTES - len(tag.encode()) - len(suffix.encode())
            candidate = prefix + _truncate_utf8(stem, max(room, 1)) + tag + suffix
        self._taken.add(candidate.casefold())
        return candidate
