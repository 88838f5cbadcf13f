"""Data every host of the inventory shares; override one with ``pyinfra --data key=value``.

Nothing secret belongs here: secrets live in the environment's encrypted store and are read
when ``deploy.py`` runs.
"""

zixly_hooks = True  # run the post-deploy hooks of the projects brought up (false: as `zixly deploy --no-hooks`)
zixly_force = False  # overwrite files of the release edited by hand on a host (as `zixly deploy --force`)
zixly_break_lock = False  # take the deploy lock even if another deploy holds it (as `zixly deploy --break-lock`)
