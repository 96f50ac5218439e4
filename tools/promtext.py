"""The worker's Prometheus exposition with every civicgrid series present.

A labelled metric exports no sample until some label set is used, so a fresh
process serves only HELP/TYPE lines for most civicgrid metrics. `promtool check
metrics` lints label names only on samples, and dashboards and alert rules name
sample series (`_bucket`, `_total`), so the checks in tests/ops render the
registry with one sample series per labelled metric.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from civicgrid import metrics

SAMPLE_LABEL_VALUE = "sample"


def civicgrid_metrics() -> list[MetricWrapperBase]:
    """Every metric defined in civicgrid.metrics."""
    return [value for value in vars(metrics).values() if isinstance(value, MetricWrapperBase)]


def label_names(metric: MetricWrapperBase) -> tuple[str, ...]:
    """The label names a metric was declared with.

    prometheus-client has no public accessor; `_labelnames` is set in the base
    class constructor of every metric type.
    """
    return tuple(metric._labelnames)


@contextmanager
def sample_series() -> Iterator[None]:
    """Give every labelled civicgrid metric one series for the block, then remove it.

    Values are not touched (a new child starts at zero), so the global registry is as
    before once the block ends.
    """
    created: list[tuple[MetricWrapperBase, tuple[str, ...]]] = []
    try:
        for metric in civicgrid_metrics():
            names = label_names(metric)
            if names:
                values = (SAMPLE_LABEL_VALUE,) * len(names)
                metric.labels(*values)
                created.append((metric, values))
        yield
    finally:
        for metric, values in created:
            metric.remove(*values)


def sample_exposition() -> str:
    """The text format (0.0.4) the worker's /metrics serves, every civicgrid series present."""
    with sample_series():
        return generate_latest(REGISTRY).decode()


def series_names(exposition: str) -> set[str]:
    """Names of the sample series in an exposition (`x_total`, `x_bucket`, `x_info`, ...)."""
    return {
        sample.name
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


# Pieces of PromQL that hold no metric names: string literals, label matchers,
# range and subquery brackets (also Grafana's `[$__rate_interval]`) and grouping clauses.
_PROMQL_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_PROMQL_NOT_NAMES = re.compile(
    r"\{[^}]*\}|\[[^\]]*\]|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
)
# An identifier not glued to a number (`1e3`, `5m`) or a variable.
_PROMQL_IDENTIFIER = re.compile(r"(?<![\w.$])[A-Za-z_:][\w:]*")
_PROMQL_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (function names and keywords left out)."""
    text = _PROMQL_NOT_NAMES.sub(" ", _PROMQL_STRINGS.sub('""', expr))
    names = set()
    for match in _PROMQL_IDENTIFIER.finditer(text):
        is_call = text[match.end() :].lstrip().startswith("(")
        if not is_call and match.group().lower() not in _PROMQL_KEYWORDS:
            names.add(match.group())
    return names
