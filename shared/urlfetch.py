"""Fetching an image from a client-given URL without becoming an SSRF proxy.

http(s) only; every address the host resolves to must be public unless its network is listed in
FACEGATE_URL_ALLOW, and so must every IPv4 address an IPv6 address carries inside it (IPv4-mapped
and -compatible, NAT64, 6to4, Teredo, ISATAP: a translator or tunnel would deliver to it); the
connection goes to the address that was checked (the Host header and TLS SNI carry the name), so
a DNS answer cannot change between check and use; redirects are followed by hand and each hop is
checked again; the body is capped and the whole fetch timed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import httpx

from shared.errors import ERRORS, FaceError
from shared.settings import Settings

_MAX_REDIRECTS = 3


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052's well-known prefix: IPv4 last
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local use, never public
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT's ::ffff:0:a.b.c.d
_ISATAP = (b"\x00\x00\x5e\xfe", b"\x02\x00\x5e\xfe")  # interface id, then the IPv4 address


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries, which a translator or tunnel reaches."""
    found = [v4 for v4 in (address.ipv4_mapped, address.sixtofour) if v4 is not None]
    if address.teredo:
        found.extend(address.teredo)  # (server, client)
    last32 = ipaddress.IPv4Address(address.packed[-4:])
    if address in _NAT64 or address in _IPV4_TRANSLATED or (
            address in _IPV4_COMPATIBLE and int(address) > 1):
        found.append(last32)
    if address.packed[8:12] in _ISATAP:
        found.append(last32)
    return found


def refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
            allow: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    """Whether a URL may not reach `address`: not public (or multicast), or an IPv6 address
    that carries one that is not, unless its network is allowed."""
    if any(address in network for network in allow):
        return False
    if not address.is_global or address.is_multicast:
        return True
    if address.version == 6:
        if address in _LOCAL_NAT64:
            return True
        return any(refused(v4, allow) for v4 in embedded_ipv4(address))
    return False


async def _resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FaceError(ERRORS.IMAGE_DECODE, f"cannot resolve {host}") from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


def url_target(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or PARAM_INVALID saying what is wrong."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a port out of range, a broken [IPv6] literal
        raise FaceError(ERRORS.PARAM_INVALID, f"url is malformed: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FaceError(ERRORS.PARAM_INVALID, "url must be http:// or https://")
    if port == 0:
        raise FaceError(ERRORS.PARAM_INVALID, "url port must be from 1 to 65535")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def _checked_address(url: str, allow: list) -> tuple[str, str, int, str]:
    scheme, hostname, port = url_target(url)
    addresses = await _resolve(hostname, port)
    for address in addresses:
        if refused(ipaddress.ip_address(address.split("%")[0]), allow):
            raise FaceError(ERRORS.PARAM_INVALID,
                            f"url host {hostname} resolves to a non-public address")
    return scheme, hostname, port, addresses[0]


async def fetch_image(url: str, settings: Settings) -> bytes:
    allow = [ipaddress.ip_network(net, strict=False) for net in settings.url_allow]
    try:
        async with asyncio.timeout(settings.url_timeout_s), httpx.AsyncClient(
                timeout=settings.url_timeout_s, follow_redirects=False, trust_env=False) as client:
            for _ in range(_MAX_REDIRECTS + 1):
                scheme, host, port, address = await _checked_address(url, allow)
                parts = urlsplit(url)
                literal = f"[{address}]" if ":" in address else address
                target = parts._replace(netloc=f"{literal}:{port}").geturl()
                headers = {"Host": parts.netloc.rsplit("@", 1)[-1]}
                extensions = {"sni_hostname": host} if scheme == "https" else {}
                request = client.build_request("GET", target, headers=headers,
                                               extensions=extensions)
                response = await client.send(request, stream=True)
                try:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise FaceError(ERRORS.IMAGE_DECODE,
                                        f"url answered HTTP {response.status_code}")
                    return await _read_capped(response, settings.url_max_bytes)
                finally:
                    await response.aclose()
            raise FaceError(ERRORS.IMAGE_DECODE, "too many redirects")
    except TimeoutError:
        raise FaceError(ERRORS.IMAGE_DECODE, "timed out fetching url") from None
    except httpx.HTTPError as exc:
        raise FaceError(ERRORS.IMAGE_DECODE, f"cannot fetch url: {type(exc).__name__}") from None


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise FaceError(ERRORS.IMAGE_DECODE, f"image at url is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise FaceError(ERRORS.IMAGE_DECODE, f"image at url is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class DeliveryError(Exception):
    """A POST to a client-given URL (a webhook) did not get an answer: why, in one line."""


async def post_json(url: str, body: bytes, headers: dict[str, str], settings: Settings) -> int:
    """POSTs `body` to `url` under the address rules of an image URL, with networks of its own
    (FACEGATE_WEBHOOK_ALLOW: an operator who lets image URLs reach an internal store does not
    let every tenant POST there); the address that was checked is the one connected to;
    redirects are not followed (a 3xx is an answer like any other). The answer's status;
    DeliveryError when none came."""
    allow = [ipaddress.ip_network(net, strict=False) for net in settings.webhook_allow]
    try:
        async with asyncio.timeout(settings.url_timeout_s), httpx.AsyncClient(
                timeout=settings.url_timeout_s, follow_redirects=False, trust_env=False) as client:
            scheme, host, port, address = await _checked_address(url, allow)
            parts = urlsplit(url)
            literal = f"[{address}]" if ":" in address else address
            target = parts._replace(netloc=f"{literal}:{port}").geturl()
            extensions = {"sni_hostname": host} if scheme == "https" else {}
            request = client.build_request(
                "POST", target, content=body, extensions=extensions,
                headers={**headers, "Host": parts.netloc.rsplit("@", 1)[-1],
                         "Content-Type": "application/json"})
            response = await client.send(request, stream=True)
            await response.aclose()  # the receiver's body is not read: nothing of it is used
            return response.status_code
    except FaceError:
        raise DeliveryError(NOT_PUBLIC) from None
    except TimeoutError:
        raise DeliveryError(f"no answer in {settings.url_timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"cannot connect: {type(exc).__name__}") from None


NOT_PUBLIC = "the host must resolve, in time, to public addresses only"


async def checked_url(url: str, settings: Settings) -> None:
    """PARAM_INVALID now for a URL that post_json would refuse (its scheme, port, or an address
    that is not public); the address is checked again at each delivery. One message for a name
    that does not resolve and one that resolves to a private address, so that the answer does
    not map the internal DNS."""
    try:
        url_target(url)
    except FaceError as exc:
        raise FaceError(ERRORS.PARAM_INVALID, f"callback_url: {exc.detail}") from None
    allow = [ipaddress.ip_network(net, strict=False) for net in settings.webhook_allow]
    try:
        async with asyncio.timeout(settings.url_timeout_s):
            await _checked_address(url, allow)
    except (FaceError, TimeoutError):
        raise FaceError(ERRORS.PARAM_INVALID, f"callback_url: {NOT_PUBLIC}") from None
