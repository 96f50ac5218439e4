"""Scores a classifier on labelled sets and writes benchmarks/results/classifier.md.

It goes through Classifier.classify, the same path as the CLI and the pipeline, so the numbers
include clause handling, two-problem logic and the hazard rules, not just the linear model.
"""

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from civicgrid.domain.classifier import Classifier
from civicgrid.domain.taxonomy import Taxonomy
from civicgrid.schemas.enums import Severity
from tools.classifier_training.corpus import Example

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


@dataclass(frozen=True, slots=True)
class Scores:
    n: int
    accuracy: float
    macro_f1: float
    p1_recall: float
    p1_precision: float
    raised_rate: float
    """Share of the non-P1 reports given severity P1 (by a hazard rule or by caution): the
    price of P1 recall, paid in needless urgent dispatches."""
    verification_rate: float
    by_source: dict[str, float]
    confusion: dict[tuple[str, str], int]
    severity_accuracy: float = 0.0
    by_category: dict[str, float] = field(default_factory=dict)
    p1_recall_by_source: dict[str, float] = field(default_factory=dict)
    raised_by_source: dict[str, float] = field(default_factory=dict)


def score(classifier: Classifier, examples: list[Example]) -> Scores:
    confusion: Counter[tuple[str, str]] = Counter()
    right_by_source: Counter[str] = Counter()
    total_by_source: Counter[str] = Counter()
    p1_hit = p1_true = p1_said = raised = verify = severity_right = 0
    # per style: [P1 reports, P1 said P1, other reports, others raised to P1]
    urgent_by_source: dict[str, list[int]] = {}
    severity = {category.code: category.severity for category in Taxonomy.default()}
    # one batch for the encoder, then each report on its own vectors
    vectors = classifier.embed([example.text for example in examples])
    for example, rows in zip(examples, vectors, strict=True):
        result = classifier.classify(example.text, category_hint=example.hint, vectors=rows)
        expected = example.severity or (Severity.P1 if example.p1 else severity[example.category])
        severity_right += result.severity is expected
        confusion[(example.category, result.category)] += 1
        source = example.source.split("+")[0]
        total_by_source[source] += 1
        right_by_source[source] += result.category == example.category
        said_p1 = result.severity is Severity.P1
        p1_true += example.p1
        p1_said += said_p1
        p1_hit += example.p1 and said_p1
        raised += said_p1 and not example.p1
        counts = urgent_by_source.setdefault(source, [0, 0, 0, 0])
        counts[0 if example.p1 else 2] += 1
        counts[1 if example.p1 else 3] += said_p1
        verify += result.needs_verification
    n = len(examples)
    return Scores(
        n=n,
        accuracy=sum(c for (t, p), c in confusion.items() if t == p) / n,
        macro_f1=_macro_f1(confusion),
        p1_recall=p1_hit / p1_true if p1_true else 1.0,
        p1_precision=p1_hit / p1_said if p1_said else 1.0,
        raised_rate=raised / (n - p1_true) if n > p1_true else 0.0,
        verification_rate=verify / n,
        by_source={s: right_by_source[s] / total_by_source[s] for s in sorted(total_by_source)},
        confusion=dict(confusion),
        severity_accuracy=severity_right / n,
        by_category={
            code: confusion[(code, code)] / sum(c for (t, _), c in confusion.items() if t == code)
            for code in sorted({t for t, _ in confusion})
        },
        p1_recall_by_source={s: c[1] / c[0] for s, c in sorted(urgent_by_source.items()) if c[0]},
        raised_by_source={s: c[3] / c[2] for s, c in sorted(urgent_by_source.items()) if c[2]},
    )


def _macro_f1(confusion: Counter[tuple[str, str]]) -> float:
    labels = sorted({t for t, _ in confusion} | {p for _, p in confusion})
    f1s = []
    for label in labels:
        tp = confusion[(label, label)]
        fp = sum(c for (t, p), c in confusion.items() if p == label and t != label)
        fn = sum(c for (t, p), c in confusion.items() if t == label and p != label)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / len(f1s)


