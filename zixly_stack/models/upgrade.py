"""Upgrade rules of a catalog service: ``upgrade:`` in ``services/<name>/service.yaml``.

How the service's version may move, as its vendor documents it (docs/upgrades.md):

``version``          a regular expression that parses the service's image tag; the named group
                     ``major`` is the vendor's major version (digits, or dotted digits such as
                     MariaDB's ``11.4``), the optional group ``minor`` orders versions inside a major
``max_major_step``   how many majors one hop may cross (Nextcloud: 1); ``None``: any
``path``             required intermediate versions: a move that passes one of them stops there
``major_change``     what a new major needs for the data: ``in_place`` (the new version migrates
                     the files it finds) or ``dump_restore`` (PostgreSQL: a new data directory)
``migrations``       what migrates the data to a new version (image start, a job container, a
                     hook, a command), and whether the vendor can reverse it
``downgrade``        what going back to an older version needs: ``restore`` (the data from before
                     the upgrade), ``revert`` (a command run with the NEWER image first, such as
                     ``n8n db:revert``; a data restore when it cannot revert) or ``none``

Pure data: the checks live in :mod:`zixly_stack.catalog.upgrades`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Model
from .types import Arg, HttpUrl, ShortText, Text

MigrationRun = Literal["on_start", "job", "hook", "command"]


class Migration(Model):
    """One documented data migration a new version brings.

    ``on_start``: the image migrates when it starts (``container`` names it); ``job``: a one-shot
    container of this service runs it (``container``); ``hook``: one of this service's hooks
    (``hook``); ``command``: ``command`` run in ``container`` with the new image. ``reversible``:
    the vendor documents a way back (``downgrade.command``) for what it changed.
    """

    name: ShortText
    run: MigrationRun
    container: str | None = None
    hook: str | None = None
    command: list[Arg] = []
    reversible: bool = False
    when: Literal["always", "major"] = "always"  # "major": only when the major version changes
    source: HttpUrl


DowngradeNeeds = Literal["restore", "revert", "none"]


class Downgrade(Model):
    """What moving to an older version needs (``command`` runs with the newer image, first).

    ``within_major``: what a downgrade inside one major needs, when that differs (PostgreSQL:
    minor releases share the data format, so ``none``); default: ``needs``.
    """

    needs: DowngradeNeeds
    within_major: DowngradeNeeds | None = None
    container: str | None = None
    command: list[Arg] = []
    why: Text
    source: HttpUrl


class UpgradeRules(Model):
    """How a service's version may move (module doc)."""

    version: str = Field(min_length=9, max_length=300)
    max_major_step: int | None = Field(default=None, ge=1, le=100)
    path: list[str] = []
    major_change: Literal["in_place", "dump_restore"] = "in_place"
    migrations: list[Migration] = []
    downgrade: Downgrade
    sources: list[HttpUrl] = Field(min_length=1)
