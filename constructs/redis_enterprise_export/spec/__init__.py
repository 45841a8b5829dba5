"""The spec: pure data and validation, no I/O beyond reading the config file."""
