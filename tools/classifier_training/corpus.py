"""The labelled corpus: reports generated from the hand-written material in phrases.py.

Each example keeps how it was made (`source`) so docs and results can say where every labelled
example came from. The held-out split is by *core phrase* (object + problem, or a whole
sentence): a held-out core never occurs in training, only its words do in other combinations.
"""

import hashlib
import random
from dataclasses import dataclass

from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.schemas.enums import Severity
from tools.city import phrases as city_phrases
from tools.classifier_training.phrases import (
    CONNECTORS,
    HANDWRITTEN,
    HAZARD_SENTENCES,
    LOCATIONS,
    NEGATED_HAZARDS,
    OPENERS,
    PHRASES,
    TAILS,
    TYPOS,
)

# Places and roles the simulator's reports are rendered with: no place (app or hotline), a
# doorplate (the code a resident scanned), and a grid worker on patrol.
_SIM_SETTINGS = (
    (None, "resident"),
    ("凤凰路18号", "resident"),
    (None, "resident"),
    ("鼓楼南路7号", "worker"),
)
PER_CATEGORY = 560
TYPO_RATE = 0.2
TEST_SHARE = 5  # one core phrase in five goes to the held-out split
SEED = 20240601

_DENIALS = ("{obj}没事", "不是{obj}的问题", "{obj}是好的", "{obj}已经修好了", "{obj}倒还好")


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    category: str
    p1: bool
    source: str
    cores: tuple[str, ...]
    secondary: str | None = None
    hint: str | None = None
    """The category the reporter picked in the app, passed to the classifier as advice."""
    severity: Severity | None = None
    """The labelled severity, when the set gives one; else P1 if `p1`, else the category's."""


def build(seed: int = SEED) -> list[Example]:
    """The whole generated corpus, deduplicated by text, in a reproducible order."""
    rng = random.Random(seed)
    severity = {category.code: category.severity for category in Taxonomy.default()}
    codes = sorted(PHRASES)
    seen: set[str] = set()
    examples: list[Example] = []
    for code in codes:
        for _ in range(PER_CATEGORY):
            example = _one(rng, code, codes, severity)
            if rng.random() < TYPO_RATE:
                example = _with_typo(rng, example)
            if example.text not in seen:
                seen.add(example.text)
                examples.append(example)
    return examples


def is_held_out(example: Example) -> bool:
    """Held out when any of its core phrases is: training never sees a held-out core."""
    return any(
        hashlib.sha256(core.encode()).digest()[0] % TEST_SHARE == 0 for core in example.cores
    )


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    train = [example for example in examples if not is_held_out(example)]
    test = [example for example in examples if is_held_out(example)]
    return train, test


def with_hints(examples: list[Example], seed: int, right_share: float) -> list[Example]:
    """Copies carrying a category_hint that is right `right_share` of the time and otherwise
    another category at random: advice, not truth, as the hint rule must assume."""
    rng = random.Random(seed)
    codes = sorted({example.category for example in examples})
    hinted = []
    for e in examples:
        hint = e.category
        if rng.random() >= right_share:
            hint = rng.choice([code for code in codes if code != e.category])
        hinted.append(Example(e.text, e.category, e.p1, e.source, e.cores, e.secondary, hint))
    return hinted


def handwritten() -> list[Example]:
    return [Example(text, code, p1, "handwritten", (text,)) for text, code, p1 in HANDWRITTEN]


def simulator(*, with_hint: bool) -> list[Example]:
    """Every core complaint of the city simulator rendered by its own `describe`.

    Independent test set: report_cores.tsv and tools/city/phrases.py were written apart
    from this package's phrase material and are never trained on. P1 is the category's own
    severity (the simulator adds no hazard sentences). With `with_hint` each report carries its
    true category as category_hint, as the simulator's app reports do.
    """
    severity = {category.code: category.severity for category in Taxonomy.default()}
    examples: list[Example] = []
    for code, cores in city_phrases.report_cores().items():
        for core in cores:
            for seed, (place, role) in enumerate(_SIM_SETTINGS):
                text = city_phrases.describe(code, random.Random(seed), place, role, core=core)
                p1 = severity[code] is Severity.P1
                hint = code if with_hint else None
                examples.append(Example(text, code, p1, f"simulator_{role}", (core,), None, hint))
    return examples


def _core(rng: random.Random, code: str) -> str:
    objects, problems, wholes = PHRASES[code]
    if wholes and rng.random() < 0.2:
        return rng.choice(wholes)
    return rng.choice(objects) + rng.choice(problems)


def _dress(rng: random.Random, core: str, *, opener: bool = True) -> str:
    location = rng.choice(LOCATIONS)
    joint = "的" if location and rng.random() < 0.4 else ""
    start = rng.choice(OPENERS) if opener else ""
    return f"{start}{location}{joint}{core}{rng.choice(TAILS)}"


def _one(rng: random.Random, code: str, codes: list[str], severity: dict[str, Severity]) -> Example:
    core = _core(rng, code)
    is_p1 = severity[code] is Severity.P1
    roll = rng.random()
    if roll < 0.12:
        text = _dress(rng, core) + "，" + rng.choice(HAZARD_SENTENCES)
        return Example(text, code, True, "hazard", (core,))
    if roll < 0.18:
        text = _dress(rng, core) + "，" + rng.choice(NEGATED_HAZARDS)
        return Example(text, code, is_p1, "negated_hazard", (core,))
    other = rng.choice([c for c in codes if c != code])
    if roll < 0.28:
        denied = rng.choice(_DENIALS).format(obj=rng.choice(PHRASES[other][0]))
        lead_in = rng.choice(("是", "是", "现在是", ""))
        text = f"{rng.choice(OPENERS)}{denied}，{lead_in}{_dress(rng, core, opener=False)}"
        return Example(text, code, is_p1, "negation", (core,))
    if roll < 0.38:
        second = _core(rng, other)
        text = _dress(rng, core) + rng.choice(CONNECTORS) + second
        # The more severe problem leads; on a tie the first mentioned does.
        lead, follow = (other, code) if severity[other] < severity[code] else (code, other)
        lead_p1 = is_p1 or severity[other] is Severity.P1
        return Example(text, lead, lead_p1, "two_problems", (core, second), follow)
    return Example(_dress(rng, core), code, is_p1, "template", (core,))


def _with_typo(rng: random.Random, example: Example) -> Example:
    present = [right for right in TYPOS if right in example.text]
    if present:
        right = rng.choice(present)
        text = example.text.replace(right, TYPOS[right], 1)
    else:
        cut = rng.randrange(len(example.text))
        text = example.text[:cut] + example.text[cut + 1 :]
    return Example(
        text,
        example.category,
        example.p1,
        example.source + "+typo",
        example.cores,
        example.secondary,
    )
