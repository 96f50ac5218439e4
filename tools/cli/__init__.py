"""`python -m tools`: the commands that need the source checkout (the simulated city, the demo,
the classifier's retraining); the installed service's commands are `civicgrid`."""

import click

from tools.cli.city import city_group, simulate_command
from tools.cli.classifier import classifier_group
from tools.cli.demo import demo_command


@click.group()
def cli() -> None:
    """civicgrid's developer tools: the simulated city, the demo and the classifier's
    retraining. They run from the source checkout; the installed service is `civicgrid`."""


for command in (demo_command, city_group, simulate_command, classifier_group):
    cli.add_command(command)
