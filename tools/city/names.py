"""Chinese place and organisation names for the synthetic Taizhou (泰州)."""

import random

CITY = "泰州市"

# The six county-level divisions of Taizhou, with the abbreviations used in grid ids.
DISTRICTS: tuple[tuple[str, str], ...] = (
    ("HL", "海陵区"),
    ("GG", "高港区"),
    ("JY", "姜堰区"),
    ("XH", "兴化市"),
    ("JJ", "靖江市"),
    ("TX", "泰兴市"),
)

# Two syllables drawn from these pools give names that sound local without copying real ones
# (a real name would suggest a real place the data says nothing about).
_FIRST = "凤梅京泰红九罡苏华永口刁许野白胡大沈溱娄俞梁张戴安昭周陈千新马孤西季黄根宣古元珊虹济滨"
_SECOND = "城兰泰东旗龙杨陈港安岸铺庄徐马泗高潼垛甸丰阳桥堡山来市思溪竹瑚川江湖河园林春"
_ROAD_SUFFIX = ("路", "街", "大道", "巷")
_INDUSTRIES = ("机械", "化工", "印染", "电子", "食品", "建材", "船舶配件", "纺织", "医药", "塑料")
_TRADES = ("饭店", "小吃店", "面馆", "烧烤店", "早点铺", "食堂")


def _syllable_pairs(rng: random.Random, n: int) -> list[str]:
    pairs = sorted({a + b for a in _FIRST for b in _SECOND if a != b})
    return rng.sample(pairs, n)


def street_names(rng: random.Random, n: int) -> list[str]:
    """n distinct street/town names; about a third are towns (镇), as in a county-level city."""
    return [p + ("镇" if rng.random() < 0.35 else "街道") for p in _syllable_pairs(rng, n)]


def community_names(rng: random.Random, n: int) -> list[str]:
    return [p + ("村" if rng.random() < 0.25 else "社区") for p in _syllable_pairs(rng, n)]


def road_name(rng: random.Random) -> str:
    return rng.choice(_FIRST) + rng.choice(_SECOND) + rng.choice(_ROAD_SUFFIX)


def enterprise_name(rng: random.Random) -> tuple[str, str]:
    """(name, industry) of an enterprise."""
    industry = rng.choice(_INDUSTRIES)
    prefix = rng.choice(_FIRST) + rng.choice(_SECOND)
    return f"泰州{prefix}{industry}有限公司", industry


def eatery_name(rng: random.Random) -> str:
    """An LPG cylinder's user: small eateries are the usual owners."""
    return rng.choice(_FIRST) + rng.choice(_SECOND) + rng.choice(_TRADES)
