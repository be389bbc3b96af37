"""`python -m harvester`."""

from harvester.cli import main

main()
