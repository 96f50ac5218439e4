"""Report classification: category, severity, owners, confidence and the reasons for each.

The text is read by a sentence encoder (multilingual-e5-small, `embedding.py`) and a linear
softmax head trained by tools.classifier_training and shipped as a versioned model file
(`data/classifier_head.npz`, with the fingerprint of its training data). The vectors are
computed by the caller's shell (the encoder is the expensive part) and passed in; without them
the classifier encodes itself, for the CLI and the tools. In logit space the registry kind of
the scanned code and the reporter's category hint are added as signals; hazard rules then raise
severity whatever the category.
"""

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from civicgrid.domain import hazards, textfeatures
from civicgrid.domain.embedding import Encoder, Matrix
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.schemas.enums import Severity

# The scanned code names the thing the resident stands at, so it outweighs everything but a
# clear text. The hint is the category the resident picked from the app's menu: advice, so it
# wins unless the text favours another category by more than the bonus in logits. On the dev
# split with hints right 80 % of the time (classifier_training.head --tune, a C=10 head):
# bonus 0 -> 0.855, 1 -> 0.906, 2 -> 0.930, 3 -> 0.926, 4 -> 0.910.
KIND_BONUS = 3.0
HINT_BONUS = 2.0
# Below this probability the grid worker verifies (核实) before any department is bothered.
VERIFY_BELOW = 0.5
# A later segment ("另外 ...") must be this sure of another category to count as a second
# matter: its owner co-handles and its severity counts. Dev (classifier_training.head --tune,
# final head): never -> severity 0.929, P1 recall 0.951; 0.8 -> 0.944 / 0.972; 0.6 -> 0.945 /
# 0.976 (category 0.884 throughout); the bar stays high: only a confident clause adds a matter.
SECOND_SURE = 0.8
# Caution: when the urgent (P1) categories together hold at least this probability, the report
# is treated as urgent and verified, whatever the single best guess. Dev, with the hazard
# rules: off -> P1 recall 0.962, non-P1 raised 0.037; 0.4 -> 0.968 / 0.041; 0.3 -> 0.972 /
# 0.056; 0.25 -> 0.972 / 0.071. A missed urgent report is taken to cost ten needless checks.
CAUTION_ABOVE = 0.3
# A fragment ("有人在楼", "有几") names no danger: too short a text is verified, never raised.
CAUTION_MIN_CHARS = 6
NEAREST = 3

_SEVERITY_RANK = {Severity.P1: 0, Severity.P2: 1, Severity.P3: 2}
# Where residents add another matter: the connectives, not every comma (a comma splits one
# matter's clauses, and a fragment such as "有几" must not become a problem of its own).
_SECOND = re.compile(
    r"另外|还有就是|还有个|还有一个|还有|顺便说一下|顺便说下|顺便|再一个|再就是|对了"
)
MODEL_FILE = "data/classifier_head.npz"
Neighbour = tuple[str, str, float]  # a labelled example's id, its category, the similarity


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
class Encoded:
    """What `classify` needs from the encoder for one report, made by `Classifier.encode`:
    the vectors of `Classifier.texts` and the nearest labelled examples of the leading one."""

    vectors: Matrix
    nearest: tuple[Neighbour, ...]


