"""Shared pytest fixtures (engine, vps hosts, leak checks). Filled in by the harness modules."""
