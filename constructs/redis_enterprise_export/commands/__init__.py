"""The helper's subcommands: each takes the parsed arguments and the environment, and
returns an exit code. Parsing lives in ``cli``."""
