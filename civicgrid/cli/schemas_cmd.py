"""`civicgrid schemas ...`: the contract as files for app teams."""

from pathlib import Path

import click

from civicgrid.schemas.export import export_json_schemas


@click.group("schemas")
def schemas_group() -> None:
    """The topic contract (SPEC §2) as JSON Schema."""


@schemas_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export_command(directory: Path) -> None:
    """Write one <topic>.schema.json per topic into DIRECTORY."""
    for path in export_json_schemas(directory):
        click.echo(str(path))
