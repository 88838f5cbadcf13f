"""pyinfra inventory of one zixly environment: its ``inventories/<env>/hosts.yaml``.

    ZIXLY_ENV=staging pyinfra deploy/inventory.py deploy/deploy.py

Hosts are read through zixly's loader (validated like every zixly command) and carry the
connection settings ``zixly deploy`` uses (address, user, port, key file, ``ZIXLY_SSH_KNOWN_HOSTS``).
Groups: ``zixly`` (every host) and one per role of ``hosts.yaml`` (``edge``, ``apps``, ``stores``).
Nothing secret is here: the secrets store is opened when ``deploy.py`` runs, with your age key.
"""

from zixly_stack.cli.pyinfra_project import inventory_groups

globals().update(inventory_groups())
