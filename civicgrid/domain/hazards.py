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
    # False for a hazard told through a thing that is itself a category's object (a missing
    # cover, a fallen cable): such a clause still names a problem of its own (see mentioned).
    situation: bool = True


_GAS = r"(?:煤|燃|然|天然|液化|石油)[气汽]"
# Between a thing and what is wrong with it ("电线杆被大货车撞歪了"): a few characters, but no
# negation, so "电线没有裸露" and "井盖没丢" do not match at all; a hedge ("不知道被谁") may.
_GAP = r"(?:不知道|是不是|[^没不未无非]){0,6}"
_GAS_EQUIPMENT = (
    r"(?:(?:燃|煤|然|天然|液化)[气汽](?:管道?|管子|表|阀门?|罐|瓶)|调压(?:箱|站|柜|器)|钢瓶|气瓶)"
)
_COVER = r"(?:井盖|窨井盖|下水道盖子?|盖板|雨水篦子?|篦子)"
_LINE = r"(?:电线|电缆|线缆|缆线|光缆|网线|电话线|通信线|架空线|高压线|飞线)"
_POLE = r"(?:电线杆|电杆|线杆|通信杆)"
_OVERHEAD = (
    r"(?:广告牌|招牌|灯箱|空调外机|外机|花盆|玻璃|窗户|窗框|瓷砖|墙皮|墙砖|外墙|阳台|雨棚|遮阳棚"
    r"|树枝|枯枝|脚手架|防盗窗|晾衣架|屋檐|檐口)"
)
_FIRE_EQUIPMENT = (
    r"(?:灭火器|消火栓|消防栓|消防水带|消防水管|应急灯|应急照明|疏散指示|出口指示|烟感|烟雾报警器"
    r"|喷淋|防火门|消防门)"
)
_ESCAPE_ROUTE = r"(?:消[防仿](?:通道|车道)|生命通道|疏散通道|逃生通道|安全出口|安全通道|紧急出口)"
HAZARDS: tuple[Hazard, ...] = (
    Hazard(
        "gas_smell",
        re.compile(
            rf"{_GAS}.{{0,3}}(?:味|泄露|泄漏|漏了|外漏|在漏)|漏[气汽]|[气汽]体?泄[漏露]"
            r"|臭鸡蛋味|嘶嘶.{0,3}(?:响|声)|(?:闻到|有).{0,4}(?:煤|燃|然)[气汽]"
            rf"|像是?{_GAS}"
        ),
    ),
    # A damaged gas pipe, meter, valve, cylinder or regulator leaks next, smell or not.
    Hazard(
        "damaged_gas_equipment",
        re.compile(
            rf"{_GAS_EQUIPMENT}{_GAP}(?:破|裂|断|漏|撞|压坏|压扁|锈穿|锈烂|变形|倒|歪|被挖|被撬|撬开)"
            rf"|(?:挖断|挖破|挖坏|撞坏|撞倒|撞歪|压断|压坏|撬开)了?{_GAS_EQUIPMENT}"
        ),
        situation=False,
    ),
    Hazard(
        "exposed_wire",
        re.compile(
            rf"(?:电线|电缆|电源线){_GAP}(?:裸露|露出|外露|破皮|冒火)|线头.{{0,3}}露|漏电|触电|被电"
            rf"|冒火花|打火花|电火花|高压线{_GAP}(?:断|掉|垂)"
        ),
    ),
    # Any overhead line down or hanging low (power or telecom: it trips, strangles or is live),
    # and poles that lean or fell.
    Hazard(
        "fallen_cable",
        re.compile(
            rf"{_LINE}{_GAP}(?:掉|垂|断|耷拉|拖地|拖到|落地|落到|缠|挂到|挂在|绊)"
            rf"|{_POLE}{_GAP}(?:倒|歪|斜|断|折)"
        ),
        situation=False,
    ),
    # A missing or broken cover, an unguarded hole, a road that gave way: someone falls in.
    Hazard(
        "open_hole",
        re.compile(
            rf"{_COVER}{_GAP}(?:没了|不见|丢|偷|被盗|被掀|掀开|移位|错位|翻|翘|碎|裂|断|塌|陷|松动|坏)"
            rf"|(?:没有|没|缺了?|少了?)(?:个|了)?{_COVER}"
            r"|(?:井|坑|洞|窟窿|口子)[^没不未无非]{0,2}(?:敞着|敞开|露着|开着|没盖|没有盖|没人盖|没围|没有围|没挡)"
            r"|塌陷|塌方|坍塌|陷下去|塌了.{0,3}(?:坑|洞)|掉进了?(?:井|坑|洞|下水道|窨井)"
        ),
        situation=False,
    ),
    Hazard(
        "falling_object",
        re.compile(
            r"高空坠物|高空抛物|摇摇欲坠|(?:随时|快要?|马上|可能|差点|容易)[^没不未无非]{0,4}(?:掉|砸|塌|倒)"
            r"|砸(?:到|伤|中)|往下(?:扔|掉|丢)|掉下来|坠落|掉落|落下来|砸下来"
            rf"|{_OVERHEAD}{_GAP}(?:松动|松了|脱落|晃|摇|歪|悬|吊着|耷拉|要掉|快掉|掉|断)"
        ),
    ),
    Hazard(
        "blocked_fire_lane",
        re.compile(
            r"消[防仿]车.{0,4}(?:进不来|进不去|开不进|过不去)"
            rf"|{_ESCAPE_ROUTE}{_GAP}(?:堵|占|锁|封|挡|堆|停满|停了|停着|被)"
            rf"|(?:堵|占|锁|封|挡|堆|停)[^没不未无非]{{0,6}}{_ESCAPE_ROUTE}"
        ),
    ),
    # Fire equipment out of order: it fails exactly when a fire needs it.
    Hazard(
        "fire_equipment_out",
        re.compile(
            rf"{_FIRE_EQUIPMENT}{_GAP}(?:坏|不亮|灭了|过期|失效|没水|没有水|没压|空的|被埋|被挡|被压"
            r"|被偷|丢|不见|拆|不能用|用不了|打不开|关不上|锈)"
        ),
        situation=False,
    ),
    Hazard(
        "fire_or_smoke",
        re.compile(r"着火|起火|失火|冒烟|火灾|烧起来|爆炸"),
    ),
    Hazard(
        "person_in_danger",
        re.compile(
            r"(?:人|孩|老人|学生).{0,4}(?:掉进|掉下|落水|被困|困在|摔伤|受伤|晕倒|昏倒|流血|溺水|被砸)"
            r"|(?:持刀|拿刀|动刀|拿着刀|砍人|捅人|跳楼|轻生|自杀|救命|快来人)"
            r"|打架|斗殴|打起来|动手打|被打伤|头破血流|有人受伤|倒地不起"
        ),
    ),
    # Threats and crowds: a dispute about to turn into violence or a mass incident.
    Hazard(
        "group_conflict",
        re.compile(
            r"扬言.{0,6}(?:报复|砍|杀|跳|炸|烧|同归于尽|闹)|威胁要|同归于尽"
            r"|(?:人|村民|居民|工人|业主|群众|家属).{0,4}(?:聚集|围堵|堵门|闹事|拉横幅|拉条幅|集体上访)"
            r"|(?:集体|群体)(?:上访|讨薪|闹事)"
        ),
    ),
)

