"""Fetching an image from a client-given URL without becoming an SSRF proxy.

http(s) only; every address the host resolves to must be public unless its network is listed in
FACEGATE_URL_ALLOW; the connection goes to the address that was checked (the Host header and
TLS SNI carry the name), so a DNS answer cannot change between check and use; redirects are
followed by hand and each hop is checked again; the body is capped and the whole fetch timed.
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


def _refused(address: ipaddress._BaseAddress, allow: list[ipaddress._BaseNetwork]) -> bool:
    if any(address in network for network in allow):
        return False
    return not address.is_global or address.is_multicast


async def _resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FaceError(ERRORS.IMAGE_DECODE, f"cannot resolve {host}") from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


async def _checked_address(url: str, allow: list) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FaceError(ERRORS.PARAM_INVALID, "url must be http:// or https://")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await _resolve(parts.hostname, port)
    for address in addresses:
        if _refused(ipaddress.ip_address(address.split("%")[0]), allow):
            raise FaceError(ERRORS.PARAM_INVALID,
                            f"url host {parts.hostname} resolves to a non-public address")
    return parts.scheme, parts.hostname, port, addresses[0]


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
