"""Metabase seed dashboards: ``services/metabase/seeds/dashboards/*.yaml``. Pure.

Contract: each file is ``{name, description, cards: [{name, display, sql, width, height}]}``.
Dashboard names are unique; card names are unique across all dashboards (cards are
matched by name, like dashboards); ``display`` is one Metabase visualisation the seeds
use; widths fit Metabase's 24-column grid. :meth:`Dashboard.layout` places cards left to
right, wrapping rows -- deterministic, so the hook can compare layouts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .base import HookError

DISPLAYS = frozenset({"table", "bar", "line", "row", "pie", "scalar", "area", "combo"})
GRID = 24


@dataclass(frozen=True)
class Card:
    """A native-SQL question."""

    name: str
    display: str
    sql: str
    width: int
    height: int

    @property
    def digest(self) -> str:
        """Hash of what Metabase stores for the card (name, display, SQL)."""
        return hashlib.sha256(json.dumps([self.name, self.display, self.sql]).encode()).hexdigest()


@dataclass(frozen=True)
class Dashboard:
    """A dashboard and its cards in display order."""

    name: str
    description: str
    cards: tuple[Card, ...]
    source: str

    def layout(self) -> list[tuple[Card, int, int]]:
        """``(card, row, col)`` for every card, filling the grid row by row."""
        out: list[tuple[Card, int, int]] = []
        row = col = row_height = 0
        for card in self.cards:
            if col + card.width > GRID:
                row, col, row_height = row + row_height, 0, 0
            out.append((card, row, col))
            col += card.width
            row_height = max(row_height, card.height)
        return out


def _card(raw: Any, where: str) -> Card:
    if not isinstance(raw, dict):
        raise HookError(f"{where}: a card is a mapping")
    unknown = set(raw) - {"name", "display", "sql", "width", "height"}
    if unknown:
        raise HookError(f"{where}: unknown card key(s) {', '.join(sorted(unknown))}")
    name, display, sql = raw.get("name"), raw.get("display", "table"), raw.get("sql")
    width, height = raw.get("width", 12), raw.get("height", 6)
    if not isinstance(name, str) or not name.strip():
        raise HookError(f"{where}: card without a name")
    if display not in DISPLAYS:
        raise HookError(f"{where}: card {name!r}: display {display!r} is not one of {', '.join(sorted(DISPLAYS))}")
    if not isinstance(sql, str) or not sql.strip():
        raise HookError(f"{where}: card {name!r} has no sql")
    if not isinstance(width, int) or not 1 <= width <= GRID or not isinstance(height, int) or not 1 <= height <= 30:
        raise HookError(f"{where}: card {name!r}: width 1-{GRID}, height 1-30")
    return Card(name, display, sql.strip().rstrip(";"), width, height)


def load_dashboards(directory: Path) -> list[Dashboard]:
    """Every dashboard file, sorted by file name (module contract)."""
    out: list[Dashboard] = []
    cards_seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        where = f"services/metabase/seeds/dashboards/{path.name}"
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise HookError(f"{where}: not valid YAML ({exc})") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not isinstance(raw.get("cards"), list):
            raise HookError(f"{where}: needs a name and a list of cards")
        cards = tuple(_card(c, where) for c in raw["cards"])
        for c in cards:
            if c.name in cards_seen:
                raise HookError(f"{where}: card {c.name!r} is also in {cards_seen[c.name]} (cards match by name)")
            cards_seen[c.name] = where
        if any(d.name == raw["name"] for d in out):
            raise HookError(f"{where}: another dashboard is also named {raw['name']!r}")
        out.append(Dashboard(raw["name"], str(raw.get("description", "")), cards, where))
    return out
