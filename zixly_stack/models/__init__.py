"""Typed, frozen pydantic models for the catalog and environments (extra keys forbidden)."""
