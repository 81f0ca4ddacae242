"""The command line: the only place that imports typer and prints.

Kept empty so that ``gitreg.cli.console`` (the console script) starts without typer.
"""
