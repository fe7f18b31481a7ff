"""String built-ins (`lower`, `split`, `join`, `len`, ...) and the `sha256` hash."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any, Final

import re2

from tenet.runtime.builtins import register
from tenet.runtime.builtins.types import (
    bad_arg,
    builtin_error,
    length,
    want_collection,
    want_string,
)
from tenet.runtime.values import (
    BYTES_PER,
    WORK_PER_STEP,
    charge_built,
    charge_elements,
    charge_work,
    check_built_size,
)


@register(
    "lower",
    "strings",
    1,
    "The string with every letter in lower case.",
    'lower("Churn-V2") == "churn-v2"',
)
def lower(s: Any) -> str:
    return _built("`lower`", want_string("lower", s).lower())


@register(
    "upper",
    "strings",
    1,
    "The string with every letter in upper case.",
    'upper("eu-west") == "EU-WEST"',
)
def upper(s: Any) -> str:
    return _built("`upper`", want_string("upper", s).upper())


@register(
    "nfkc_casefold",
    "strings",
    1,
    "The string in Unicode's NFKC_Casefold form, for comparing identifiers: compatibility "
    "forms (fullwidth, superscript, ligature) become their plain letters, case is folded "
    "(`ß` to `ss`) and default-ignorable characters (zero-width, bidirectional controls) are "
    "removed. Look-alike letters of other scripts (Cyrillic `а`) stay distinct.",
    'nfkc_casefold("\\uff21lice") == "alice"',
)
def nfkc_casefold(s: Any) -> str:
    given = want_string("nfkc_casefold", s)
    # up to about a microsecond a character: U+FDFA alone becomes 18 letters to compose
    charge_work(WORK_PER_STEP * len(given))
    text = _without_ignorables(given)
    if _MARK_RUN.search(text):
        # Python's normalizer orders a run of marks by insertion, in time quadratic in its
        # length (240 KB of marks took 22 s); no text in any language needs so many
        raise builtin_error(
            "nfkc_casefold",
            f"more than {MAX_MARKS} combining marks in a row, which no name or identifier "
            f"holds (Unicode's stream-safe text format allows {MAX_MARKS})",
        )
    composed = unicodedata.normalize("NFKC", text)
    # a character may have become eighteen (U+FDFA): the rest works on what it became, about
    # 100 ns a character, and is refused before it starts if that is too long
    check_built_size("`nfkc_casefold`", len(composed), "string")
    charge_work(100 * len(composed))
    # a second NFKC because casefolding can undo a composition (U+0345 folds to U+03B9);
    # ignorables dropped before (they would block a composition) and after (NFKC maps some
    # letters to one: U+FFA0 to U+3164)
    folded = _without_ignorables(unicodedata.normalize("NFKC", composed.casefold()))
    check_built_size("`nfkc_casefold`", len(folded), "string")
    return folded


# The longest run of combining marks (and of the five characters whose decomposition starts
# with one) that `nfkc_casefold` takes: UAX #15's stream-safe text format
MAX_MARKS: Final = 30
_MARK_RUN = re2.compile(
    r"[\p{M}\x{0F73}\x{0F75}\x{0F81}\x{FF9E}\x{FF9F}]{" + str(MAX_MARKS + 1) + "}"
)


# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt), written out: Python's
# unicodedata has no table of it
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_IGNORABLE = re.compile(
    "[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _IGNORABLE_RANGES) + "]"
)


def _without_ignorables(text: str) -> str:
    # a scan for the few there are, about 10 ns a character where `str.translate` with a
    # table takes 60 on any letter outside ASCII (and they are all outside it)
    return text if text.isascii() else _IGNORABLE.sub("", text)


@register(
    "startswith",
    "strings",
    2,
    "True when the first string begins with the second.",
    'startswith("prod/churn", "prod/") == true',
)
def startswith(s: Any, prefix: Any) -> bool:
    text = want_string("startswith", s)
    start = want_string("startswith", prefix, "a string prefix")
    charge_work(min(len(text), len(start)))
    return text.startswith(start)


@register(
    "endswith",
    "strings",
    2,
    "True when the first string ends with the second.",
    'endswith("model.pkl", ".pkl") == true',
)
def endswith(s: Any, suffix: Any) -> bool:
    text = want_string("endswith", s)
    end = want_string("endswith", suffix, "a string suffix")
    charge_work(min(len(text), len(end)))
    return text.endswith(end)


@register(
    "contains",
    "strings",
    2,
    "True when the second string occurs anywhere in the first.",
    'contains("churn-v2-final", "v2") == true',
)
def contains(s: Any, sub: Any) -> bool:
    part = want_string("contains", sub, "a string to look for")
    text = want_string("contains", s)
    charge_work(2 * len(text))  # a search can read each character more than once
    return part in text


@register(
    "split",
    "strings",
    2,
    "The array of the pieces of the first string between occurrences of the separator; "
    "an empty separator is an error.",
    'split("a,b,c", ",") == ["a", "b", "c"]',
)
def split(s: Any, sep: Any) -> list[Any]:
    text = want_string("split", s)
    separator = want_string("split", sep, "a string separator")
    if not separator:
        raise builtin_error("split", "the separator is empty")
    charge_work(len(text))
    pieces = text.count(separator) + 1
    check_built_size("`split`", pieces, "array")
    charge_built("`split`", len(text) + pieces * BYTES_PER["piece"])
    return list(text.split(separator))


@register(
    "join",
    "strings",
    2,
    "The strings of an array or set, in order, with the separator between them.",
    'join("/", ["prod", "churn"]) == "prod/churn"',
)
def join(sep: Any, items: Any) -> str:
    separator = want_string("join", sep, "a string separator")
    parts = want_collection("join", items, "an array or a set of strings")
    charge_elements(len(parts))
    size = -len(separator)
    for p in parts:
        if type(p) is not str:
            raise bad_arg("join", "only strings in its array or set", p)
        size += len(separator) + len(p)
    check_built_size("`join`", size, "string")
    return separator.join(parts)


@register(
    "trim",
    "strings",
    1,
    "The string without the white space (Unicode's `White_Space`) at its start and end.",
    'trim("  churn \\n") == "churn"',
)
def trim(s: Any) -> str:
    return _built("`trim`", want_string("trim", s).strip(WHITESPACE))


def _built(what: str, out: str) -> str:
    """A string made from one no more than three times as long (`upper("ß")` is `SS`),
    counted once it is made."""
    check_built_size(what, len(out), "string")
    return out


# Unicode's White_Space, written out: Python's `str.strip()` also takes U+001C-U+001F (the
# information separators), which are not space
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


@register(
    "replace",
    "strings",
    3,
    "The first string with every occurrence of the second replaced by the third.",
    'replace("a-b-c", "-", "_") == "a_b_c"',
)
def replace(s: Any, old: Any, new: Any) -> str:
    text = want_string("replace", s)
    before = want_string("replace", old, "a string to replace")
    after = want_string("replace", new, "a string replacement")
    charge_work(len(text))  # the search, whatever it finds
    size = len(text)  # a bound of the result when the replacement is no longer
    if len(after) > len(before):
        size += text.count(before) * (len(after) - len(before))
    check_built_size("`replace`", size, "string")
    return text.replace(before, after)


@register(
    "len",
    "strings",
    1,
    "The length of a string in characters (Unicode code points), or the number of elements "
    "of an array, members of a set or keys of an object.",
    'len("héllo") == 5',
)
def len_(v: Any) -> int:
    return length("len", v)


@register(
    "sha256",
    "hashing",
    1,
    "The SHA-256 digest of the string's UTF-8 bytes, as 64 lowercase hexadecimal digits.",
    'sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"',
)
def sha256(s: Any) -> str:
    text = want_string("sha256", s)
    charge_work(2 * len(text))  # encoded, then hashed
    return hashlib.sha256(utf8("sha256", text)).hexdigest()


def utf8(fn: str, s: str) -> bytes:
    """The UTF-8 bytes of ``s``; a lone surrogate (possible in JSON input) is an error."""
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise builtin_error(fn, "the string is not valid unicode (it has a lone surrogate)") from e
