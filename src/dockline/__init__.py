"""dockline: Docker-style container networking for Linux, daemonless (see README.md)."""

__version__ = "0.1.0"  # the one definition: pyproject.toml reads it from here
