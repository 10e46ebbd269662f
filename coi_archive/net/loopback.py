"""The one rule for "only this machine can reach it".

Used where a loopback host relaxes a safety rule: ``serve`` without a
password, the web UI's Host check against DNS rebinding, and plaintext
IMAP (``--insecure``).  Loopback means an address in ``127.0.0.0/8``,
``::1``, an IPv4-mapped ``::ffff:127.x.y.z``, or the reserved name
``localhost`` or a name under it (RFC 6761 §6.3: resolvers answer them
with loopback addresses and they are never delegated, so no DNS rebinding
attacker can own one).  Nothing is resolved: a name that merely resolves to
127.0.0.1 is not trusted, and checking a Host header must not send a DNS
query for whatever name a request claims.
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for a loopback address or a ``localhost`` name (``[::1]`` and
    ``localhost.`` are accepted as written in URLs and Host headers)."""
    host = host.strip().removeprefix("[").removesuffix("]").lower()
    name = host.removesuffix(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback
