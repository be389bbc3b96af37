"""Look-alikes: two similar titles that name different datasets (another year, number, territory or word).

Titles are compared on their *significant words*: folded, without stop words, without the words of either
record's publisher ("Ville de Nice : PLU" and "PLU" say the same; "PLU de Nice" by the Ville de Nice and
"PLU de Nîmes" by it do not: `nimes` stays). Then, for the title rule (`strict`), the numbers must be the same
and every word of one title must be in the other, or be a near spelling of a word there (plural, typo: similarity
of at least `WORD_SIMILARITY`): "élections législatives" and "élections présidentielles", "Grasse" and
"Gréasque", "écoles publiques" and "écoles privées" are different datasets ("Saint-Paul" and "SaintPaul" are
not). For shared resource files (weaker guard), numbers must not contradict (one set may hold the other: a cut
title), nor capitalised names / known territories (each side naming one the other lacks).
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz

from harvester.merge.keys import PUBLISHER_NOISE, proper_tokens, words
from harvester.merge.rules import MergeRecord

WORD_SIMILARITY = 90.0
_DIGITS = re.compile(r"\d+")


def significant(title: str, drop: frozenset[str]) -> tuple[str, ...]:
    """The folded words of a title without stop words and `drop` (publisher words); all words if none is left."""
    ws = words(title)
    kept = tuple(w for w in ws if w not in drop and w not in PUBLISHER_NOISE)
    return kept or ws


def numbers(tokens: tuple[str, ...]) -> frozenset[str]:
    return frozenset(str(int(d)) for t in tokens for d in _DIGITS.findall(t))


def _unmatched(mine: set[str], theirs: set[str]) -> list[str]:
    return sorted(
        w for w in mine if not any(fuzz.ratio(w, u) >= WORD_SIMILARITY for u in theirs) and not w.isdigit()
    )


def _joined(tokens: tuple[str, ...], left: list[str]) -> str:
    return "".join(w for w in tokens if w in left)


def lookalike(a: MergeRecord, b: MergeRecord, strict: bool) -> str | None:
    """Why two records with similar titles are different datasets; None when nothing tells them apart."""
    drop = frozenset(words(a.publisher)) | frozenset(words(b.publisher))
    ta, tb = significant(a.title, drop), significant(b.title, drop)
    da, db = numbers(ta), numbers(tb)
    if da != db and (strict or not (da <= db or db <= da)):
        return f"numbers differ ({' '.join(sorted(da)) or '-'} / {' '.join(sorted(db)) or '-'})"
    sa, sb = set(ta), set(tb)
    if strict:
        ua, ub = _unmatched(sa - sb, sb - sa), _unmatched(sb - sa, sa - sb)
        # "Saint-Paul" / "SaintPaul": words split or joined differently
        joined = ua and ub and fuzz.ratio(_joined(ta, ua), _joined(tb, ub)) >= WORD_SIMILARITY
        if (ua or ub) and not joined:
            return f"words differ ({' '.join(ua) or '-'} / {' '.join(ub) or '-'})"
        return None
    pa = proper_tokens(a.title) - drop - set(words(b.title))
    pb = proper_tokens(b.title) - drop - set(words(a.title))
    if pa and pb:  # a name on one side only is an omission (a cut title), not a contradiction
        return f"names differ ({' '.join(sorted(pa)) or '-'} / {' '.join(sorted(pb)) or '-'})"
    return None


def title_key(r: MergeRecord) -> str:
    """What the title rule compares: the significant words of the title (the record's own publisher left out)."""
    return " ".join(significant(r.title, frozenset(words(r.publisher))))
