"""``python -m riskops``: the command line, for when the ``riskops`` script is not on the PATH
(the drift demo starts its server this way, with the interpreter that runs it)."""

from riskops.cli.app import main

main()
