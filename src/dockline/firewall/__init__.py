"""dockline's firewall: its own nftables table, rendered whole from state and applied atomically.

`render` is pure (state in, `nft -f` script out, golden-tested); `apply` hands a script to the
kernel in one transaction and owns the forwarding sysctl. dockline owns `table inet dockline` and
never reads, changes or flushes any other table, so it coexists with the host's own firewall.
Today: outbound masquerade per bridge network, forwarding out of bridges and replies back in.
Later, as set elements in the same table (see `render`): published ports, isolation between
networks, internal networks, per-port anti-spoofing, IPv6.
"""

from dockline.firewall.apply import (
    apply_ruleset,
    delete_ruleset,
    disable_forwarding,
    enable_forwarding,
)
from dockline.firewall.render import TABLE_FAMILY, TABLE_NAME, render_delete, render_ruleset

__all__ = [
    "TABLE_FAMILY",
    "TABLE_NAME",
    "apply_ruleset",
    "delete_ruleset",
    "disable_forwarding",
    "enable_forwarding",
    "render_delete",
    "render_ruleset",
]
