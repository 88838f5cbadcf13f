"""The pure pieces of a host's backup, rendered with the rest of its tree: what is backed up
(:mod:`.plan`), where to (:mod:`.repo`), the script and its units (:mod:`.script`), the script's
failure kinds (:mod:`.faults`) and where it leaves its status (:mod:`.status`). Running,
restoring and drilling backups is :mod:`zixly_stack.backup`.
"""
