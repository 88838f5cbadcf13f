"""zixly's deploy of each host, as ``zixly deploy`` runs it, under pyinfra's own CLI.

    ZIXLY_ENV=staging pyinfra deploy/inventory.py deploy/deploy.py [your_deploy.py ...]

Per host: read its facts, check the secrets store made its data, plan (a host with nothing
to change gets no operation), then take the deploy lock and run the same pyinfra deploys
``zixly deploy`` runs (zixly_stack/deploy/deploys.py): host preparation, stack apply,
schedules, hooks. The last operation releases the lock and fails the host when the health
gate rolled it back. Deploy files named after this one run after it on every host.
"""

from zixly_stack.cli.pyinfra_project import finish, planned
from zixly_stack.deploy.deploys import zixly

job = planned()
if job is not None:
    zixly(job)
    finish(job)
