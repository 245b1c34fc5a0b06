"""Filters for the common role: checking and splitting network lists for the host firewall."""
from __future__ import annotations

import ipaddress
from typing import Any

from ansible.errors import AnsibleFilterError


def parse_network(value: Any, variable: str, index: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Parse one CIDR string strictly (no host bits set), naming the variable when it is wrong.

    Strict parsing matters: nft would silently widen 10.1.2.3/8 to 10.0.0.0/8, which is rarely
    what the author of the inventory meant.
    """
    if not isinstance(value, str) or "/" not in value:
        raise AnsibleFilterError(
            f"{variable}[{index}] must be a network in CIDR notation such as '10.0.0.0/16' "
            f"or 'fd00::/64', got {value!r}"
        )
    try:
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        raise AnsibleFilterError(
            f"{variable}[{index}] must be a network in CIDR notation with no host bits set "
            f"(e.g. '10.0.0.0/16'), got {value!r}: {exc}"
        ) from exc


def common_split_networks(networks: Any, variable: str = "networks") -> dict[str, list[str]]:
    """Return {'ipv4': [...], 'ipv6': [...]} from a list of CIDR strings, in order, deduplicated.

    The firewall needs the two families apart: nft matches them with `ip saddr` and `ip6 saddr`.
    """
    if not isinstance(networks, (list, tuple)):
        raise AnsibleFilterError(
            f"{variable} must be a list of CIDR networks, got {type(networks).__name__}: {networks!r}"
        )
    split: dict[str, list[str]] = {"ipv4": [], "ipv6": []}
    for index, value in enumerate(networks):
        network = parse_network(value, variable, index)
        family = "ipv4" if network.version == 4 else "ipv6"
        text = str(network)
        if text not in split[family]:
            split[family].append(text)
    return split


class FilterModule:
    """Network filters of the common role."""

    def filters(self) -> dict[str, Any]:
        return {"common_split_networks": common_split_networks}
