"""Notifications: one event list, channels as Apprise URLs, delivery that never blocks.

* :mod:`.events` -- PURE: every event with its stable id and severity.
* :mod:`.channels` -- the environment's channels: checked, resolved with their secrets, shown masked,
  and the Apprise configuration file the hosts' ``apprise`` CLI reads.
* :mod:`.produce` -- PURE: event occurrences from what commands did (deploys, demos).
* :mod:`.outbox` -- undelivered messages, one file each, retried by the next run (same format
  written by the backup script and the on-host agent).
* :mod:`.send` / :mod:`.service` -- delivery on this machine through the Apprise library, each
  channel bounded by its timeout.

On hosts, the backup script (:mod:`zixly_stack.render.backup.script`) and the health agent
(:mod:`zixly_stack.health.agent`) send through the ``apprise`` CLI (Debian's package, installed
by host preparation) with the rendered configuration file; docs/notifications.md.
"""
