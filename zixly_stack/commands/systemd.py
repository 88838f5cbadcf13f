"""argv for systemd (``systemctl``) and nftables (``nft``) on a host. Pure; tuples, as plan steps keep them."""

from __future__ import annotations

SYSTEMCTL = "systemctl"
NFT = "nft"


def daemon_reload() -> tuple[str, ...]:
    """Read unit files again."""
    return (SYSTEMCTL, "daemon-reload")


def enable_now(unit: str) -> tuple[str, ...]:
    """Enable and start *unit*."""
    return (SYSTEMCTL, "enable", "--now", unit)


def enable(unit: str) -> tuple[str, ...]:
    """Enable *unit* (started at boot)."""
    return (SYSTEMCTL, "enable", unit)


def disable_now(unit: str) -> tuple[str, ...]:
    """Stop and disable *unit*."""
    return (SYSTEMCTL, "disable", "--now", unit)


def reload(unit: str) -> tuple[str, ...]:
    """Reload *unit*'s configuration (SIGHUP for docker and ssh)."""
    return (SYSTEMCTL, "reload", unit)


def nft_check(path: str) -> tuple[str, ...]:
    """Check an nftables ruleset file without loading it."""
    return (NFT, "-c", "-f", path)


def nft_load(path: str) -> tuple[str, ...]:
    """Load an nftables ruleset file (atomically)."""
    return (NFT, "-f", path)
