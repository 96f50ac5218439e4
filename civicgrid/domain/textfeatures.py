"""Text features shared by training and the runtime classifier: clauses and denials.

Training and classification must see exactly the same text, so both import this module.
"""

import re
import unicodedata

# A report's problems are separated by punctuation or by the connectives residents use to add
# a second matter ("另外", "还有", "顺便说一下").
_CLAUSE_SPLIT = re.compile(r"[，,。．.；;！!？?、\n]+|另外|还有就是|还有|顺便说一下|顺便|同时")
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")

# A clause that only says something is fine ("井盖没事", "不是路灯的问题") names an object that
# is not the problem; dropping it keeps that object's words from voting for its category.
_DENIAL = re.compile(
    r"^(?:不是|并不是|并非|不关).{1,12}(?:的问题|的事|坏了)?$"
    r"|(?:没事|没问题|没有问题|是好的|好好的|倒还好|(?<!不)正常|已经修好了?|已修好|修好了)[了的啊呀吧]?$"
)


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), lower case, digits folded, spaces removed."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _SPACE.sub("", _DIGITS.sub("0", text))


def clauses(text: str) -> list[str]:
    return [part for part in _CLAUSE_SPLIT.split(normalise(text)) if part]


def is_denial(clause: str) -> bool:
    return _DENIAL.search(clause) is not None


def kept_clauses(text: str) -> tuple[list[str], int]:
    """The clauses that describe a problem, and how many denial clauses were dropped.

    When every clause is a denial nothing is dropped: the report still has to go somewhere.
    """
    parts = clauses(text)
    kept = [part for part in parts if not is_denial(part)]
    if not kept:
        return parts, 0
    return kept, len(parts) - len(kept)