@dataclass(frozen=True, slots=True)
class Head:
    """The linear head over sentence vectors, and the labelled examples it was trained on
    (their vectors, to name the nearest ones in the reasons)."""

    labels: tuple[str, ...]
    weights: Matrix  # labels x dim
    bias: Matrix  # labels
    example_ids: tuple[str, ...]
    example_labels: np.ndarray  # index into labels, per example
    example_vectors: Matrix  # examples x dim
    meta: dict[str, Any]
    # The head trained on the corpus alone, over the same labels, kept unchanged when a city's
    # corrections retrain the head (retrain.py): caution reads the urgent categories' weight
    # from both, so corrections that sharpen ordinary categories cannot switch caution off.
    urgency_weights: Matrix | None = None
    urgency_bias: Matrix | None = None

    @property
    def version(self) -> str:
        return f"{self.meta.get('version')}/{self.meta.get('trained_on')}"

    def logits(self, vectors: Matrix) -> Matrix:
        out: Matrix = vectors @ self.weights.T + self.bias
        return out

    def urgency_probs(self, vector: Matrix) -> list[float] | None:
        if self.urgency_weights is None or self.urgency_bias is None:
            return None
        return _softmax(vector @ self.urgency_weights.T + self.urgency_bias, {})

    def nearest(self, vector: Matrix, k: int = NEAREST) -> list[Neighbour]:
        if not len(self.example_ids):
            return []
        similarity = self.example_vectors @ vector
        top = np.argpartition(-similarity, min(k, len(similarity) - 1))[:k]
        top = top[np.argsort(-similarity[top])]
        return [
            (self.example_ids[i], self.labels[int(self.example_labels[i])], float(similarity[i]))
            for i in top
        ]

    def nearest_many(self, vectors: Matrix, k: int = NEAREST) -> list[list[Neighbour]]:
        """`nearest` of each row. One product per row, not one for the batch: a matrix product
        rounds the last bit otherwise than a matrix-vector one, which reordered the tied
        neighbours of 5 in 1,285 reports (an example and its variant with the same vector);
        with numpy's BLAS on one thread a row costs ~50 us against ~40 ms to encode it."""
        return [self.nearest(vector, k) for vector in vectors]


def load_head(path: Path | Any) -> Head:
    """A head from its .npz file (a path or an importlib resource)."""
    with path.open("rb") as handle, np.load(handle, allow_pickle=False) as stored:
        meta = json.loads(str(stored["meta"]))
        return Head(
            labels=tuple(meta["labels"]),
            weights=stored["weights"].astype(np.float32),
            bias=stored["bias"].astype(np.float32),
            example_ids=tuple(str(i) for i in stored["example_ids"]),
            example_labels=stored["example_labels"].astype(np.int64),
            example_vectors=stored["example_vectors"].astype(np.float32),
            meta=meta,
            urgency_weights=_optional(stored, "urgency_weights"),
            urgency_bias=_optional(stored, "urgency_bias"),
        )


def _optional(stored: Any, name: str) -> Matrix | None:
    return stored[name].astype(np.float32) if name in stored else None


@cache
def packaged_head() -> Head:
    return load_head(resources.files("civicgrid.domain").joinpath(MODEL_FILE))


def main_text(description: str) -> str:
    """What the encoder reads for the report as a whole: the text without the clauses that only
    say something is fine ("井盖没事"), whose object is not the problem."""
    kept, denied = textfeatures.kept_clauses(description)
    return "，".join(kept) if denied else description.strip()


def segments(description: str) -> list[str]:
    """The report cut where a resident adds another matter (另外, 还有, 顺便 ...)."""
    parts = [part.strip("，,。.；;！!？? ") for part in _SECOND.split(description)]
    return [part for part in parts if len(part) >= 2]


