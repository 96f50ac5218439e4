"""`python -m civicgrid.classifier_training.tune`: choose HINT_BONUS on the dev split.

Trains on the training side minus its dev split, then scores the dev split with hints that are
right HINT_RIGHT_SHARE of the time for each candidate bonus. Neither the held-out split nor
the independent sets (handwritten, simulator) take part, so their numbers stay honest.
"""

from civicgrid.classifier_training import corpus, evaluate, train
from civicgrid.domain.classifier import Classifier, parse_model
from civicgrid.domain.taxonomy import Taxonomy

# Assumed share of right hints: residents pick from a menu of ~30 categories and mostly
# pick the right one. A lower share argues for a smaller bonus.
HINT_RIGHT_SHARE = 0.8
CANDIDATES = (0.0, 1.5, 3.0, 4.0, 5.0, 6.0, 8.0)


def main() -> None:
    fit, dev = corpus.dev_split(corpus.split(corpus.build())[0])
    model = parse_model(train.train(fit))
    hinted = corpus.with_hints(dev, seed=1, right_share=HINT_RIGHT_SHARE)
    text_only = evaluate.score(Classifier(model, Taxonomy.default()), dev)
    print(f"dev n={len(dev)} text only: accuracy={text_only.accuracy:.3f}")
    for bonus in CANDIDATES:
        scores = evaluate.score(Classifier(model, Taxonomy.default(), bonus), hinted)
        print(
            f"hint bonus {bonus:>4}: accuracy={scores.accuracy:.3f} "
            f"macro_f1={scores.macro_f1:.3f} p1_recall={scores.p1_recall:.3f}"
        )


if __name__ == "__main__":
    main()
