"""The checkpointed upgrade deploy: checkpoint a service's data, carry out its hops, put the data back on failure.

* :mod:`.work` -- what the executor works with on one host (the environment's backup view, the
  host's runner, progress) and the error it raises;
* :mod:`.checkpoint` -- the restic checkpoint of exactly one service's data, tagged for the move,
  checked readable, and the free-space check;
* :mod:`.datastore` -- the seam for a data-store major (dump -> new volume -> restore);
* :mod:`.guard` -- the hooks the health-gated converge calls for an upgraded service's project
  (intermediate hops before its final up, migrations after it, the data restored before its
  previous images start again);
* :mod:`.record` -- what a host's release log records of an upgrade (the checkpoint), read back
  by ``zixly upgrade ENV --rollback SERVICE``.

Everything runs through the deploy's one runner (``@local`` or SSH): docs/upgrades.md.
"""
