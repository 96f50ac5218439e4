"""The styled corpus: hand-written reports in the ways residents and grid workers really write.

data/styled_*.txt hold, per category, reports written for this project in seven styles:
12345 hotline call transcripts with filler words (`hotline`), grid workers' terse patrol logs
(`patrol`), oblique descriptions that never name the thing (`oblique`), pinyin-input typos
without punctuation (`pinyin`), dialect and emotive speech (`dialect`), a minor second matter or
a negated one (`second`), and long narratives with history (`long`). A "!" after the style marks
a report that is P1 whatever its category's severity.

Each written report is also dressed the ways the same text reaches the platform (`variants`):
read out on the hotline with fillers, typed through a pinyin IME without punctuation, with a
minor matter of another category or a denial added, and inside a narrative with history. The
split into training and dev is by written report (`group`): a dev report's variants never train.
"""

import hashlib
import random
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.schemas.enums import Severity
from tools.classifier_training.phrases import PHRASES

STYLES = ("hotline", "patrol", "oblique", "pinyin", "dialect", "second", "long")
DEV_SHARE = 5  # one written report in five goes to the dev split
SEED = 20261204


@dataclass(frozen=True, slots=True)
class Written:
    id: str
    category: str
    style: str
    text: str
    p1: bool


@dataclass(frozen=True, slots=True)
class Styled:
    id: str
    group: str  # the written report this text comes from
    category: str
    style: str
    text: str
    p1: bool