def independent_set(path: Path) -> list[Example]:
    """The independent evaluation set: JSON lines with text, category, severity and style,
    written apart from the generator and the training corpus; never trained or tuned on."""
    out = []
    for line in path.read_text("utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        severity = Severity(row["severity"]) if row.get("severity") else None
        out.append(
            Example(
                row["text"],
                row["category"],
                severity is Severity.P1,
                str(row.get("style", "unknown")),
                (str(row.get("id", "")),),
                hint=row.get("category_hint"),
                severity=severity,
            )
        )
    return out


def write_report(
    columns: dict[str, Scores], notes: list[str], confusion_of: str | tuple[str, ...]
) -> None:
    """`columns`: set name -> scores; a confusion picture is drawn for each set of
    `confusion_of` (the first as classifier_confusion.png, the others with their name)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    drawn = (confusion_of,) if isinstance(confusion_of, str) else confusion_of
    if not drawn:
        drawn = (next(iter(columns)),)
    pngs = {
        name: "classifier_confusion.png" if number == 0 else f"classifier_confusion_{name}.png"
        for number, name in enumerate(drawn)
    }
    for name, png in pngs.items():
        _confusion_png(columns[name].confusion, RESULTS / png, name)

    def row(metric: str, value: Callable[[Scores], float], target: str = "") -> str:
        cells = " | ".join(f"{value(scores):.3f}" for scores in columns.values())
        return f"| {metric} | {cells} | {target} |"

    sizes = ", ".join(f"{name} {scores.n}" for name, scores in columns.items())
    styles = sorted({style for scores in columns.values() for style in scores.by_source})
    categories = sorted({code for scores in columns.values() for code in scores.by_category})

    def cell(table: dict[str, float], key: str) -> str:
        return f"{table[key]:.3f}" if key in table else ""

    lines = [
        "# Report classifier — evaluation",
        "",
        "Written by `python -m tools.classifier_training` (`make eval`).",
        f"Reports: {sizes}.",
        "",
        *notes,
        "",
        f"| metric | {' | '.join(columns)} | target (independent, fresh) |",
        f"|---|{'---|' * len(columns)}---|",
        row("category accuracy", lambda s: s.accuracy, ">= 0.92"),
        row("severity accuracy", lambda s: s.severity_accuracy, ">= 0.92"),
        row("macro-F1", lambda s: s.macro_f1),
        row("P1 recall", lambda s: s.p1_recall, "1.000"),
        row("P1 precision", lambda s: s.p1_precision),
        row("non-P1 reports raised to P1", lambda s: s.raised_rate, "<= 0.08"),
        row("marked for verification (核实)", lambda s: s.verification_rate),
        "",
        "Category accuracy by style (or by how the report was made):",
        "",
        f"| style | {' | '.join(columns)} |",
        f"|---|{'---|' * len(columns)}",
        *(
            f"| {style} | {' | '.join(cell(s.by_source, style) for s in columns.values())} |"
            for style in styles
        ),
        "",
        "P1 recall / non-P1 raised to P1, by style:",
        "",
        f"| style | {' | '.join(columns)} |",
        f"|---|{'---|' * len(columns)}",
        *(
            f"| {style} | "
            + " | ".join(
                f"{cell(s.p1_recall_by_source, style)} / {cell(s.raised_by_source, style)}"
                if style in s.by_source
                else ""
                for s in columns.values()
            )
            + " |"
            for style in styles
        ),
        "",
        "Category accuracy by true category:",
        "",
        f"| category | {' | '.join(columns)} |",
        f"|---|{'---|' * len(columns)}",
        *(
            f"| {code} | {' | '.join(cell(s.by_category, code) for s in columns.values())} |"
            for code in categories
        ),
        "",
        "Confusion matrices: " + ", ".join(f"{name} `{png}`" for name, png in pngs.items()) + ".",
        "",
    ]
    (RESULTS / "classifier.md").write_text("\n".join(lines), "utf-8")


def _confusion_png(confusion: dict[tuple[str, str], int], path: Path, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = sorted({t for t, _ in confusion} | {p for _, p in confusion})
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)))
    for (truth, predicted), count in confusion.items():
        matrix[index[truth], index[predicted]] = count
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure, axes = plt.subplots(figsize=(11, 10))
    image = axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    axes.set_yticks(range(len(labels)), labels, fontsize=7)
    axes.set_xlabel("predicted category")
    axes.set_ylabel("true category")
    axes.set_title(f"{name}: confusion (row-normalised)")
    figure.colorbar(image, ax=axes, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
