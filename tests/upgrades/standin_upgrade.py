"""The LABELLED TEST STAND-IN "new version" of Invoice Ninja whose migration corrupts its database.

Invoice Ninja has no image here: duo runs the kit's labelled stand-in for it. Its "new version"
is that stand-in plus, in the test root's copy of ``services/invoiceninja/service.yaml`` only:

* a one-shot ``migrate`` job (``role: job``, the app depends on it, so it runs before the new
  version starts -- where a vendor's job migration runs) that uses the REAL MariaDB client of
  the kit's MariaDB image to write garbage over the app's rows and delete some of them, as a
  broken migration would;
* ``ZIXLY_STANDIN_FAIL=1`` on the stand-in nginx, so the new version never passes its health
  check (its vendor health route answers 503).

Nothing of this is in the repository's catalog: :func:`corrupting_new_version` edits a copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CANARY_TABLE = "upgrade_canary"

MIGRATE = """
  migrate:
    # LABELLED TEST STAND-IN "new version" migration (tests/upgrades/standin_upgrade.py): the
    # kit's real MariaDB client writes garbage over the app's rows, as a broken migration would.
    image: {repository: mariadb, tag: 11.4.13}
    role: job
    user: "999:999"
    command: ["mariadb", "-u", "invoiceninja", "invoiceninja", "-e",
              "UPDATE TABLE_ SET v = 'garbage-from-the-new-version'; DELETE FROM TABLE_ WHERE id > 2"]
    env:
      MYSQL_HOST: ${store:mariadb.host}
      MYSQL_PWD: ${store:mariadb.password}
    resources: {memory: 128m, cpus: 0.5, pids: 64}

  nginx:
    env:
      # LABELLED TEST STAND-IN "new version": its health route answers 503 (images/standin).
      ZIXLY_STANDIN_FAIL: "1"
""".replace("TABLE_", CANARY_TABLE)

JOB_MIGRATION = """  migrations:
    - name: the new version's migration (LABELLED TEST STAND-IN, corrupts the database)
      run: job
      container: migrate
      reversible: false
      source: https://github.com/invoiceninja/dockerfiles/blob/debian/debian/scripts/init.sh
"""


@contextmanager
def own_catalog(root: Path) -> Iterator[Path]:
    """*root*'s ``services`` (a link to the repository's catalog, tests/deploy/helpers.py) as a copy
    of its own while the block runs; the link is put back afterwards."""
    link = root / "services"
    target = link.resolve()
    assert link.is_symlink(), f"{link} is expected to be the link make_root made"
    link.unlink()
    shutil.copytree(target, link)
    try:
        yield link
    finally:
        shutil.rmtree(link)
        link.symlink_to(target)


def corrupting_new_version(root: Path) -> None:
    """Edit *root*'s copy of Invoice Ninja's service definition (module doc; *root*'s ``services``
    must be a copy: :func:`own_catalog`)."""
    assert not (root / "services").is_symlink(), "never edit the repository's catalog"
    path = root / "services" / "invoiceninja" / "service.yaml"
    text = path.read_text()
    for old in ("\n  nginx:\n", "    image: {repository: invoiceninja/invoiceninja-debian, tag: 5.13.47}\n",
                "  migrations:\n"):
        assert text.count(old) == 1, f"fixture drifted: {old!r}"
    text = text.replace("\n  nginx:\n", MIGRATE, 1)
    text = text.replace("    image: {repository: invoiceninja/invoiceninja-debian, tag: 5.13.47}\n",
                        "    image: {repository: invoiceninja/invoiceninja-debian, tag: 5.13.47}\n"
                        "    depends_on: [migrate]\n", 1)
    text = text.replace("  migrations:\n", JOB_MIGRATION, 1)
    path.write_text(text)
