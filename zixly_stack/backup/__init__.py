"""Nightly backups and verified restores with restic.

* :mod:`.plan` -- PURE: (stack, host) -> the items to back up, with pre/post steps and tags.
* :mod:`.repo` -- PURE: repository URL/environment per target, restic argv builders.
* :mod:`.faults` -- the distinct failures (errors with exit codes) and how restic output maps to them.
* :mod:`.script` -- PURE: the self-contained bash backup script, systemd units and cron line.
* :mod:`.run` / :mod:`.restore` / :mod:`.drill` -- side effects on this machine (CLI).
"""
