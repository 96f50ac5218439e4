from tools.cli import cli

cli(prog_name="python -m tools")
