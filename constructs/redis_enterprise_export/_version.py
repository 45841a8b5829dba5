"""The package's version: the one place pyproject.toml, --version and the User-Agent read it."""

__version__ = "0.1.0"
