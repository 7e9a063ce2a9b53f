"""Random identifiers and names, from os.urandom.

`secrets` would do, but importing it pulls in hmac and OpenSSL's hashlib (several ms of CLI
start-up) for what is one urandom call.
"""

from __future__ import annotations

import os


def new_id() -> str:
    """A 64-hex identifier, as Docker's container, network and endpoint IDs."""
    return os.urandom(32).hex()


def random_hex(length: int) -> str:
    """`length` random hex characters."""
    return os.urandom((length + 1) // 2).hex()[:length]


def choice(options: tuple[str, ...]) -> str:
    """A uniformly random element (rejection sampling avoids modulo bias)."""
    limit = 65536 - 65536 % len(options)
    while True:
        value = int.from_bytes(os.urandom(2), "big")
        if value < limit:
            return options[value % len(options)]
