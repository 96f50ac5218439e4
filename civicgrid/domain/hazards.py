"""Hazard rules: words that make a report urgent (P1) whatever its category.

Rules, not the learned model, decide urgency: a missed gas leak costs far more than a wrong
department, so these patterns are written wide (typos such as 煤汽 / 然气 included) and only an
explicit negation right before the match ("没有闻到煤气味") switches one off.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Hazard:
    name: str
    pattern: re.Pattern[str]


_GAS = r"(?:煤|燃|然|天然|液化|石油)[气汽]"
HAZARDS: tuple[Hazard, ...] = (
    Hazard(
        "gas_smell",
        re.compile(
            rf"{_GAS}.{{0,3}}(?:味|泄露|泄漏|漏了|外漏|在漏)|漏[气汽]|[气汽]体?泄[漏露]"
            r"|臭鸡蛋味|嘶嘶.{0,3}(?:响|声)|(?:闻到|有).{0,4}(?:煤|燃|然)[气汽]"
        ),
    ),
    Hazard(
        "exposed_wire",
        re.compile(
            r"电线.{0,4}(?:裸露|露出|外露|破皮|掉|垂|断|冒火)|线头.{0,3}露|漏电|触电|被电"
            r"|冒火花|打火花|电火花|高压线.{0,4}(?:断|掉|垂)"
        ),
    ),
    Hazard(
        "falling_object",
        re.compile(
            r"高空坠物|摇摇欲坠|(?:随时|快要?|马上|可能|差点|容易).{0,4}(?:掉|砸|塌|倒)"
            r"|砸(?:到|伤|中)|往下(?:扔|掉|丢)|掉下来"
        ),
    ),
    Hazard(
        "blocked_fire_lane",
        re.compile(
            r"消[防仿]车.{0,4}(?:进不来|进不去|开不进|过不去)"
            r"|(?:消[防仿]|生命|疏散)(?:通道|车道).{0,4}(?:堵|占|锁|封|挡)"
        ),
    ),
    Hazard(
        "fire_or_smoke",
        re.compile(r"着火|起火|失火|冒烟|火灾|烧起来|爆炸"),
    ),
    Hazard(
        "person_in_danger",
        re.compile(
            r"(?:人|孩|老人|学生).{0,4}(?:掉进|掉下|落水|被困|困在|摔伤|受伤|晕倒|昏倒|流血|溺水|被砸)"
            r"|(?:持刀|拿刀|动刀|砍人|跳楼|轻生|自杀|救命|快来人)"
        ),
    ),
)

# "没有漏气" or "没闻到煤气味": a negation cue shortly before the match. A hedge ("是不是漏气",
# "好像有煤气味") is not a negation: an unsure resident still gets the urgent response.
_NEGATION = re.compile(r"(?:没有|没|未|无|不是|并非|不存在|不会|不)[^，,。；;！!？?]{0,3}$")
_HEDGE = re.compile(
    r"(?:是不是|会不会|有没有|是否|好像|似乎|怀疑|疑似|不知道)[^，,。；;！!？?]{0,3}$"
)


def detect(clauses: list[str]) -> tuple[str, ...]:
    """Names of the hazards that some clause asserts (negated mentions do not count)."""
    found: list[str] = []
    for hazard in HAZARDS:
        if any(_asserted(hazard.pattern, clause) for clause in clauses):
            found.append(hazard.name)
    return tuple(found)


def mentioned(clause: str) -> bool:
    """Whether the clause speaks of any hazard at all, asserted or negated."""
    return any(hazard.pattern.search(clause) for hazard in HAZARDS)


def _asserted(pattern: re.Pattern[str], clause: str) -> bool:
    for match in pattern.finditer(clause):
        before = clause[: match.start()]
        if _NEGATION.search(before) is None or _HEDGE.search(before) is not None:
            return True
    return False
