"""Pattern matching: `glob` over `/`-separated paths and `regex` search, both run by RE2."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

import re2

from tenet.runtime.builtins import register
from tenet.runtime.builtins.types import builtin_error, want_string
from tenet.runtime.values import charge_work
from tenet.wording import shortened

# Compiled patterns, per built-in; a full cache is cleared rather than evicted piecemeal.
CACHE_LIMIT: Final = 4096
_glob_cache: dict[str, Any] = {}
_regex_cache: dict[str, Any] = {}

_OPTIONS: Final = re2.Options()
_OPTIONS.log_errors = False  # a bad policy pattern is reported as an EvalError, not logged


def _compiled(cache: dict[str, Any], pattern: str, build: Callable[[str], Any]) -> Any:
    rx = cache.get(pattern)
    if rx is None:
        rx = build(pattern)
        if len(cache) >= CACHE_LIMIT:
            cache.clear()
        cache[pattern] = rx
    return rx


def _re2_compile(fn: str, regex: str) -> Any:
    try:
        return re2.compile(regex, _OPTIONS)
    except re2.error as e:
        detail = e.args[0].decode("utf-8", "replace") if e.args else "invalid"
        raise builtin_error(fn, f"bad pattern: {detail}") from e
    except UnicodeEncodeError as e:
        raise builtin_error(fn, "the pattern is not valid unicode") from e


def _char(c: str) -> str:
    """One code point as a regex atom that means exactly that code point."""
    if c.isascii() and (c.isalnum() or c == "_"):
        return c
    return f"\\x{{{ord(c):x}}}"


def _class_items(lo: str, hi: str) -> list[str]:
    """A class range as RE2 class items, leaving out `/` (a class never matches it)."""
    pieces = [(lo, hi)]
    if lo <= "/" <= hi:
        pieces = [(lo, "."), ("0", hi)]
    out = []
    for a, b in pieces:
        if a <= b:
            out.append(_char(a) if a == b else f"{_char(a)}-{_char(b)}")
    return out


def _glob_class(pattern: str, seg: str, start: int) -> tuple[str, int]:
    """The class `[...]` opening at ``seg[start]``: its regex and the index just past it."""
    j = start + 1
    negate = j < len(seg) and seg[j] in "!^"
    if negate:
        j += 1
    items: list[str] = []
    first = True
    while True:
        if j >= len(seg):
            raise builtin_error("glob", f"the pattern `{shortened(pattern)}` has an unclosed `[`")
        c = seg[j]
        if c == "]" and not first:
            break
        first = False
        if j + 2 < len(seg) and seg[j + 1] == "-" and seg[j + 2] != "]":
            lo, hi = c, seg[j + 2]
            if lo > hi:
                raise builtin_error(
                    "glob", f"the pattern `{shortened(pattern)}` has a reversed range `{lo}-{hi}`"
                )
            items.extend(_class_items(lo, hi))
            j += 3
        else:
            items.extend(_class_items(c, c))
            j += 1
    return ("[^/" if negate else "[") + "".join(items) + "]", j + 1


def _glob_segment(pattern: str, seg: str) -> str:
    """One path segment (no `/`, not a whole `**`) as a regex."""
    parts: list[str] = []
    i = 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            while i < len(seg) and seg[i] == "*":
                i += 1
            parts.append("[^/]*")
            continue
        if c == "[":
            cls, i = _glob_class(pattern, seg, i)
            parts.append(cls)
            continue
        parts.append("[^/]" if c == "?" else _char(c))
        i += 1
    return "".join(parts)


def glob_regex(pattern: str) -> str:
    """The RE2 regex that full-matches exactly the paths ``pattern`` matches."""
    segments: list[str] = []
    for seg in pattern.split("/"):
        if not (seg == "**" and segments and segments[-1] == "**"):
            segments.append(seg)
    out = ["(?s)"]
    need_sep = False
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "**" and last:
            out.append("(?:/.*)?" if need_sep else ".*")
        elif seg == "**":
            out.append("/(?:.*/)?" if need_sep else "(?:.*/)?")
            need_sep = False
        else:
            if need_sep:
                out.append("/")
            out.append(_glob_segment(pattern, seg))
            need_sep = True
    return "".join(out)


def _compile_glob(pattern: str) -> Any:
    regex = glob_regex(pattern)
    if _cannot_backtrack_far(pattern):
        # Python's engine is quicker to call than RE2's wrapper; with at most one `*` run per
        # segment and one `**`, its backtracking stays linear in the path for a fixed pattern
        return re.compile(_RE2_ESCAPE.sub(lambda m: f"\\U{int(m[1], 16):08x}", regex))
    return _re2_compile("glob", regex)


_RE2_ESCAPE: Final = re.compile(r"\\x\{([0-9a-f]+)\}")
_STAR_RUN: Final = re.compile(r"\*+")


def _cannot_backtrack_far(pattern: str) -> bool:
    segments = pattern.split("/")
    if sum(seg == "**" for seg in segments) > 1:
        return False
    return all(seg == "**" or len(_STAR_RUN.findall(seg)) <= 1 for seg in segments)


def _compile_regex(pattern: str) -> Any:
    return _re2_compile("regex", pattern)


def _utf8_checked(fn: str, run: Callable[[], Any]) -> Any:
    try:
        return run()
    except UnicodeEncodeError as e:
        raise builtin_error(fn, "the string is not valid unicode (it has a lone surrogate)") from e


@register(
    "glob",
    "match",
    2,
    "True when the `/`-separated path matches the pattern: `*` matches within one segment, "
    "`?` one character, `[abc]` / `[!abc]` a character class, and a whole `**` segment any "
    "number of segments (none included).",
    'glob("dev/**", "dev/churn/v2") == true',
)
def glob(pattern: Any, path: Any) -> bool:
    p = want_string("glob", pattern, "a string pattern")
    s = want_string("glob", path, "a string path")
    # compiling (if not cached) and matching are linear: a few nanoseconds a character
    charge_work(3 * (len(p) + len(s)))
    rx = _compiled(_glob_cache, p, _compile_glob)
    if not s.isascii():
        _utf8_checked("glob", lambda: s.encode("utf-8"))  # both engines refuse lone surrogates
    return _utf8_checked("glob", lambda: rx.fullmatch(s)) is not None


@register(
    "regex",
    "match",
    2,
    "True when the RE2 regular expression matches somewhere in the string (anchor it with "
    "`^...$` to match the whole string); matching takes time linear in the string.",
    'regex("^churn-v[0-9]+$", "churn-v12") == true',
)
def regex(pattern: Any, s: Any) -> bool:
    p = want_string("regex", pattern, "a string pattern")
    text = want_string("regex", s, "a string to search")
    # compiling (if not cached) and matching are linear: a few nanoseconds a character
    charge_work(3 * (len(p) + len(text)))
    rx = _compiled(_regex_cache, p, _compile_regex)
    return _utf8_checked("regex", lambda: rx.search(text)) is not None
