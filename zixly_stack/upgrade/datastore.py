"""The seam for a data-store major: the executor's one call for a hop whose data format changes.

A hop of a ``major_change: dump_restore`` service (PostgreSQL, the warehouse; ``Hop.data_format``)
cannot start the new major on the old data directory. The upgrade executor calls
:func:`major_refusal` before the checkpoint (a refused hop changes nothing) and :func:`move_major`
once the service's containers are stopped and before the new major starts; what it does -- dump
every database, a new volume named by the major, restore, ANALYZE, the old volume kept until
``zixly upgrade ENV --prune`` -- is built on branch i16store. Until then the hop is refused with a
clear message (``zixly deploy`` refuses such a move in its plan already: plan/upgrade.py ``blocker``).
"""

from __future__ import annotations

from ..catalog.upgrades import Hop
from .work import HostWork, UpgradeFailed

NOT_AUTOMATED = "a data-store major needs a dump/restore into a new volume: not automated yet"


def major_refusal(service: str, hop: Hop) -> str:
    """Why :func:`move_major` cannot carry out *hop* of *service* ("" when it can). Pure."""
    return f"{service}: {hop.src} -> {hop.dst}: {NOT_AUTOMATED}" if hop.data_format else ""


def move_major(work: HostWork, service: str, project: str, hop: Hop) -> None:
    """Move *service*'s data (Compose project *project*, its containers stopped) to *hop*'s new major
    on *work*'s host; raise :class:`UpgradeFailed` naming what failed (the executor then restores the
    checkpoint and starts the previous images)."""
    why = major_refusal(service, hop)
    if why:
        raise UpgradeFailed(why + f" (nothing was changed on {work.host})")
