"""A JSON file (``PLANE_STANDIN_DB``) standing in for Plane's database tables."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any


def load() -> dict[str, Any]:
    path = os.environ["PLANE_STANDIN_DB"]
    if not os.path.exists(path):
        return {"users": [], "instance_admins": [], "instances": [{"id": 1, "is_setup_done": False}]}
    with open(path) as fh:
        return json.load(fh)  # type: ignore[no-any-return]


def save(data: dict[str, Any]) -> None:
    with open(os.environ["PLANE_STANDIN_DB"], "w") as fh:
        json.dump(data, fh)


class Manager:
    """``Model.objects`` with filter(...).first()/exists(), last(), create()."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def _rows(self) -> list[dict[str, Any]]:
        return list(load()[self.model.table])

    def filter(self, **kw: Any) -> Query:
        return Query(self.model, [r for r in self._rows() if all(_match(r, k, v) for k, v in kw.items())])

    def last(self) -> Any:
        rows = self._rows()
        return self.model(**rows[-1]) if rows else None

    def create(self, **kw: Any) -> Any:
        obj = self.model(**{k: (v.id if hasattr(v, "id") else v) for k, v in kw.items()})
        obj.save()
        return obj


def _match(row: dict[str, Any], key: str, value: Any) -> bool:
    """``key=value`` filter; a model instance matches its id (foreign keys are stored as ids)."""
    return bool(row.get(key) == (value.id if hasattr(value, "table") else value))


class Query:
    def __init__(self, model: Any, rows: list[dict[str, Any]]) -> None:
        self.model, self.rows = model, rows

    def first(self) -> Any:
        return self.model(**self.rows[0]) if self.rows else None

    def exists(self) -> bool:
        return bool(self.rows)


class Model:
    table = ""
    fields: tuple[str, ...] = ()

    def __init__(self, **kw: Any) -> None:
        for f in self.fields:
            setattr(self, f, kw.get(f, kw.get(f + "_id")))
        self.id = kw.get("id")

    def save(self) -> None:
        data = load()
        rows = data[self.table]
        row = {f: getattr(self, f) for f in self.fields}
        for f in self.fields:
            if hasattr(row[f], "id"):
                row[f] = row[f].id
        if self.id is None:
            self.id = max([r["id"] for r in rows] or [0]) + 1
            rows.append({"id": self.id, **row})
        else:
            for r in rows:
                if r["id"] == self.id:
                    r.update(row)
        save(data)


def password_hash(raw: str) -> str:
    return "sha256$" + hashlib.sha256(raw.encode()).hexdigest()
