"""Report classification: category, severity, owners, confidence and the reasons for each.

Three signals are combined in logit space: the text model (a linear softmax model over character
1-3-grams, trained by civicgrid.classifier_training), the registry kind of the scanned code and
the reporter's category hint. Hazard rules then raise severity whatever the category.
"""

import json
import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from civicgrid.domain import hazards, textfeatures
from civicgrid.domain.taxonomy import Taxonomy
from schemas.enums import Severity

# The scanned code names the thing the resident stands at, so it outweighs everything but a
# clear text. The hint is the category the resident picked from the app's menu: advice, so it
# wins unless the text favours another category by more than the bonus in logits. The value is
# the best on the training data's dev split with 20 % wrong hints (classifier_training.tune).
KIND_BONUS = 3.0
HINT_BONUS = 1.5
# Below this probability the grid worker verifies (核实) before any department is bothered.
VERIFY_BELOW = 0.5
# A clause must be this sure of its own category to count as a second problem.
CLAUSE_SURE = 0.6
# Caution: when the urgent (P1) categories together hold at least this probability, the report
# is treated as urgent and verified, whatever the single best guess: a confusion between an
# urgent and an ordinary category must not route the urgent one as ordinary. Chosen on the
# training side's dev split (classifier_training.tune), never on the test sets.
CAUTION_ABOVE = 0.3

_SEVERITY_RANK = {Severity.P1: 0, Severity.P2: 1, Severity.P3: 2}


