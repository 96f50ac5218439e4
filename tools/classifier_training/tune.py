"""Choose the head's and the rules' settings on the dev side (`head --tune`).

Dev: the generated corpus's held-out cores (a sample) and one written report in five of the
styled corpus with their variants; neither trains the head that is scored. Every rule is
scored against the same head without it, so each one has to earn its place.
"""

from collections.abc import Sequence

from civicgrid.domain.classifier import Classifier
from civicgrid.domain.embedding import Encoder
from civicgrid.domain.taxonomy import Taxonomy
from tools.classifier_training import corpus, evaluate
from tools.classifier_training.head import Labelled, fit

# Assumed share of right hints: residents pick from a menu and mostly pick the right one.
HINT_RIGHT_SHARE = 0.8


def as_examples(items: Sequence[Labelled]) -> list[corpus.Example]:
    return [corpus.Example(i.text, i.category, i.p1, i.style, (i.id,)) for i in items]


def line(name: str, s: evaluate.Scores) -> str:
    styles = " ".join(f"{k}={v:.3f}" for k, v in s.by_source.items())
    return (
        f"{name}: n={s.n} category={s.accuracy:.3f} severity={s.severity_accuracy:.3f} "
        f"p1_recall={s.p1_recall:.3f} raised={s.raised_rate:.3f} verify={s.verification_rate:.3f}"
        f" | {styles}"
    )


def tune(train: Sequence[Labelled], dev: Sequence[Labelled], encoder: Encoder) -> None:
    taxonomy = Taxonomy.default()
    examples = as_examples(dev)
    print(f"train n={len(train)} dev n={len(dev)}", flush=True)
    heads = {}
    for c in (1.0, 3.0, 10.0, 30.0):
        heads[c] = head = fit(train, encoder, c)
        plain = Classifier(head, taxonomy, encoder, caution_above=1.01, use_hazards=False)
        print(line(f"C={c} head only", evaluate.score(plain, examples)), flush=True)
    head = heads[30.0]
    for hazards_on in (False, True):
        for above in (0.3, 0.4, 0.5, 0.6, 0.7, 1.01):
            classifier = Classifier(
                head, taxonomy, encoder, caution_above=above, use_hazards=hazards_on
            )
            name = f"hazards={'on' if hazards_on else 'off'} caution>={above}"
            print(line(name, evaluate.score(classifier, examples)), flush=True)
    for sure in (0.6, 0.8, 0.9, 1.01):
        classifier = Classifier(head, taxonomy, encoder, second_sure=sure)
        print(line(f"second matter sure>={sure}", evaluate.score(classifier, examples)))
    hinted = corpus.with_hints(examples, seed=1, right_share=HINT_RIGHT_SHARE)
    for bonus in (0.0, 1.0, 2.0, 3.0, 4.0):
        classifier = Classifier(head, taxonomy, encoder, hint_bonus=bonus)
        print(line(f"hint bonus {bonus} (80 % right)", evaluate.score(classifier, hinted)))
