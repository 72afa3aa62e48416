"""``python -m libdib`` runs the command line."""

from libdib.entrypoints.cli import main

main()
