"""``zixly import``: bring an existing install of a catalog app under an environment's management (docs/import.md)."""
