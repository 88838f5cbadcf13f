"""Shared test data: a canary value, a catalog-like set of required secrets, a file snapshot."""

from __future__ import annotations

from pathlib import Path

from zixly_stack.models.secret_spec import SecretSpec

CANARY = "CANARY-7f3a91c4e2d8b6a0"

REQUIRED = {
    "n8n.encryption_key": SecretSpec(
        type="hex", length=32, never_rotate="n8n can no longer decrypt stored credentials"
    ),
    "n8n.owner_password": SecretSpec(type="password", length=24),
    "n8n.owner_password_hash": SecretSpec(type="bcrypt", of="owner_password"),
    "invoiceninja.app_key": SecretSpec(type="laravel_key", never_rotate="Invoice Ninja loses encrypted data"),
}


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
