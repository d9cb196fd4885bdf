"""Fuzzy search, as every search box of the platform does it (datasets, jobs, parameter sets,
preset models): case-insensitive, best match first, forgiving both abbreviations ("dcnn" finds
"digits_cnn") and typos ("flwers" finds "flowers-102").

One scale for every list, 0–1: the first field (the name) matched whole or as a substring scores
highest, a substring of another field next, then an abbreviation of the name (every character
of the query, in order), then similarity of the query to the name or one of the fields' words.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")

#: queries are cut to this length: similarity costs length × length per item
QUERY_MAX = 100
#: below this score an item is not a match
CUTOFF = 0.45


def _subsequence(query: str, text: str) -> bool:
    pos = 0
    for ch in query:
        pos = text.find(ch, pos)
        if pos < 0:
            return False
        pos += 1
    return True


def score(query: str, fields: Sequence[str | None]) -> float:
    """How well ``query`` matches ``fields`` (the first one is the name), 0–1."""
    q = query.strip().lower()[:QUERY_MAX]
    if not q:
        return 1.0
    texts = [(f or "").lower() for f in fields]
    name = texts[0] if texts else ""
    if name == q:
        return 1.0
    if q in name:
        return 0.9 + 0.05 * (len(q) / max(len(name), 1))
    if any(q in t for t in texts[1:]):
        return 0.8
    if _subsequence(q, name):
        # an abbreviation of the name only: in a long description any few letters are in order
        return 0.75
    best = difflib.SequenceMatcher(None, q, name).ratio()
    words = name.replace("_", " ").replace("-", " ").split()
    for text in texts[1:]:
        words += text.split()
    for word in words:
        best = max(best, 0.95 * difflib.SequenceMatcher(None, q, word).ratio())
    return 0.7 * best


def rank(
    items: Iterable[T],
    query: str | None,
    fields: Callable[[T], Sequence[str | None]],
    cutoff: float = CUTOFF,
) -> list[T]:
    """The items matching ``query``, best first, ties in their given order (all of them,
    unchanged, without a query)."""
    items = list(items)
    if not query or not query.strip():
        return items
    scored = [(score(query, fields(item)), i, item) for i, item in enumerate(items)]
    return [item for s, _i, item in sorted(scored, key=lambda x: (-x[0], x[1])) if s >= cutoff]
