"""Command-line front-end: one module per subcommand, each with `add_parser` and `run`."""
