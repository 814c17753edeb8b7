"""The ``hotspot`` command line: one subcommand per area of the project."""
