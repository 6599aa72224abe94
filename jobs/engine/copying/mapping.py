"""Which destination folder each source folder goes to: the plan a sync shows before it runs.

Folder names are compared as paths (a tuple of levels), never as strings with a delimiter in
them, so `INBOX.Sent` on a server with the `INBOX.` personal namespace and `.` as delimiter and
`Sent` on a server with `/` are the same path ("Sent",). In order:

1. the admin's rules: exact (`Old/Stuff -> Archive/Old`), a pattern ending in `*`
   (`Projects/* -> Work/*`, the rest of the path is kept), or an empty target (exclude);
2. special-use folders (Sent, Drafts, Trash, Junk, Archive) go to the destination's folder
   with the same special use, whatever it is called there;
3. everything else keeps its path, re-joined with the destination's delimiter under its
   namespace prefix. A level that contains the destination's delimiter has it replaced by `_`
   (so `lists.linux` stays one folder on a server whose delimiter is `.`).

Gmail: the label folders and All Mail hold the same messages. With de-duplication on (the
default) folders are copied from the most specific to the least (labels, then INBOX and the
special-use folders, then All Mail last, into the destination's Archive), so each message lands
once in its most specific folder; Starred and Important are views of other folders and are left
out (their flags travel with the messages).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field

from imapclient.imap_utf7 import encode as encode_utf7

from mail.imap import ServerFolder

MAPPED_SPECIAL_USE = ("\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive")
DELIMITER_REPLACEMENT = "_"
# Gmail's views: every message in them is also in a label folder or All Mail.
GMAIL_VIEWS = ("\\Flagged", "\\Important")
# Copy order with Gmail de-duplication: most specific first.
RANK_LABEL, RANK_SYSTEM, RANK_ALL = 0, 1, 2


@dataclass(frozen=True)
class Rule:
    """`source` and `target` are paths with `/` between levels, whatever the servers use."""

    source: str
    target: str

    @property
    def is_pattern(self) -> bool:
        return any(c in self.source for c in "*?[")

    def apply(self, path: tuple[str, ...]) -> tuple[str, ...] | None:
        """The target path for a source path this rule matches (() to exclude), else None."""
        text = "/".join(path)
        if not self.is_pattern:
            return _split(self.target) if text == self.source.strip("/") else None
        if not fnmatch.fnmatchcase(text, self.source):
            return None
        if "*" in self.target and self.source.endswith("*"):
            stem = self.source[:-1]
            if not any(c in stem for c in "*?["):  # a plain prefix: keep the rest of the path
                return _split(self.target.replace("*", text[len(stem) :], 1))
        return _split(self.target.replace("*", path[-1]))


def renaming_hint(source_path: str) -> str:
    """A rule an admin can add to the folder mapping to copy a folder the destination refused
    under a plainer name (letters, digits, spaces, `-` and `_` only, at most 60 characters)."""
    plain = "/".join(
        "".join(c if c.isascii() and (c.isalnum() or c in " -_") else "_" for c in level).strip()[
            :60
        ]
        or "_"
        for level in source_path.split("/")
    )
    return f"{source_path} -> {plain}"


def parse_rules(text: str) -> list[Rule]:
    """One rule per line, `source -> target`; `source ->` (no target) excludes the folder."""
    rules = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        source, arrow, target = line.partition("->")
        if not arrow or not source.strip():
            raise ValueError(f"Line {number}: write a rule as 'source -> target'.")
        rules.append(Rule(source.strip().strip("/"), target.strip().strip("/")))
    return rules


@dataclass(frozen=True)
class Layout:
    """How a server names folders: its delimiter and personal namespace prefix."""

    delimiter: str
    prefix: str = ""  # e.g. "INBOX." (display form, with the delimiter at the end)

    def path_of(self, name: str) -> tuple[str, ...]:
        """A display name as a path, without the namespace prefix."""
        if name.upper() == "INBOX":
            return ("INBOX",)
        under_prefix = bool(self.prefix) and name.startswith(self.prefix)
        if under_prefix:
            name = name[len(self.prefix) :]
        parts = name.split(self.delimiter) if self.delimiter else [name]
        if parts and parts[0].upper() == "INBOX":
            if under_prefix and self.prefix.upper().startswith("INBOX"):
                # `INBOX.INBOX.child`: a folder named "INBOX" among INBOX's children, not INBOX
                # itself (else it would land in `INBOX.child`, merged with another folder).
                return ("INBOX", *parts)
            parts[0] = "INBOX"
        return tuple(parts)

    def name_of(self, path: tuple[str, ...]) -> str:
        """A path as a display name on this server (under its prefix, delimiters escaped)."""
        if [p.upper() for p in path] == ["INBOX"]:
            return "INBOX"
        parts = [p.replace(self.delimiter, DELIMITER_REPLACEMENT) for p in path]
        if parts[0].upper() == "INBOX" and self.prefix.upper().startswith("INBOX"):
            parts = parts[1:] or ["INBOX"]  # "INBOX/x" under an INBOX. prefix is "INBOX.x"
        return self.prefix + (self.delimiter or "/").join(parts)


def layout_from(folders: Iterable[ServerFolder], namespace: tuple[str, str] | None) -> Layout:
    """The layout from NAMESPACE when the server has it, else from the listed delimiters."""
    if namespace is not None:
        prefix, delimiter = namespace
        return Layout(delimiter=delimiter or "/", prefix=prefix or "")
    delimiters = [f.delimiter for f in folders if f.delimiter]
    return Layout(delimiter=delimiters[0] if delimiters else "/")


@dataclass
class FolderMap:
    source: ServerFolder
    path: tuple[str, ...]  # the source folder's path
    target_path: tuple[str, ...]
    target_name: str  # display name on the destination ("" when skipped)
    target_raw: str  # wire name on the destination (modified UTF-7)
    exists: bool  # the destination already has it
    reason: str  # why this target: "same path", "special use \\Sent", "rule ..."
    skip: str = ""  # why the folder is not copied, if it is not
    rank: int = RANK_LABEL
    renamed_levels: list[str] = field(default_factory=list)
    merged: bool = False  # skipped because another source folder has the same target

    @property
    def copied(self) -> bool:
        return not self.skip

    @property
    def source_path(self) -> str:
        return "/".join(self.path)


def plan(
    source: list[ServerFolder],
    source_layout: Layout,
    destination: list[ServerFolder],
    dest_layout: Layout,
    rules: Iterable[Rule] = (),
    exclude: Iterable[str] = (),
    gmail: bool = False,
    gmail_dedupe: bool = True,
) -> list[FolderMap]:
    """The folder mapping, in copy order (see the module docstring)."""
    rules, exclude = list(rules), list(exclude)
    by_use = {f.special_use: f for f in destination if f.special_use and f.selectable}
    existing = {_key(f.raw_name): f for f in destination}
    maps = []
    for folder in source:
        if not folder.selectable:
            continue
        path = source_layout.path_of(folder.name)
        entry = _map_one(folder, path, dest_layout, rules, by_use, gmail, gmail_dedupe)
        if not entry.skip and _excluded(folder, path, exclude):
            entry.skip = "excluded"
        entry.exists = _key(entry.target_raw) in existing if entry.target_raw else False
        maps.append(entry)
    return sorted(maps, key=lambda m: (m.rank, m.path))


def refuse_merges(maps: list[FolderMap], layout: Layout) -> None:
    """Two source folders never land in one destination folder by accident: where two keep
    their path and meet (`INBOX/x` and `x` both become `INBOX.x` under an `INBOX.` prefix), the
    one whose name lost a level is left out, with a rule that copies it under another name.
    Merges by a rule or by special use are meant, and stay."""
    owners: dict[str, FolderMap] = {}
    for entry in maps:
        if entry.copied and entry.reason != "same path":
            owners.setdefault(_key(entry.target_raw), entry)
    same = [m for m in maps if m.copied and m.reason == "same path"]
    for entry in sorted(same, key=lambda m: (layout.path_of(m.target_name) != m.path, m.path)):
        owner = owners.setdefault(_key(entry.target_raw), entry)
        if owner is not entry:
            hint = f"{entry.source_path} -> {'_'.join(entry.path)}"
            entry.skip = (
                f"it would be merged into {entry.target_name} with {owner.source.name}; "
                f"to copy it under another name, add a folder mapping rule such as '{hint}'"
            )
            entry.merged = True


def _map_one(folder, path, dest_layout, rules, by_use, gmail, gmail_dedupe) -> FolderMap:
    use = folder.special_use
    rank = RANK_LABEL
    if gmail and gmail_dedupe:
        rank = RANK_ALL if use == "\\All" else (RANK_SYSTEM if use or path == ("INBOX",) else 0)
    for rule in rules:
        target = rule.apply(path)
        if target is not None:
            reason = f"rule {rule.source} -> {rule.target or '(excluded)'}"
            if not target:
                return _skipped(folder, path, "excluded by a rule", rank)
            return _entry(folder, path, target, dest_layout, reason, rank)
    if gmail and gmail_dedupe and use in GMAIL_VIEWS:
        return _skipped(folder, path, "Gmail view of other folders (flags are kept)", rank)
    if use == "\\All" and not gmail:
        return _skipped(folder, path, "virtual folder holding every message", rank)
    if use == "\\All" and gmail_dedupe:
        use = "\\Archive"  # the messages no label folder holds: archived mail
    if use in MAPPED_SPECIAL_USE and use in by_use:
        dest = by_use[use]
        return _entry(folder, path, None, dest_layout, f"special use {use}", rank, dest)
    if use in MAPPED_SPECIAL_USE and folder.special_use != use:
        target = dest_layout.path_of(use.strip("\\"))
        return _entry(folder, path, target, dest_layout, f"special use {use}", rank)
    return _entry(folder, path, path, dest_layout, "same path", rank)


def _entry(folder, path, target, layout: Layout, reason, rank, dest=None) -> FolderMap:
    if dest is not None:
        return FolderMap(
            folder,
            path,
            layout.path_of(dest.name),
            dest.name,
            dest.raw_name,
            True,
            reason,
            "",
            rank,
        )
    name = layout.name_of(target)
    renamed = [p for p in target if layout.delimiter and layout.delimiter in p]
    if renamed:
        reason += f"; '{layout.delimiter}' in a name became '{DELIMITER_REPLACEMENT}'"
    raw = encode_utf7(name).decode("ascii")
    return FolderMap(folder, path, target, name, raw, False, reason, "", rank, renamed)


def _skipped(folder, path, why: str, rank: int) -> FolderMap:
    return FolderMap(folder, path, (), "", "", False, "", why, rank)


def _excluded(folder: ServerFolder, path: tuple[str, ...], patterns: list[str]) -> bool:
    text = "/".join(path)
    return any(
        fnmatch.fnmatchcase(text, p) or fnmatch.fnmatchcase(folder.name, p) for p in patterns
    )


def _split(text: str) -> tuple[str, ...]:
    return tuple(p for p in text.strip("/").split("/") if p)


def _key(raw: str) -> str:
    return "INBOX" if raw.upper() == "INBOX" else raw
