"""The `civicgrid` command."""

import click

from civicgrid.cli.api import api_command, apikey_group, operator_group
from civicgrid.cli.assess import assess_group
from civicgrid.cli.cases import case_group, cases_command
from civicgrid.cli.classify import classify_command
from civicgrid.cli.households import households_group
from civicgrid.cli.schemas_cmd import schemas_group
from civicgrid.cli.service import migrate_command, run_command, topics_group
from civicgrid.cli.sla import sla_group


@click.group()
@click.version_option(package_name="civicgrid")
def cli() -> None:
    """civicgrid: real-time events for grid-based city governance (网格化社会治理)."""


for command in (
    run_command,
    migrate_command,
    topics_group,
    schemas_group,
    classify_command,
    case_group,
    cases_command,
    sla_group,
    assess_group,
    households_group,
    api_command,
    apikey_group,
    operator_group,
):
    cli.add_command(command)
