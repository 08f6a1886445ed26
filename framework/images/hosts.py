"""Which URLs the bot downloads images from: Discord's CDN hosts, plus the Discord-compatible
server the bot runs against (the sandbox), nothing else. A private address such as
127.0.0.1 is reachable only as that server's host."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["DISCORD_HOSTS", "allowed_hosts", "url_allowed"]

DISCORD_HOSTS = frozenset(
    {"cdn.discordapp.com", "media.discordapp.net", "images-ext-1.discordapp.net", "images-ext-2.discordapp.net"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _key(url: str) -> str | None:
    """``host`` for a URL on its scheme's default port, else ``host:port``; None if not http(s)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return parts.hostname.lower()
    return f"{parts.hostname.lower()}:{port}"


def allowed_hosts(api_base: str | None = None) -> frozenset[str]:
    """Discord's CDN hosts, and the host of ``api_base`` when the bot talks to another server."""
    extra = _key(api_base) if api_base else None
    return DISCORD_HOSTS | {extra} if extra else DISCORD_HOSTS


def url_allowed(url: str, hosts: frozenset[str]) -> bool:
    """Discord's hosts only over https; the configured server's host on its own scheme."""
    key = _key(url)
    if key is None or key not in hosts:
        return False
    return key not in DISCORD_HOSTS or urlsplit(url).scheme == "https"
