"""The `switchboard` command line: serve, check-config, keys, usage."""

from switchboard.cli.main import main

__all__ = ["main"]
