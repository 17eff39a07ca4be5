"""The city's single sign-on through a trusted reverse proxy: the proxy signs the user in and names them in
a header (``[web] sso_header``); the console believes that header only from the proxy's own addresses
(``[web] sso_proxies``). The name must be an existing, enabled account: its role is the account's, and no
account is ever made from a header."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

log = logging.getLogger("mimamori.web")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ProxySignOn:
    header: str
    proxies: tuple[Network, ...]

    @classmethod
    def of(cls, header: str, proxies: Iterable[str]) -> ProxySignOn | None:
        """None when no header is configured (password logins only)."""
        if not header:
            return None
        return cls(header, tuple(ipaddress.ip_network(p, strict=False) for p in proxies))

    def user(self, headers: Mapping[str, str], remote: str | None) -> str | None:
        """The user the proxy names, lower-cased, if the request came from the proxy; else None."""
        name = headers.get(self.header, "").strip().lower()
        if not name:
            return None
        try:
            addr = ipaddress.ip_address(remote or "")
        except ValueError:
            addr = None
        if addr is None or not any(addr in net for net in self.proxies):
            log.warning("console: a %s header from %s, which is not the sign-on proxy, was ignored", self.header,
                        remote or "-")
            return None
        return name[:64]
