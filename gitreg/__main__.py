import sys

try:
    from gitreg.cli.console import run
except KeyboardInterrupt:  # Ctrl-C before the console's handler is in place (issue 13)
    sys.stderr.write("gitreg: interrupted; nothing was changed\n")
    sys.exit(130)

run()
