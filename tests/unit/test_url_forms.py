"""Fetch rules: every IPv6 form that carries a non-public IPv4 address is refused, and a URL
whose port or IPv6 literal is malformed is a parameter error, not a server error."""

import ipaddress

import pytest

from shared.errors import FaceError
from shared.urlfetch import refused, url_target

NOT_PUBLIC_V4 = ("127.0.0.1", "10.0.0.1", "169.254.169.254", "192.168.1.1")


def _forms(v4: str) -> list[str]:
    """The IPv6 addresses that embed `v4`: mapped, compatible, translated (SIIT), NAT64 (the
    well-known and a local prefix), 6to4, Teredo (its client address, inverted) and ISATAP."""
    hex32 = int(ipaddress.IPv4Address(v4))
    high, low = hex32 >> 16, hex32 & 0xFFFF
    inverted = hex32 ^ 0xFFFFFFFF
    return [f"::ffff:{v4}", f"::{v4}", f"::ffff:0:{v4}", f"64:ff9b::{v4}",
            f"64:ff9b:1::{high:x}:{low:x}", f"2002:{high:x}:{low:x}::1",
            f"2001:0:4136:e378:8000:63bf:{inverted >> 16:x}:{inverted & 0xFFFF:x}",
            f"2001:db8::5efe:{v4}"]


@pytest.mark.parametrize("v4", NOT_PUBLIC_V4)
def test_every_form_that_embeds_a_non_public_ipv4_is_refused(v4):
    for form in _forms(v4):
        assert refused(ipaddress.ip_address(form), []), form


def test_public_addresses_pass_and_the_allow_list_is_honoured():
    assert not refused(ipaddress.ip_address("8.8.8.8"), [])
    assert not refused(ipaddress.ip_address("2606:4700::1111"), [])
    assert not refused(ipaddress.ip_address("64:ff9b::808:808"), [])  # NAT64 of 8.8.8.8
    assert not refused(ipaddress.ip_address("10.0.0.1"), [ipaddress.ip_network("10.0.0.0/8")])


@pytest.mark.parametrize("url", ["http://example.com:99999/a.jpg", "http://[::1/a.jpg",
                                 "http://example.com:-1/"])
def test_a_malformed_url_is_a_parameter_error(url):
    with pytest.raises(FaceError) as caught:
        url_target(url)
    assert caught.value.kind.name == "PARAM_INVALID"