@cache
def written() -> tuple[Written, ...]:
    severity = {category.code: category.severity for category in Taxonomy.default()}
    out: list[Written] = []
    counters: dict[tuple[str, str], int] = {}
    folder = resources.files("tools.classifier_training").joinpath("data")
    for name in sorted(p.name for p in folder.iterdir() if p.name.startswith("styled_")):
        for line in folder.joinpath(name).read_text("utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            code, style, text = line.split("|", 2)
            urgent = style.endswith("!")
            style = style.rstrip("!")
            if style not in STYLES or code not in severity:
                raise ValueError(f"{name}: bad line {line!r}")
            number = counters[(code, style)] = counters.get((code, style), 0) + 1
            out.append(
                Written(
                    f"w-{code}-{style}-{number}",
                    code,
                    style,
                    text.strip(),
                    urgent or severity[code] is Severity.P1,
                )
            )
    return tuple(out)


def is_dev(item: Written) -> bool:
    return hashlib.sha256(item.id.encode()).digest()[0] % DEV_SHARE == 0


_FILLERS_OPEN = (
    "喂，你好，",
    "喂喂，听得到吗，嗯，",
    "你好你好，那个，",
    "嗯，是这样的，",
    "喂，是12345吗，我想反映个事，",
    "哎你好，我跟你说一下啊，",
    "那个……嗯……",
    "你好，我是附近的居民，嗯，",
)
_FILLERS_MID = ("嗯，", "那个，", "就是，", "怎么说呢，", "对对，", "啊，")
_FILLERS_CLOSE = (
    "，就这个事，麻烦你们了",
    "，嗯，你们尽快来看一下吧",
    "，对，就是这样，谢谢啊",
    "，我电话就是这个号码",
    "，啊，好的好的",
    "",
)
_HISTORY_OPEN = (
    "这个问题我已经反映过好几次了，一直没有解决。",
    "我在这里住了十几年了，以前从来没有这种情况。",
    "上个月我就打过一次电话，说转给相关部门了，结果到现在还是老样子。",
    "这个事情说来话长，从去年开始就有了。",
    "我之前在小程序上报过，显示已办结，但其实根本没人来。",
    "我们几个邻居商量了一下，还是决定打这个电话。",
)
_HISTORY_CLOSE = (
    "希望这次能真正解决，不要再拖了。",
    "我们老百姓也不想老打电话，实在是没办法了。",
    "麻烦你们派人来现场看一看，谢谢。",
    "如果需要我可以带你们去现场。",
    "拜托了，这个事真的影响我们的生活。",
)
_CONNECTIVES = ("，另外", "，还有就是", "，顺便说一下", "。对了，", "，再一个，", "，还有个小事，")
_DENIALS = ("不是{obj}的问题，", "{obj}倒是没事，", "{obj}是好的，", "跟{obj}没关系，")
# What a pinyin IME offers for the same sound; residents typing fast take the first candidate.
_HOMOPHONES = {
    "的": "得",
    "在": "再",
    "灯": "等",
    "盖": "该",
    "修": "休",
    "堵": "赌",
    "漏": "露",
    "水": "谁",
    "气": "器",
    "路": "陆",
    "电": "点",
    "线": "先",
    "垃圾": "拉鸡",
    "噪": "早",
    "停": "挺",
    "楼": "搂",
    "道": "到",
    "烟": "眼",
    "味": "为",
    "树": "数",
    "广告": "光告",
    "墙": "强",
    "门": "们",
    "吵": "炒",
    "管": "馆",
    "物业": "无业",
    "工资": "公司",
    "房": "方",
    "租": "组",
    "桶": "通",
    "箱": "想",
    "井": "紧",
    "消防": "小方",
    "反映": "反应",
    "已经": "以经",
    "坏": "怀",
    "里": "理",
    "车": "扯",
    "装": "庄",
    "排": "拍",
    "晚上": "完上",
    "小区": "小去",
}
_PUNCTUATION = re.compile(r"[，。、；：！？,.;:!?…“”\"'（）()\s]+")
_MINOR = ("07001", "03005", "06010", "01037", "06036", "09010", "09009", "04002")


def variants(item: Written, rng: random.Random) -> list[Styled]:
    """The written report itself and the ways the same content reaches the platform."""
    out = [Styled(item.id, item.id, item.category, item.style, item.text, item.p1)]

    def add(style: str, text: str) -> None:
        out.append(Styled(f"{item.id}~{style}", item.id, item.category, style, text, item.p1))

    body = item.text
    if item.style in ("oblique", "dialect", "second"):
        mid = rng.choice(_FILLERS_MID)
        add(
            "hotline",
            f"{rng.choice(_FILLERS_OPEN)}{mid}{body.rstrip('。！!')}{rng.choice(_FILLERS_CLOSE)}",
        )
    if item.style != "pinyin":
        add("pinyin", pinyin_typed(body, rng))
    if item.style in ("oblique", "dialect", "patrol", "hotline"):
        add("second", with_second_matter(body, item.category, rng))
    if item.style in ("oblique", "dialect", "hotline") and len(body) < 80:
        add(
            "long",
            f"{rng.choice(_HISTORY_OPEN)}{body.rstrip('。！!')}。{rng.choice(_HISTORY_CLOSE)}",
        )
    return out


def pinyin_typed(text: str, rng: random.Random) -> str:
    present = [right for right in _HOMOPHONES if right in text]
    for right in rng.sample(present, min(len(present), rng.randint(1, 3))):
        text = text.replace(right, _HOMOPHONES[right], 1)
    return _PUNCTUATION.sub("", text)


def with_second_matter(text: str, category: str, rng: random.Random) -> str:
    """A minor matter of another ordinary category added after the main one, or a denial of
    another category's object before it: the label stays the main matter's."""
    others = [code for code in _MINOR if code != category]
    other = rng.choice(others)
    objects, problems, _ = PHRASES[other]
    main = text.rstrip("。！!")
    if rng.random() < 0.6:
        minor = rng.choice(objects) + rng.choice(problems)
        return f"{main}{rng.choice(_CONNECTIVES)}{minor}，这个不急"
    denial = rng.choice(_DENIALS).format(obj=rng.choice(objects))
    return f"{denial}{main}"


def corpus(seed: int = SEED) -> tuple[list[Styled], list[Styled]]:
    """(training, dev): every written report with its variants, split by written report."""
    rng = random.Random(seed)
    train: list[Styled] = []
    dev: list[Styled] = []
    for item in written():
        (dev if is_dev(item) else train).extend(variants(item, rng))
    return train, dev
