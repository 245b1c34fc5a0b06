"""The common role's network filter: strict CIDR parsing and the IPv4/IPv6 split nft needs."""
from __future__ import annotations

import ipaddress

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.hearth.platform.plugins.filter import common_net

split = common_net.common_split_networks


def test_splits_families_in_order_and_drops_duplicates() -> None:
    result = split(["10.0.0.0/8", "fd00::/64", "172.16.0.0/12", "10.0.0.0/8", "FD00::/64"], "nets")
    assert result == {"ipv4": ["10.0.0.0/8", "172.16.0.0/12"], "ipv6": ["fd00::/64"]}


def test_empty_list_gives_empty_families() -> None:
    assert split([], "nets") == {"ipv4": [], "ipv6": []}


@pytest.mark.parametrize("bad", ["10.0.0.1/8", "10.0.0.0", "300.0.0.0/8", "10.0.0.0/33", "fd00::1/64", "", 10, None])
def test_bad_entries_name_the_variable_and_index(bad: object) -> None:
    with pytest.raises(AnsibleFilterError, match=r"hearth_private_networks\[1\]"):
        split(["192.168.0.0/16", bad], "hearth_private_networks")


@pytest.mark.parametrize("bad", ["10.0.0.0/8", {"a": 1}, None])
def test_a_non_list_names_the_variable(bad: object) -> None:
    with pytest.raises(AnsibleFilterError, match="hearth_private_networks must be a list"):
        split(bad, "hearth_private_networks")


@given(st.lists(st.one_of(st.ip_addresses(v=4).map(lambda a: ipaddress.ip_network(f"{a}/{24}", strict=False)),
                          st.ip_addresses(v=6).map(lambda a: ipaddress.ip_network(f"{a}/{48}", strict=False))),
                max_size=20))
def test_every_valid_network_lands_once_in_its_family(networks: list) -> None:
    texts = [str(n) for n in networks]
    result = split(texts, "nets")
    assert sorted(result["ipv4"] + result["ipv6"]) == sorted(set(texts))
    assert all(ipaddress.ip_network(n).version == 4 for n in result["ipv4"])
    assert all(ipaddress.ip_network(n).version == 6 for n in result["ipv6"])
