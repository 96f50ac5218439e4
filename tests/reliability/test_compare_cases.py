"""Matching two runs' cases by the reports they hold, not by their per-grid ids."""

from collections import Counter

from tools.faults import CaseContent, Tally, compare_cases

OPEN = CaseContent("dispatched", "grid", "litter", "low", 1, False, ())
ESCALATED = CaseContent("dispatched", "district", "litter", "low", 1, True, ("repeat",))


def tally(cases: dict[frozenset[str], CaseContent]) -> Tally:
    return Tally(0, 0, 0, 0, 0, 0, 0, 0, Counter(), cases)


def test_cases_are_matched_by_their_reports_whatever_their_ids() -> None:
    first = tally({frozenset({"a", "b"}): OPEN, frozenset({"c"}): OPEN})
    second = tally({frozenset({"c"}): OPEN, frozenset({"b", "a"}): OPEN})
    found = compare_cases(first, second)
    assert (found.same, found.differing, found.regrouped) == (2, 0, 0)


def test_same_reports_with_other_content_and_other_groupings_are_told_apart() -> None:
    first = tally({frozenset({"a", "b"}): OPEN, frozenset({"c"}): OPEN, frozenset({"d"}): OPEN})
    # a and b in one case, escalated here; c and d joined one case instead of two
    second = tally({frozenset({"a", "b"}): ESCALATED, frozenset({"c", "d"}): OPEN})
    found = compare_cases(first, second)
    assert (found.same, found.differing, found.only_first, found.only_second) == (0, 1, 2, 1)
    assert found.fields == Counter({"level": 1, "network": 1, "escalation_reasons": 1})
