"""The second city's reports are reproducible, cover the taxonomy and keep test phrasings apart."""

from civicgrid.domain.taxonomy import Taxonomy
from evaluation.classifier.second_city import generate, phrasings


def test_the_same_seed_gives_the_same_reports_and_another_seed_others() -> None:
    assert generate("corrections", 200, seed=3) == generate("corrections", 200, seed=3)
    assert generate("corrections", 200, seed=3) != generate("corrections", 200, seed=4)


def test_both_sides_cover_every_category_with_default_severities() -> None:
    taxonomy = Taxonomy.default()
    codes = {category.code for category in taxonomy}
    for split, count in (("corrections", 3000), ("test", 500)):
        reports = generate(split, count, seed=0)
        assert len({report.text for report in reports}) == count
        assert {report.category for report in reports} == codes
        for report in reports:
            assert report.severity == taxonomy.get(report.category).severity.value


def test_no_correction_says_what_is_wrong_in_the_words_of_a_test_phrasing() -> None:
    taught = phrasings("corrections")
    held_out = phrasings("test")
    for code in taught:
        assert len({p.core for p in taught[code]}) >= 40, code
        assert len({p.core for p in held_out[code]}) >= 8, code
        assert not {p.predicate for p in taught[code]} & {p.predicate for p in held_out[code]}
    for report in generate("corrections", 3000, seed=0):
        wordings = {
            part
            for p in held_out[report.category]
            for part in p.predicate.split("{x}")
            if len(part) >= 4
        }
        assert not any(wording in report.text for wording in wordings), report.text
