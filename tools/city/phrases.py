"""Reports in natural Chinese, the way residents and grid workers write them.

A report is assembled from an opener, a place, the core complaint (report_cores.tsv, several per
category), how long it has lasted, a closer and, now and then, a phone or ID-card number, so no
two categories share one template. The wording is written apart from any classifier training
corpus on purpose: the simulator's reports test the classifier out of sample.
"""

import random
from functools import cache
from importlib.resources import files

_RESIDENT_OPENERS = ("", "", "你好，", "您好，", "我要反映个问题，", "麻烦管一下，", "投诉：")
_WORKER_OPENERS = ("巡查发现：", "网格员巡查上报：", "走访时居民反映，", "日常巡查中发现，")
_SPOTS = (
    "小区东门口", "菜市场旁边", "小学对面", "我们楼下", "公交站台那里", "桥头",
    "巷子口", "超市门口", "3栋和4栋中间", "幼儿园后面", "十字路口", "河边步道上",
)  # fmt: skip
_SINCE = ("", "", "好几天了", "已经一个星期了", "今天早上发现的", "昨天晚上开始的")
_RESIDENT_CLOSERS = (
    "请尽快处理。", "希望有关部门管一管！", "谢谢。", "太危险了，赶紧来人看看。",
    "反映好几次了都没人管。", "", "麻烦了！",
)  # fmt: skip
_WORKER_CLOSERS = (
    "已拍照取证，请相关部门处理。",
    "已现场劝导，需部门跟进。",
    "已告知当事人，建议尽快处置。",
)
_PHONE_ASIDES = ("联系我{}", "我电话{}", "有问题打{}", "回电{}，谢谢")
_ID_ASIDES = ("我是本小区居民，身份证{}", "实名反映，身份证号{}")
# Taizhou's administrative-division prefixes, so generated ID-card numbers look local.
_ID_REGIONS = ("321202", "321203", "321204", "321281", "321282", "321283")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@cache
def report_cores() -> dict[str, tuple[str, ...]]:
    """category code -> the core complaints for it."""
    text = files("tools.city").joinpath("report_cores.tsv").read_text(encoding="utf-8")
    cores: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            category, core = line.split("\t")
            cores.setdefault(category, []).append(core)
    return {category: tuple(phrases) for category, phrases in cores.items()}


def categories() -> tuple[str, ...]:
    return tuple(report_cores())


def describe(
    category: str,
    rng: random.Random,
    place: str | None = None,
    role: str = "resident",
    core: str | None = None,
) -> str:
    """A report of `category` by a resident or grid worker, near `place` if given.

    `core` fixes the complaint instead of drawing one, so the classifier evaluation can render
    every core of report_cores.tsv.
    """
    core = core or rng.choice(report_cores()[category])
    spot = rng.choice(_SPOTS)
    where = f"{place}{spot}" if place and rng.random() < 0.5 else (place or spot)
    located = rng.choice((f"在{where}，{core}", f"{core}，就在{where}", f"{where}这边{core}"))
    if role != "resident":
        return f"{rng.choice(_WORKER_OPENERS)}{located}。{rng.choice(_WORKER_CLOSERS)}"
    if rng.random() < 0.2:
        located = core  # many residents scan the code and do not say where they are
    since = rng.choice(_SINCE)
    clauses = f"{located}，{since}" if since else located
    text = f"{rng.choice(_RESIDENT_OPENERS)}{clauses}。{rng.choice(_RESIDENT_CLOSERS)}"
    roll = rng.random()
    if roll < 0.2:
        text += rng.choice(_PHONE_ASIDES).format(phone_number(rng))
    elif roll < 0.25:
        text += rng.choice(_ID_ASIDES).format(id_card_number(rng))
    return text


def phone_number(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


def id_card_number(rng: random.Random) -> str:
    """An 18-character resident ID with a valid GB 11643 check character."""
    body = (
        f"{rng.choice(_ID_REGIONS)}{rng.randint(1950, 2005)}"
        f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randrange(1000):03d}"
    )
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]
