from civicgrid.cli.main import cli

cli()
