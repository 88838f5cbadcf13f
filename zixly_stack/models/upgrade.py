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
                     ``n8n db:revert``; a data restore when it cannot revert) or ``none``; with
                     ``until`` (how to read which migrations the database ran and which ones an
                     image knows) ``zixly deploy`` carries a revert out (:mod:`zixly_stack.upgrade.revert`)

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

    name: ShortText = Field(examples=["database migrations (on start)"])
    """What the migration does, as the plan shows it."""
    run: MigrationRun = Field(examples=["on_start"])
    """Who runs it: the image on `on_start`, a one-shot `job` container, a `hook`, or a `command`."""
    container: str | None = Field(default=None, examples=["n8n"])
    """The container that migrates (`on_start`), is the job (`job`) or runs the `command`."""
    hook: str | None = Field(default=None, examples=["mautic-install"])
    """The service's hook that migrates (`run: hook`)."""
    command: list[Arg] = Field(default=[], examples=[["bundle", "exec", "rails", "db:chatwoot_prepare"]])
    """The argv run in `container` with the new image (`run: command`)."""
    reversible: bool = False
    """The vendor documents a way back for what it changed (`downgrade.command`)."""
    when: Literal["always", "major"] = "always"
    """`major`: only when the major version changes; `always`: on every version change."""
    source: HttpUrl = Field(examples=["https://docs.n8n.io/hosting/installation/updating/"])
    """The vendor documentation this rule follows."""


DowngradeNeeds = Literal["restore", "revert", "none"]


class RevertUntil(Model):
    """How a revert knows when to stop: the command undoes ONE migration, so it runs until the
    database's last migration is one the older version knows.

    ``known`` runs in an image (its first word replaces the entrypoint, no network) and prints the
    migrations that image's package knows, oldest first, one a line: the name, then `` irreversible``
    for one without a down step. ``applied`` is one SELECT run in the service's PostgreSQL database
    that lists the migrations it ran, oldest first.
    """

    known: list[Arg] = Field(min_length=1, examples=[["node", "-e", "console.log('AddX1700000000000')"]])
    """The argv that prints the migrations an image knows (`<name>` or `<name> irreversible` a line)."""
    applied: str = Field(min_length=8, max_length=500, examples=["SELECT name FROM migrations ORDER BY id"])
    """One SELECT listing the migrations the database ran, oldest first (psql in the service's database)."""
    max: int = Field(default=50, ge=1, le=500, examples=[50])
    """At most this many reverts in one downgrade (more: refused before anything stops)."""


class Downgrade(Model):
    """What moving to an older version needs (``command`` runs with the newer image, first).

    ``within_major``: what a downgrade inside one major needs, when that differs (PostgreSQL:
    minor releases share the data format, so ``none``); default: ``needs``.
    """

    needs: DowngradeNeeds = Field(examples=["revert"])
    """`restore` (the data from before the upgrade), `revert` (a command run with the newer image) or `none`."""
    within_major: DowngradeNeeds | None = Field(default=None, examples=["none"])
    """What a downgrade inside one major needs, when that differs from `needs` (default: `needs`)."""
    container: str | None = Field(default=None, examples=["n8n"])
    """The container whose newer image runs the revert `command`."""
    command: list[Arg] = Field(default=[], examples=[["n8n", "db:revert"]])
    """The argv that reverts the newer version's migrations (`needs: revert`)."""
    until: RevertUntil | None = Field(default=None, examples=[{
        "known": ["node", "-e", "console.log('AddX1700000000000')"],
        "applied": "SELECT name FROM migrations ORDER BY id", "max": 50}])
    """How `zixly deploy` finds the migrations to revert (`needs: revert`); without it the deploy refuses."""
    why: Text = Field(examples=["a newer version's migrations change the schema the older one reads"])
    """Why going back needs this, as the plan shows it."""
    source: HttpUrl = Field(examples=["https://docs.n8n.io/hosting/cli-commands/"])
    """The vendor documentation this rule follows."""


class UpgradeRules(Model):
    """How a service's version may move (module doc)."""

    version: str = Field(min_length=9, max_length=300,
                         examples=[r"^(?P<major>[0-9]+)\.(?P<minor>[0-9]+\.[0-9]+)$"])
    """A regular expression that parses the image tag; its named group `major` is the vendor's major."""
    max_major_step: int | None = Field(default=None, ge=1, le=100, examples=[1])
    """How many majors one hop may cross (Nextcloud: 1); unset: any."""
    path: list[str] = Field(default=[], examples=[["34.0.5-apache"]])
    """Required intermediate versions, oldest first: a move that passes one stops there."""
    major_change: Literal["in_place", "dump_restore"] = "in_place"
    """What a new major needs for the data: `in_place` (the app migrates it) or `dump_restore` (PostgreSQL)."""
    migrations: list[Migration] = Field(default=[], examples=[[{
        "name": "database migrations (on start)", "run": "on_start", "container": "n8n",
        "source": "https://docs.n8n.io/hosting/installation/updating/"}]])
    """What migrates the data to a new version, and whether the vendor can reverse it."""
    downgrade: Downgrade = Field(examples=[{"needs": "restore", "why": "a newer schema",
                                            "source": "https://docs.nextcloud.com/server/latest/admin_manual/"}])
    """What going back to an older version needs."""
    sources: list[HttpUrl] = Field(min_length=1, examples=[["https://docs.nextcloud.com/server/latest/admin_manual/"]])
    """The vendor documentation the rules follow."""
