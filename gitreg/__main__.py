from gitreg.cli.console import run

run()
