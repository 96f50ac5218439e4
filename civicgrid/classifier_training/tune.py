"""`python -m civicgrid.classifier_training.tune`: choose HINT_BONUS and CAUTION_ABOVE on the
dev split.

Trains on the training side minus its dev split, then scores the dev split with hints that are
right HINT_RIGHT_SHARE of the time for each candidate bonus. The caution threshold is chosen
on a second model, fitted without one object word in five (corpus.unseen_word_split) and
scored on the reports naming those words, with and without such hints. Neither the held-out
split nor the independent sets (handwritten, simulator) take part, so their numbers stay honest.
"""

from civicgrid.classifier_training import corpus, evaluate, train
from civicgrid.domain.classifier import Classifier, parse_model
from civicgrid.domain.taxonomy import Taxonomy

# Assumed share of right hints: residents pick from a menu of ~30 categories and mostly
# pick the right one. A lower share argues for a smaller bonus.
HINT_RIGHT_SHARE = 0.8
CANDIDATES = (0.0, 1.5, 3.0, 4.0, 5.0, 6.0, 8.0)
CAUTION_CANDIDATES = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 1.01)
# An urgent report routed as ordinary is taken to cost this many needless urgent dispatches
# (a gas leak left for a day against a grid worker's wasted check). The chosen threshold
# minimises MISS_COST * missed P1 + non-P1 raised to P1.
MISS_COST = 10


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
    fit, dev = corpus.unseen_word_split(corpus.split(corpus.build())[0])
    model = parse_model(train.train(fit))
    pooled = dev + corpus.with_hints(dev, seed=1, right_share=HINT_RIGHT_SHARE)
    p1 = sum(example.p1 for example in pooled)
    costs = {}
    for above in CAUTION_CANDIDATES:
        scores = evaluate.score(Classifier(model, Taxonomy.default(), caution_above=above), pooled)
        missed = round((1 - scores.p1_recall) * p1)
        raised = round(scores.raised_rate * (len(pooled) - p1))
        costs[above] = MISS_COST * missed + raised
        print(
            f"unseen-word dev n={len(dev)}, caution above {above:>4}: "
            f"p1_recall={scores.p1_recall:.4f} missed={missed} "
            f"non-P1 raised={raised} ({scores.raised_rate:.3f}) cost={costs[above]}"
        )
    # On a tie the higher threshold: fewer reports bothering the network for nothing.
    best = min(costs, key=lambda above: (costs[above], -above))
    print(f"caution threshold with the least cost: {best}")


if __name__ == "__main__":
    main()
