"""A small simulated town (one community, 1,500 households; the evaluation's towns are ten
times larger) scored through the household rules: a regression guard for rules and town,
on a seed used neither for tuning nor for the reported figures."""

from civicgrid.domain.households import FindingKind, reconcile, thresholds_for
from evaluation.households.town import AS_OF, OBSERVED_SINCE, build_town


def test_the_rules_find_what_was_planted_in_a_small_town() -> None:
    town = build_town(7, communities=1, households=1_500)
    sightings = {code: [o.sighting for o in seen] for code, seen in town.sightings.items()}
    findings = reconcile(
        town.residents, sightings, town.places, AS_OF, thresholds_for("泰州市"), OBSERVED_SINCE
    )
    found = {f.key for f in findings}
    truth = set(town.truth)
    for kind in (FindingKind.LIVING_APART, FindingKind.UNREGISTERED, FindingKind.NOT_DEREGISTERED):
        planted = {key for key in truth if key[0] is kind}
        got = {key for key in found if key[0] is kind}
        assert len(planted) >= 10, kind
        assert len(planted & got) >= 0.8 * len(planted), kind
        assert len(planted & got) >= 0.85 * len(got), kind
    # the truth is the town's, not the rules': no finding names a person the town never made
    assert {subject for _, subject in found} <= town.residents.keys() | town.sightings.keys() | set(
        town.grid_of_household
    )
