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
    # A report that says this is not the hazard: "挂在天花板上" (indoor wiring), "充电" (a
    # charging lead, the e-bike's matter, not an overhead line).
    unless: re.Pattern[str] | None = None
    # Matched over the whole report, clauses joined: the danger takes two clauses to tell
    # ("车库进水了，里面还有人").
    across: bool = False


_GAS = r"(?:煤|燃|然|天然|液化|石油)[气汽]"
# Between a thing and what is wrong with it ("电线杆被大货车撞歪了"): a few characters, but no
# negation, so "电线没有裸露" and "井盖没丢" do not match at all; a hedge ("不知道被谁") may.
_GAP = r"(?:不知道|是不是|[^没不未无非]){0,6}"
_GAS_EQUIPMENT = (
    r"(?:(?:燃|煤|然|天然|液化)[气汽](?:管道?|管子|表|阀门?|罐|瓶)|调压(?:箱|站|柜|器)|钢瓶|气瓶)"
)
_COVER = r"(?:井盖|窨井盖|下水道盖子?|盖板|雨水篦子?|篦子)"
_LINE = r"(?:电线|电缆|线缆|缆线|光缆|网线|电话线|通信线|架空线|高压线)"
_POLE = r"(?:电线杆|电杆|线杆|通信杆)"
# "锯掉", "清理掉", "拆掉": the resident asks for something to be removed, nothing is falling.
_REMOVED = r"(?<![锯剪砍修清拆弄去扔撕刷铲理除挪搬])"
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
            rf"(?:电线|电缆|电源线){_GAP}(?:裸露|露出|外露|破皮|冒火)|线头.{{0,3}}露|漏电|触电|被电(?:到|了|击|伤|着)"
            rf"|冒火花|打火花|电火花|高压线{_GAP}(?:断|{_REMOVED}掉|垂)"
        ),
    ),
    # Any overhead line down or hanging low (power or telecom: it trips, strangles or is live),
    # and poles that lean or fell.
    Hazard(
        "fallen_cable",
        re.compile(
            rf"{_LINE}{_GAP}(?:{_REMOVED}掉|垂|断|耷拉|拖地|拖到|落地|落到|跌|甩|缠|挂到|挂在|绊)"
            rf"|{_POLE}{_GAP}(?:倒|歪|斜|断|折)"
        ),
        situation=False,
        unless=re.compile(r"充电|冲电|插线板|插排|插座|天花板|屋里|屋内|室内|房间里|墙上"),
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
            r"|砸(?:到|伤|中)|往下(?:扔|掉|丢)|掉下来|坠落|掉落|落下来|砸下来|跌落[嚟来]|跌下来"
            rf"|{_OVERHEAD}{_GAP}(?:松动|松了|脱落|晃|摇|歪|悬|吊着|耷拉|要掉|快掉|{_REMOVED}掉|断)"
        ),
        # leaves, insects or fruit coming down hurt no-one
        unless=re.compile(
            r"(?:树叶|落叶|叶子|虫子?|果子|果实|花瓣|柳絮|杨絮|飞絮|鸟屎|毛毛虫).{0,6}(?:往下|掉|落)"
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
            r"(?:人|孩|娃|老人|学生|小朋友|老太|大爷|大妈|司机).{0,4}"
            r"(?:掉进|掉下|掉到|跌落|落水|被困|困在|压在|被压|摔伤|受伤|晕倒|昏倒|流血|溺水|被砸|被电)"
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

# Water rising where people still are (a flooded garage, underpass or basement), told in
# either order ("车库进水了，里面还有人" / "还有人在车库里，水越涨越高").
_FLOOD = (
    r"(?:淹|进水|倒灌|灌进|灌满|漫进|水浸|浸水|积水|水位|水深|涨水|内涝|水越来越|水越涨"
    r"|(?:车库|地下室|地库|地下通道|隧道|涵洞|下穿|桥洞|电梯井?).{0,8}水)"
)
# the clause split drops 还有 ("里面还有人" -> "里面", "人在挪车")
_PEOPLE_INSIDE = (
    r"(?:(?:还有|仍有|尚有|里面|里头|里边|车里|车内|屋里|下面)，?.{0,4}人"
    r"|人.{0,4}(?:还在|没出来|出不来|没上来|在里)|困在|被困)"
)
HAZARDS = (
    *HAZARDS,
    Hazard(
        "people_in_flood",
        re.compile(
            rf"水.{{0,6}}(?:没过|淹到|淹过|漫过|到了?|齐)(?:腰|胸|头|脖子|膝盖|膝|小腿|大腿)"
            rf"|{_FLOOD}.{{0,30}}{_PEOPLE_INSIDE}|{_PEOPLE_INSIDE}.{{0,30}}{_FLOOD}"
        ),
        across=True,
    ),
)

# A danger that is only feared ("万一着火", "担心会砸到人") or over ("以前起过一次火", "上个月
# 冒过烟") is no present danger: the severity rule raises only what is happening. Gas and
# broken things are the exceptions: "怕是漏气了" hedges a smell the resident has now.
_HYPOTHETICAL = re.compile(
    r"万一|要是|如果|假如|一旦|迟早|早晚|担心|害怕|生怕|怕(?!是)|以防|防止|预防|避免|容易|可能会|会不会"
)
_PAST = re.compile(
    r"以前|之前|去年|前年|曾经|上次|上回|有一次|那次|过一次|过两次|过几次|上个月|前几年"
)
_PRESENT_ONLY = frozenset(
    {"fire_or_smoke", "falling_object", "person_in_danger", "exposed_wire", "people_in_flood"}
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
    """Names of the hazards that some clause asserts (negated, feared or past mentions do not
    count; nor a match in a clause that says it is something else)."""
    joined = "，".join(clauses)
    if not _ANY_HAZARD.search(joined):
        return ()
    found: list[str] = []
    for hazard in HAZARDS:
        scope = [joined] if hazard.across else clauses
        if any(_asserted(hazard, clause, joined) for clause in scope):
            found.append(hazard.name)
    return tuple(found)


_ANY_SITUATION = re.compile(
    "|".join(f"(?:{hazard.pattern.pattern})" for hazard in HAZARDS if hazard.situation)
)


def mentioned(clause: str) -> bool:
    """Whether the clause speaks of a hazardous situation (gas, fire, a person in danger ...),
    asserted or negated, rather than of a broken thing."""
    return _ANY_SITUATION.search(clause) is not None


def _asserted(hazard: Hazard, clause: str, report: str) -> bool:
    if hazard.unless is not None and hazard.unless.search(report):
        return False
    for match in hazard.pattern.finditer(clause):
        before = clause[: match.start()]
        if hazard.name in _PRESENT_ONLY and (_HYPOTHETICAL.search(before) or _PAST.search(before)):
            continue
        if _NEGATION.search(before) is None or _HEDGE.search(before) is not None:
            return True
    return False
