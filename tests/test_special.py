"""Special-purpose space cannot be registered; documentation ranges only where a setting allows them."""

from __future__ import annotations

import netaddr
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipam.space import Net, parse_net
from ipam.special import DOCUMENTATION, SPECIAL_PURPOSE, special_purpose_reason


@pytest.mark.parametrize(
    "prefix",
    ["::/0", "0.0.0.0/0", "::1/128", "::/128", "127.0.0.0/8", "127.1.0.0/16", "::ffff:0:0/96", "ff02::/16",
     "224.0.0.0/4", "fe80::/64", "169.254.0.0/16", "255.255.255.255/32", "::/1", "0.0.0.0/1"],
)  # fmt: skip
def test_special_purpose_blocks_and_blocks_covering_them_are_refused(prefix: str) -> None:
    assert special_purpose_reason(parse_net(prefix), allow_documentation=True) is not None


@pytest.mark.parametrize("prefix", ["2001:db8::/32", "2001:db8:1::/48", "192.0.2.0/24", "3fff::/20"])
def test_documentation_ranges_only_when_allowed(prefix: str) -> None:
    net = parse_net(prefix)
    assert special_purpose_reason(net) is not None
    assert special_purpose_reason(net, allow_documentation=True) is None


@pytest.mark.parametrize("prefix", ["2400::/12", "240e::/20", "1.0.0.0/8", "fd00::/8", "2001:200::/23"])
def test_global_space_is_allowed(prefix: str) -> None:
    assert special_purpose_reason(parse_net(prefix)) is None


@given(st.integers(0, 128), st.integers(0, 2**128 - 1))
def test_refused_exactly_when_netaddr_sees_an_overlap(length: int, value: int) -> None:
    net = parse_net(f"{netaddr.IPAddress(value, 6)}/{length}", strict=False)
    mine = netaddr.IPSet([netaddr.IPNetwork(str(net))])
    special = netaddr.IPSet(
        [netaddr.IPNetwork(str(b)) for b, _ in SPECIAL_PURPOSE + tuple((d, "") for d in DOCUMENTATION)]
    )
    assert (special_purpose_reason(Net(net.start, net.length)) is not None) == bool(mine & special)