@dataclass(frozen=True, slots=True)
class Classification:
    category: str
    severity: Severity
    network: bool
    departments: tuple[str, ...]
    confidence: float
    reasons: tuple[str, ...]
    needs_verification: bool
    hazards: tuple[str, ...]
    secondary: tuple[str, ...] = field(default=())

    @property
    def level(self) -> str:
        return "network" if self.network else "grid"

    @property
    def lead_department(self) -> str:
        return self.departments[0]

    @property
    def co_departments(self) -> tuple[str, ...]:
        return self.departments[1:]

    def to_json(self) -> dict[str, object]:
        return {
            "category": self.category,
            "severity": str(self.severity),
            "level": self.level,
            "departments": list(self.departments),
            "lead_department": self.lead_department,
            "co_departments": list(self.co_departments),
            "confidence": round(self.confidence, 3),
            "needs_verification": self.needs_verification,
            "hazards": list(self.hazards),
            "secondary": list(self.secondary),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class _Model:
    labels: tuple[str, ...]
    bias: tuple[float, ...]
    weights: dict[str, tuple[tuple[int, float], ...]]

    by_label: tuple[dict[str, float], ...]

    def scores(self, grams: set[str]) -> list[float]:
        """Scores without the bias, so that clause scores add up to the report's."""
        scores = [0.0] * len(self.labels)
        weights = self.weights
        for gram in grams:
            entry = weights.get(gram)
            if entry is not None:
                for index, weight in entry:
                    scores[index] += weight
        return scores

    def evidence(self, clause_grams: list[set[str]], index: int) -> list[str]:
        """The n-grams that pushed hardest towards class `index`, for the reasons."""
        weights = self.by_label[index]
        pushes = {
            (weight, gram)
            for grams in clause_grams
            for gram in grams
            if len(gram) > 1 and (weight := weights.get(gram, 0.0)) > 0
        }
        return [gram for _, gram in sorted(pushes, reverse=True)[:3]]


class Classifier:
    def __init__(
        self,
        model: _Model,
        taxonomy: Taxonomy,
        hint_bonus: float = HINT_BONUS,
        caution_above: float = CAUTION_ABOVE,
    ) -> None:
        missing = [code for code in model.labels if code not in taxonomy]
        if missing:
            raise ValueError(f"model labels {missing} are not in the taxonomy")
        self._model = model
        self._taxonomy = taxonomy
        self._hint_bonus = hint_bonus
        self._caution_above = caution_above
        self._index = {code: i for i, code in enumerate(model.labels)}
        # From the taxonomy the classifier was given, so a city's severity overrides count.
        self._urgent = tuple(
            i for i, code in enumerate(model.labels) if taxonomy.get(code).severity is Severity.P1
        )
        self._names = {category.zh: category.code for category in taxonomy}
        self._names.update({category.en.lower(): category.code for category in taxonomy})

    @classmethod
    def default(cls, taxonomy: Taxonomy | None = None) -> "Classifier":
        return cls(_packaged_model(), taxonomy or Taxonomy.default())

    def classify(
        self,
        description: str,
        *,
        category_hint: str | None = None,
        element_kind: str | None = None,
    ) -> Classification:
        reasons: list[str] = []
        kept, denied = textfeatures.kept_clauses(description)
        if denied:
            reasons.append(f"ignored {denied} clause(s) saying something is fine")
        bonus = self._bonus(category_hint, element_kind, reasons)
        clause_grams = textfeatures.report_ngrams(kept)
        clause_scores = [self._model.scores(grams) for grams in clause_grams]
        total = list(self._model.bias)
        for scores in clause_scores:
            total = [a + b for a, b in zip(total, scores, strict=True)]
        probs = _softmax(total, bonus)
        best = max(range(len(probs)), key=probs.__getitem__)
        labels = self._model.labels
        evidence = "、".join(self._model.evidence(clause_grams, best)) or "none"
        reasons.append(f"text+signals: {labels[best]} p={probs[best]:.2f} (n-grams: {evidence})")

        primary, confidence, secondary = self._problems(kept, clause_scores, bonus, best, probs)
        category = self._taxonomy.get(primary)
        if primary != labels[best]:
            reasons.append(f"two problems: the more severe {primary} {category.zh} leads")
        found = hazards.detect(kept)
        severity = Severity.P1 if found else category.severity
        for name in found:
            reasons.append(f"hazard {name}: severity P1")
        departments = list(category.departments)
        for code in secondary:
            other = self._taxonomy.get(code)
            reasons.append(f"also reported: {code} {other.zh} ({other.lead} co-handles)")
            if other.lead not in departments:
                departments.append(other.lead)
        unsure = confidence < VERIFY_BELOW
        # Caution applies where nothing else makes the report urgent and routed: no hazard, and
        # an ordinary or unsure guess.
        cautious = (
            not found
            and (severity is not Severity.P1 or unsure)
            and self._caution(probs, clause_grams, departments, reasons)
        )
        if cautious:
            severity = Severity.P1
        network = severity is Severity.P1 or len(departments) > 1
        if unsure:
            reasons.append(
                f"confidence {confidence:.2f} < {VERIFY_BELOW}: grid worker verifies (核实)"
            )
            # An unsure guess is not routed across the network, even when the guessed category
            # is urgent; a named hazard or enough weight on urgent categories still is.
            network = bool(found) or cautious
        needs_verification = unsure or cautious
        return Classification(
            category=primary,
            severity=severity,
            network=network,
            departments=tuple(departments),
            confidence=confidence,
            reasons=tuple(reasons),
            needs_verification=needs_verification,
            hazards=found,
            secondary=tuple(secondary),
        )

    def _caution(
        self,
        probs: list[float],
        clause_grams: list[set[str]],
        departments: list[str],
        reasons: list[str],
    ) -> bool:
        """Whether the urgent categories together are likely enough to treat the report as
        urgent; if so the likeliest one's lead department joins, so that the network dispatch
        reaches the owner of the danger, and the grid worker verifies on the spot."""
        urgent = sum(probs[i] for i in self._urgent)
        if urgent < self._caution_above:
            return False
        index = max(self._urgent, key=probs.__getitem__)
        # About a quarter of the categories are urgent, so text that says nothing ("嗯嗯那个啥")
        # leaves them near the threshold by their prior alone: some words must point there.
        evidence = self._model.evidence(clause_grams, index)
        if not evidence:
            return False
        likeliest = self._taxonomy.get(self._model.labels[index])
        reasons.append(
            f"possible {likeliest.code} {likeliest.zh} (n-grams: {'、'.join(evidence)}): urgent "
            f"categories p={urgent:.2f} >= {self._caution_above}: severity P1, grid worker "
            "verifies (核实)"
        )
        if likeliest.lead not in departments:
            departments.append(likeliest.lead)
        return True

    def _bonus(
        self, category_hint: str | None, element_kind: str | None, reasons: list[str]
    ) -> dict[int, float]:
        bonus: dict[int, float] = {}
        if element_kind:
            code = self._taxonomy.category_for_kind(element_kind)
            if code is not None and code in self._index:
                bonus[self._index[code]] = KIND_BONUS
                reasons.append(f"registry kind {element_kind} points to {code}")
        if category_hint:
            code = self._resolve_hint(category_hint)
            if code is None:
                reasons.append(f"category_hint {category_hint!r} unknown, ignored")
            else:
                index = self._index[code]
                bonus[index] = bonus.get(index, 0.0) + self._hint_bonus
                reasons.append(f"category_hint {code} taken as advice")
        return bonus

    def _resolve_hint(self, hint: str) -> str | None:
        hint = hint.strip()
        if hint in self._index:
            return hint
        code = self._names.get(hint) or self._names.get(hint.lower())
        return code if code in self._index else None

    def _problems(
        self,
        kept: list[str],
        clause_scores: list[list[float]],
        bonus: dict[int, float],
        best: int,
        probs: list[float],
    ) -> tuple[str, float, list[str]]:
        """Primary category, its confidence, and further problems named in other clauses."""
        labels = self._model.labels
        if len(kept) < 2:
            return labels[best], probs[best], []
        sure: dict[int, float] = {}
        for clause, scores in zip(kept, clause_scores, strict=True):
            # A hazard clause ("闻到煤气味", "没有漏气") speaks of danger, not of a second object:
            # the hazard rules already act on it, and as a "problem" it would steal the lead.
            if hazards.mentioned(clause):
                continue
            with_bias = [a + b for a, b in zip(scores, self._model.bias, strict=True)]
            clause_probs = _softmax(with_bias, bonus)
            top = max(range(len(clause_probs)), key=clause_probs.__getitem__)
            if clause_probs[top] >= CLAUSE_SURE:
                sure[top] = max(sure.get(top, 0.0), clause_probs[top])
        sure.pop(best, None)
        if not sure:
            return labels[best], probs[best], []
        candidates = {best: probs[best], **sure}
        primary = min(
            candidates,
            key=lambda i: (_SEVERITY_RANK[self._taxonomy.get(labels[i]).severity], -candidates[i]),
        )
        others = [labels[i] for i in sorted(candidates, key=candidates.__getitem__, reverse=True)]
        others.remove(labels[primary])
        return labels[primary], max(candidates[primary], probs[primary]), others


def _softmax(scores: list[float], bonus: dict[int, float]) -> list[float]:
    for index, extra in bonus.items():
        scores[index] += extra
    top = max(scores)
    exps = [math.exp(score - top) for score in scores]
    total = sum(exps)
    return [value / total for value in exps]


def parse_model(raw: dict[str, Any]) -> _Model:
    """The trained model from its JSON form: weights as {ngram: [label, weight, label, ...]}."""
    weights = {
        gram: tuple((int(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2))
        for gram, flat in raw["weights"].items()
    }
    labels = tuple(raw["labels"])
    by_label: tuple[dict[str, float], ...] = tuple({} for _ in labels)
    for gram, entry in weights.items():
        for index, weight in entry:
            by_label[index][gram] = weight
    return _Model(labels, tuple(float(b) for b in raw["bias"]), weights, by_label)


@cache
def _packaged_model() -> _Model:
    path = resources.files("civicgrid.domain").joinpath("data/classifier_model.json")
    return parse_model(json.loads(path.read_text("utf-8")))
