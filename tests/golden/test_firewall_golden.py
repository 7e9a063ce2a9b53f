"""Golden files for the whole nftables ruleset, and nft's own verdict on the rendered scripts.

Set DOCKLINE_UPDATE_GOLDEN=1 to rewrite the `ruleset_*.nft` files from the current renderer
(then review the diff); otherwise each rendering must match its file byte for byte. The syntax
and kernel check (`nft -c`, which builds the transaction and aborts it) runs inside a throwaway
namespace, never in the root one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dockline.addr import IPv4Address, IPv4Network
from dockline.errors import Conflict, InvalidArgument
from dockline.firewall import render_delete, render_ruleset
from dockline.model import Network

if TYPE_CHECKING:
    from conftest import TestNetns

GOLDEN_DIR = Path(__file__).parent
UPDATE = os.environ.get("DOCKLINE_UPDATE_GOLDEN") == "1"


def make_network(name: str, bridge: str, subnet: str, net_id: str = "") -> Network:
    net = IPv4Network(subnet)
    return Network(
        id=net_id or name.ljust(64, "0"),
        name=name,
        driver="bridge",
        bridge=bridge,
        subnet=net,
        gateway=IPv4Address(int(net.network_address) + 1),
    )


DEFAULT = make_network("bridge", "dockline0", "172.17.0.0/16")
SECOND = make_network("backend", "br-5e1f2a3b4c6d", "172.18.0.0/16", "5e1f2a3b4c6d" + "0" * 52)

CASES: dict[str, tuple[list[Network], bool]] = {  # networks, forwarding_ours
    "ruleset_0_networks.nft": ([], False),
    "ruleset_1_network.nft": ([DEFAULT], False),
    # given out of order on purpose: the output must be sorted
    "ruleset_2_networks.nft": ([SECOND, DEFAULT], False),
    # dockline turned forwarding on: the rest of the forwarded traffic is dropped
    "ruleset_1_network_forwarding_ours.nft": ([DEFAULT], True),
}


def check_golden(filename: str, rendered: str) -> None:
    path = GOLDEN_DIR / filename
    if UPDATE:
        path.write_text(rendered)
        return
    assert path.exists(), f"{path} missing: run with DOCKLINE_UPDATE_GOLDEN=1 to create it"
    assert rendered == path.read_text(), f"{filename} differs (DOCKLINE_UPDATE_GOLDEN=1 rewrites)"


@pytest.mark.parametrize("filename", sorted(CASES))
def test_ruleset_matches_golden(filename: str) -> None:
    networks, forwarding_ours = CASES[filename]
    check_golden(filename, render_ruleset(networks, forwarding_ours=forwarding_ours))


def test_delete_matches_golden() -> None:
    check_golden("ruleset_delete.nft", render_delete())


def test_render_is_deterministic() -> None:
    assert render_ruleset([DEFAULT, SECOND]) == render_ruleset([SECOND, DEFAULT])


def test_render_refuses_unsafe_bridge_name() -> None:
    for bad in ['br"; flush ruleset', "eth*", "", "a" * 16, "..", "br 0"]:
        with pytest.raises(InvalidArgument, match="bridge name"):
            render_ruleset([make_network("x", bad, "172.19.0.0/16")])


def test_render_refuses_overlapping_subnets() -> None:
    inner = make_network("inner", "br-inner", "172.17.5.0/24")
    with pytest.raises(Conflict, match=r"172\.17\.0\.0/16 and 172\.17\.5\.0/24 overlap"):
        render_ruleset([DEFAULT, inner])


needs_nft = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft", path="/usr/sbin:/sbin:" + os.environ["PATH"]) is None,
    reason="needs root and the nft binary",
)


@needs_nft
@pytest.mark.parametrize("filename", [*sorted(CASES), "ruleset_delete.nft"])
def test_nft_accepts_golden(filename: str, netns_factory: Callable[[], TestNetns]) -> None:
    """The golden file is what nft (and the kernel, through the aborted transaction) accepts."""
    ns = netns_factory()
    script = (GOLDEN_DIR / filename).read_text()
    proc = ns.run("nft", "-c", "-f", "-", input=script, check=False)
    assert proc.returncode == 0, proc.stderr
    # check mode commits nothing
    assert ns.run("nft", "list", "ruleset").stdout.strip() == ""