class Classifier:
    def __init__(
        self,
        head: Head,
        taxonomy: Taxonomy,
        encoder: Encoder | None = None,
        *,
        hint_bonus: float = HINT_BONUS,
        caution_above: float = CAUTION_ABOVE,
        second_sure: float = SECOND_SURE,
        use_hazards: bool = True,
    ) -> None:
        missing = [code for code in head.labels if code not in taxonomy]
        if missing:
            raise ValueError(f"model labels {missing} are not in the taxonomy")
        self.head = head
        self.encoder = encoder
        self._taxonomy = taxonomy
        self._hint_bonus = hint_bonus
        self._caution_above = caution_above
        self._second_sure = second_sure
        self._use_hazards = use_hazards
        self._index = {code: i for i, code in enumerate(head.labels)}
        # From the taxonomy the classifier was given, so a city's severity overrides count.
        self._urgent = tuple(
            i for i, code in enumerate(head.labels) if taxonomy.get(code).severity is Severity.P1
        )
        self._names = {category.zh: category.code for category in taxonomy}
        self._names.update({category.en.lower(): category.code for category in taxonomy})

    @classmethod
    def default(cls, taxonomy: Taxonomy | None = None, model: Path | None = None) -> "Classifier":
        """The packaged head (or the model file at `model`) with the default encoder."""
        from civicgrid.domain.embedding import E5Encoder, limit_blas_threads

        limit_blas_threads(1)  # its products are small: more threads only spin (embedding.py)
        head = packaged_head() if model is None else load_head(model)
        return cls(head, taxonomy or Taxonomy.default(), E5Encoder())

    @staticmethod
    def texts(description: str) -> list[str]:
        """The texts whose vectors `classify` needs, in order: the report, then each segment
        (without its denials) when the report adds another matter."""
        parts = segments(description)
        return [main_text(description), *(map(main_text, parts) if len(parts) > 1 else [])]

    def embed(self, descriptions: Sequence[str]) -> list[Matrix]:
        """Vectors for each description, encoded in one batch."""
        if self.encoder is None:
            raise ValueError("this classifier has no encoder: pass the vectors")
        wanted = [self.texts(description) for description in descriptions]
        flat = self.encoder.embed([text for texts in wanted for text in texts])
        out: list[Matrix] = []
        start = 0
        for texts in wanted:
            out.append(flat[start : start + len(texts)])
            start += len(texts)
        return out

    def encode(self, descriptions: Sequence[str]) -> list[Encoded]:
        """Everything `classify` computes from vectors, for a batch: the texts' vectors in one
        encoder call (each report's segments with it) and every report's nearest labelled
        examples (`Head.nearest_many`). This is the classifier's whole cost; the pipeline's
        shell runs it in its encoder threads, off the event loop."""
        vectors = self.embed(descriptions)
        if not vectors:
            return []
        leads = np.stack([rows[_lead(len(rows))] for rows in vectors])
        nearest = self.head.nearest_many(leads)
        return [Encoded(rows, tuple(near)) for rows, near in zip(vectors, nearest, strict=True)]

    def classify(
        self,
        description: str,
        *,
        category_hint: str | None = None,
        element_kind: str | None = None,
        vectors: Matrix | None = None,
        nearest: Sequence[Neighbour] | None = None,
    ) -> Classification:
        """`vectors` (and `nearest`): from `encode`; without them the report is encoded here.
        Given vectors without their nearest examples, the search is made here."""
        if vectors is None:
            (encoded,) = self.encode([description])
            vectors, nearest = encoded.vectors, encoded.nearest
        reasons: list[str] = []
        kept, denied = textfeatures.kept_clauses(description)
        if denied:
            reasons.append(f"ignored {denied} clause(s) saying something is fine")
        bonus = self._bonus(category_hint, element_kind, reasons)
        logits = self.head.logits(vectors)
        # The first matter a resident names is the one they call about; the added ones follow
        # a connective. Dev: the report's category from its first segment 0.884, from the
        # whole text 0.865 (the "second" style 0.881 against 0.754).
        lead = _lead(len(logits))
        probs = _softmax(logits[lead], bonus)
        best = max(range(len(probs)), key=probs.__getitem__)
        labels = self.head.labels
        reasons.append(f"text: {labels[best]} p={probs[best]:.2f} (head {self.head.version})")
        near = self.head.nearest(vectors[lead]) if nearest is None else nearest
        if near:
            reasons.append(
                "nearest labelled: " + ", ".join(f"{i} {code} {s:.2f}" for i, code, s in near)
            )
        primary, confidence = labels[best], probs[best]
        secondary = self._second_matters(description, logits, best)
        category = self._taxonomy.get(primary)
        found = hazards.detect(kept) if self._use_hazards else ()
        # The first matter leads (dev: 0.884 against 0.868 when the more severe one led);
        # a confident second matter still makes the report as urgent as itself.
        severity = min(
            (category.severity, *(self._taxonomy.get(code).severity for code in secondary)),
            key=_SEVERITY_RANK.__getitem__,
        )
        if found:
            severity = Severity.P1
        for name in found:
            reasons.append(f"hazard {name}: severity P1")
        departments = list(category.departments)
        for code in secondary:
            other = self._taxonomy.get(code)
            reasons.append(f"also reported: {code} {other.zh} ({other.lead} co-handles)")
            if other.lead not in departments:
                departments.append(other.lead)
        unsure = confidence < VERIFY_BELOW
        cautious = (
            not found
            and (severity is not Severity.P1 or unsure)
            and len(main_text(description)) >= CAUTION_MIN_CHARS
            and self._caution(probs, self.head.urgency_probs(vectors[lead]), departments, reasons)
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
        return Classification(
            category=primary,
            severity=severity,
            network=network,
            departments=tuple(departments),
            confidence=confidence,
            reasons=tuple(reasons),
            needs_verification=unsure or cautious,
            hazards=found,
            secondary=tuple(secondary),
        )

    def _caution(
        self,
        probs: list[float],
        corpus_probs: list[float] | None,
        departments: list[str],
        reasons: list[str],
    ) -> bool:
        """Whether the urgent categories together are likely enough to treat the report as
        urgent; if so the likeliest one's lead department joins, so that the network dispatch
        reaches the owner of the danger, and the grid worker verifies on the spot. The weight
        is the larger of the head's and the corpus head's (`Head.urgency_probs`)."""
        urgent = sum(probs[i] for i in self._urgent)
        source = ""
        if corpus_probs is not None:
            corpus_urgent = sum(corpus_probs[i] for i in self._urgent)
            if corpus_urgent > urgent + 1e-6:
                urgent, probs, source = corpus_urgent, corpus_probs, " (corpus head)"
        if urgent < self._caution_above:
            return False
        index = max(self._urgent, key=probs.__getitem__)
        likeliest = self._taxonomy.get(self.head.labels[index])
        reasons.append(
            f"possible {likeliest.code} {likeliest.zh} p={probs[index]:.2f}: urgent categories "
            f"p={urgent:.2f}{source} >= {self._caution_above}: "
            "severity P1, grid worker verifies (核实)"
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

    def _second_matters(self, description: str, logits: Matrix, best: int) -> list[str]:
        """Other categories that later segments are each sure of on their own."""
        parts = segments(description)
        if len(parts) < 2 or len(logits) < 2:
            return []
        sure: dict[int, float] = {}
        for part, row in zip(parts, logits[1:], strict=False):
            # A hazard segment ("闻到煤气味") speaks of danger, not of a second object: the
            # hazard rules act on it; a denial ("井盖没事") names no matter at all.
            clauses = textfeatures.clauses(part)
            if hazards.mentioned(part) or all(map(textfeatures.is_denial, clauses)):
                continue
            part_probs = _softmax(row, {})
            top = max(range(len(part_probs)), key=part_probs.__getitem__)
            if part_probs[top] >= self._second_sure:
                sure[top] = max(sure.get(top, 0.0), part_probs[top])
        sure.pop(best, None)
        return [self.head.labels[i] for i in sorted(sure, key=sure.__getitem__, reverse=True)]


def _lead(texts: int) -> int:
    """The row of the report's leading matter: its first segment when it has several (the
    report as a whole is row 0, its segments follow)."""
    return 1 if texts > 1 else 0


def _softmax(row: Matrix, bonus: dict[int, float]) -> list[float]:
    scores = [float(value) for value in row]
    for index, extra in bonus.items():
        scores[index] += extra
    top = max(scores)
    exps = [math.exp(score - top) for score in scores]
    total = sum(exps)
    return [value / total for value in exps]


class ConstantClassifier(Classifier):
    """BENCHMARK ONLY (CIVICGRID_BENCH_CONSTANT_CLASSIFIER): every report gets the taxonomy's
    first category, with no encoder run, so `make bench` can show the classifier's price apart
    from the rest of the pipeline's. Never a production setting: it routes nothing right."""

    def embed(self, descriptions: Sequence[str]) -> list[Matrix]:
        return [np.zeros((1, 1), dtype=np.float32) for _ in descriptions]

    def encode(self, descriptions: Sequence[str]) -> list[Encoded]:
        return [Encoded(vectors, ()) for vectors in self.embed(descriptions)]

    def classify(
        self,
        description: str,
        *,
        category_hint: str | None = None,
        element_kind: str | None = None,
        vectors: Matrix | None = None,
        nearest: Sequence[Neighbour] | None = None,
    ) -> Classification:
        category = next(iter(self._taxonomy))
        return Classification(
            category=category.code,
            severity=category.severity,
            network=False,
            departments=tuple(category.departments),
            confidence=1.0,
            reasons=("benchmark: constant classifier",),
            needs_verification=False,
            hazards=(),
        )