# "没有漏气" or "没闻到煤气味": a negation cue shortly before the match. A hedge ("是不是漏气",
# "好像有煤气味") is not a negation: an unsure resident still gets the urgent response.
_NEGATION = re.compile(r"(?:没有|没|未|无|不是|并非|不存在|不会|不)[^，,。；;！!？?]{0,3}$")
_HEDGE = re.compile(
    r"(?:是不是|会不会|有没有|是否|好像|似乎|怀疑|疑似|不知道)[^，,。；;！!？?]{0,3}$"
)


# All hazards in one pattern: most clauses name none, and one search of the alternation
# answers that for all the patterns at once (classify ~7 % faster, docs/performance.md).
_ANY_HAZARD = re.compile("|".join(f"(?:{hazard.pattern.pattern})" for hazard in HAZARDS))


def detect(clauses: list[str]) -> tuple[str, ...]:
    """Names of the hazards that some clause asserts (negated mentions do not count)."""
    if not any(_ANY_HAZARD.search(clause) for clause in clauses):
        return ()
    found: list[str] = []
    for hazard in HAZARDS:
        if any(_asserted(hazard.pattern, clause) for clause in clauses):
            found.append(hazard.name)
    return tuple(found)


_ANY_SITUATION = re.compile(
    "|".join(f"(?:{hazard.pattern.pattern})" for hazard in HAZARDS if hazard.situation)
)


def mentioned(clause: str) -> bool:
    """Whether the clause speaks of a hazardous situation (gas, fire, a person in danger ...),
    asserted or negated, rather than of a broken thing."""
    return _ANY_SITUATION.search(clause) is not None


def _asserted(pattern: re.Pattern[str], clause: str) -> bool:
    for match in pattern.finditer(clause):
        before = clause[: match.start()]
        if _NEGATION.search(before) is None or _HEDGE.search(before) is not None:
            return True
    return False
