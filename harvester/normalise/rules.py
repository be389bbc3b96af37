"""French conventions for reading text cells: null tokens, booleans, number and date shapes, code-column hints."""

from __future__ import annotations

import unicodedata
from typing import Final

# Cells that mean "no value" in a typed (number, date, boolean) column, compared trimmed and lower-cased.
# In text columns only the empty cell is null: the others are kept verbatim.
# "nc" = non communiqué, "nd" = non disponible, "secret" = secret statistique (INSEE, DiDo).
NULL_TOKENS: Final = (
    "",
    "na",
    "n/a",
    "n.a.",
    "-",
    "--",
    "nd",
    "n.d.",
    "n/d",
    "nc",
    "n.c.",
    "null",
    "none",
    "nan",
    "#n/a",
    "secret",
)

# Boolean spellings, compared trimmed and lower-cased.
TRUE_TOKENS: Final = ("oui", "vrai", "o", "true", "yes", "y", "t")
FALSE_TOKENS: Final = ("non", "faux", "n", "false", "no", "f")
# A column whose only values are one of these single letters is not a boolean ("N" alone may be a direction).
SINGLE_LETTER_BOOLEANS: Final = frozenset({"o", "n", "y", "t", "f"})

# Whitespace used as a thousands separator: space, no-break space, narrow no-break space (modern Excel/locale).
SPACES: Final = " \u00a0\u202f"
_SP = "[ \u00a0\u202f]"

# Number shapes (applied to trimmed cells).
INT: Final = r"^[+-]?\d+$"
INT_SPACED: Final = rf"^[+-]?\d{{1,3}}({_SP}\d{{3}})+$"
DEC_COMMA: Final = rf"^[+-]?(\d+|\d{{1,3}}({_SP}\d{{3}})+|\d{{1,3}}(\.\d{{3}})+)?,\d+([eE][+-]?\d+)?$"
DEC_DOT: Final = rf"^[+-]?(\d+|\d{{1,3}}({_SP}\d{{3}})+|\d{{1,3}}(,\d{{3}})+)?\.\d+([eE][+-]?\d+)?$"
DOT_GROUPS: Final = r"^[+-]?\d{1,3}(\.\d{3})+$"  # 1.234 (French thousands) or 1.234 (a decimal)?
DOT_GROUPS_MANY: Final = r"^[+-]?\d{1,3}(\.\d{3}){2,}$"  # 1.234.567: thousands for sure
COMMA_GROUPS_MANY: Final = r"^[+-]?\d{1,3}(,\d{3}){2,}$"  # 1,234,567: English thousands
EXPONENT: Final = r"^[+-]?\d+([.,]\d+)?[eE][+-]?\d+$"
LEADING_ZERO: Final = r"^[+-]?0\d"

NUMBER_CHARS: Final = "^[0-9 \u00a0\u202f.,eE+-]+$"  # cheap test before the number shapes
DATE_CHARS: Final = r"^[0-9 /.:TZ+-]+$"

# Date and timestamp shapes → strptime format ("ISO" = Arrow's strict ISO-8601 cast).
DATE_FORMATS: Final = (
    (r"^\d{1,2}/\d{1,2}/\d{4}$", "%d/%m/%Y"),
    (r"^\d{4}-\d{2}-\d{2}$", "ISO"),
    (r"^\d{4}/\d{2}/\d{2}$", "%Y/%m/%d"),
    (r"^\d{1,2}-\d{1,2}-\d{4}$", "%d-%m-%Y"),
    (r"^\d{1,2}\.\d{1,2}\.\d{4}$", "%d.%m.%Y"),
    (r"^\d{1,2}/\d{1,2}/\d{2}$", "%d/%m/%y"),  # 2-digit year: 69-99 → 1969-1999, 00-68 → 2000-2068
)
TIMESTAMP_FORMATS: Final = (
    (r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?$", "ISO"),
    (r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2}$", "%d/%m/%Y %H:%M:%S"),
    (r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}$", "%d/%m/%Y %H:%M"),
    (r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}$", "%Y/%m/%d %H:%M:%S"),
    (r"^\d{8} \d{2}:\d{2}:\d{2}$", "%Y%m%d %H:%M:%S"),
)
TIMESTAMP_TZ: Final = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)$"
DAY_FIRST: Final = r"^(\d{1,2})[/.-]"  # where the day is in the French formats
DAY_LAST: Final = r"^\d{4}[/-]\d{2}[/-](\d{2})"

# Column-name words that make a numeric-looking column a code (kept as text): compared with the words of
# the snake_case name; the long ones also match inside a word (codepostal, cdinseecommune).
CODE_WORDS: Final = frozenset(
    {
        "cp",
        "tel",
        "fax",
        "iris",
        "epci",
        "uai",
        "finess",
        "rna",
        "naf",
        "ape",
        "nic",
        "cog",
        "ean",
        "codgeo",
        "depcom",
        "mobile",
        "portable",
        "gsm",
    }
)
CODE_SUBSTRINGS: Final = ("code", "insee", "siren", "siret", "postal", "phone", "telep", "zipcode")


def snake_case(name: str) -> str:
    """A column name as a portable identifier: no accent, lower case, words joined by ``_``.

    ``"Code.département"`` → ``"code_departement"``, ``"Montant (€)"`` → ``"montant"``, ``"2019"`` → ``"_2019"``.
    """
    text = unicodedata.normalize("NFKD", name.replace("\ufeff", ""))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae").replace("Æ", "AE")
    # camelCase → camel_case, then anything that is not a letter or a digit separates words
    out: list[str] = []
    prev = ""
    for ch in text:
        if ch.isupper() and prev.islower():
            out.append("_")
        out.append(ch.lower() if ch.isascii() and ch.isalnum() else "_")
        prev = ch if ch.isascii() and ch.isalnum() else ""
    words = [w for w in "".join(out).split("_") if w]
    result = "_".join(words)
    if not result:
        return "column"
    return f"_{result}" if result[0].isdigit() else result


def looks_like_code_name(name: str) -> bool:
    """True for names such as ``code_insee``, ``CP``, ``siret``, ``Téléphone``, ``codepostal``."""
    snake = snake_case(name)
    if any(sub in snake for sub in CODE_SUBSTRINGS):
        return True
    return any(word in CODE_WORDS for word in snake.split("_"))


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum that SIREN and SIRET numbers satisfy."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0
