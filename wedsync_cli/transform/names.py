"""People's names from the shapes vendors' files have.

A couple in one cell: "Jane & John Smith", "Jane and John Smith", "Smith, Jane and John",
"Jane Smith and John Doe", "Jane Smith & John Doe", "Mr. and Mrs. John Smith". A single contact:
"Jane Smith", "Smith, Jane". Honorifics are dropped; casing is tidied only when the cell is all
upper or all lower case (so "McDonald" and "van der Berg" survive).
"""

from __future__ import annotations

import re
from functools import lru_cache

_JOIN = re.compile(r"\s*(?:&|\+|/|\band\b)\s*", re.IGNORECASE)
_TITLES = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "sir", "dame"}
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=16384)  # pure; kept small so memory stays flat (first names and surnames repeat)
def tidy(name: str | None) -> str | None:
    if name is None:
        return None
    n = _SPACES.sub(" ", name.strip().strip(",;")).strip()
    if not n:
        return None
    if n.isupper() or n.islower():
        n = " ".join(_cap(w) for w in n.split(" "))
    return n


def _cap(word: str) -> str:
    if word.lower() in {"van", "von", "de", "der", "den", "du", "da", "di", "la", "le"}:
        return word.lower()
    return "-".join("'".join(p[:1].upper() + p[1:].lower() for p in part.split("'")) for part in word.split("-"))


def _strip_titles(words: list[str]) -> list[str]:
    return [w for w in words if w.lower().rstrip(".") not in _TITLES]


@lru_cache(maxsize=8192)
def split_person(full: str | None) -> tuple[str | None, str | None]:
    """'Jane Smith' -> ('Jane', 'Smith'); 'Smith, Jane' -> ('Jane', 'Smith'); 'Jane' -> ('Jane', None)."""
    full = tidy(full)
    if not full:
        return None, None
    if "," in full:
        last, _, first = full.partition(",")
        return tidy(first), tidy(last)
    words = _strip_titles(full.split(" "))
    if not words:
        return None, None
    if len(words) == 1:
        return words[0], None
    # Surname particles belong to the last name: "Anna van der Berg".
    i = len(words) - 1
    while i > 1 and words[i - 1].lower() in {"van", "von", "de", "der", "den", "du", "da", "di", "la", "le", "st."}:
        i -= 1
    return " ".join(words[:i]), " ".join(words[i:])


@lru_cache(maxsize=8192)
def split_couple(cell: str | None) -> tuple[tuple[str | None, str | None], tuple[str | None, str | None] | None]:
    """One cell naming a couple (or one person) -> ((first, last), (first, last) | None)."""
    text = tidy(cell)
    if not text:
        return (None, None), None
    # "Smith, Jane and John" / "Smith, Jane & John"
    if "," in text:
        last, _, rest = text.partition(",")
        parts = [p for p in _JOIN.split(rest) if p.strip()]
        if len(parts) == 2 and " " not in last.strip():
            return (tidy(parts[0]), tidy(last)), (tidy(parts[1]), tidy(last))
        if len(parts) == 1:
            return split_person(text), None
        text = rest  # unusual; fall through with what follows the comma
    parts = [p for p in _JOIN.split(text) if p.strip()]
    if len(parts) == 1:
        return split_person(parts[0]), None
    if len(parts) > 2:
        parts = [parts[0], " ".join(parts[1:])]
    a, b = parts
    a_words = _strip_titles(a.split(" "))
    b_first, b_last = split_person(b)
    if not a_words:  # "Mr and Mrs John Smith": one name for both
        return (b_first, b_last), None
    if len(a_words) == 1:  # "Jane & John Smith": the surname is shared
        return (tidy(a_words[0]), b_last), (b_first, b_last)
    a_first, a_last = split_person(a)
    return (a_first, a_last), (b_first, b_last)
