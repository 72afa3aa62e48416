"""The ways in: the HTTP app and the command line."""
