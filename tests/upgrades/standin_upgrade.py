"""The LABELLED TEST STAND-IN "new versions" of Invoice Ninja: two hops, the second one broken.

Invoice Ninja has no image here: duo runs the kit's labelled stand-in for it. Its "new versions"
are that stand-in plus, in the test root's copy of ``services/invoiceninja/service.yaml`` only:

* :func:`two_hops`: ``upgrade.path: [5.13.48]``, so a move from 5.13.47 to 5.13.49 is two hops
  (5.13.47 -> 5.13.48 -> 5.13.49), as Nextcloud's path makes 33 -> 35 two;
* :func:`broken_second_hop`: a one-shot ``migrate`` job (``role: job``, the app depends on it, so
  it runs before each hop's version starts -- where a vendor's job migration runs) that uses the
  REAL MariaDB client of the kit's MariaDB image. Its first run (hop 1, 5.13.48) migrates the
  app's rows (``migrated by 5.13.48: ...``) and succeeds; its second run (hop 2, 5.13.49) writes
  garbage over the migrated rows, deletes some of them, as a broken migration would, and fails
  (exit 3). So the data the deploy must put back has been changed by BOTH hops. The second run
  prints the rows it found (``hop 2 found: ...``) and left (``hop 2 left: ...``), read back with
  the same client: the deploy's failure report shows the job's last log lines.

* :func:`failing_health`: one hop whose ``migrate`` job writes garbage over the rows (and succeeds)
  and whose stand-in ``nginx`` then fails its health check (``ZIXLY_STANDIN_FAIL=1``: its health
  route answers 503, images/standin) -- a new version whose migration corrupts its database, then
  fails its health check.

Nothing of this is in the repository's catalog: the functions edit a copy (:func:`own_catalog`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CANARY_TABLE = "upgrade_canary"

MIGRATE = """
  migrate:
    # LABELLED TEST STAND-IN "new version" migration (tests/upgrades/standin_upgrade.py): the kit's
    # real MariaDB client migrates the app's rows on its first run and corrupts them on its second.
    image: {repository: mariadb, tag: 11.4.13}
    role: job
    user: "999:999"
    command:
      - sh
      - -c
      - >-
        if mariadb -u invoiceninja invoiceninja -N -B
        -e "SELECT COUNT(*) FROM TABLE_ WHERE v LIKE 'migrated by 5.13.48%'" | grep -qx 0;
        then mariadb -u invoiceninja invoiceninja
        -e "UPDATE TABLE_ SET v = CONCAT('migrated by 5.13.48: ', v)";
        else mariadb -u invoiceninja invoiceninja -N -B
        -e "SELECT CONCAT('hop 2 found: ', v) FROM TABLE_ ORDER BY id";
        mariadb -u invoiceninja invoiceninja
        -e "UPDATE TABLE_ SET v = 'garbage-from-the-new-version'; DELETE FROM TABLE_ WHERE id > 2";
        mariadb -u invoiceninja invoiceninja -N -B
        -e "SELECT CONCAT('hop 2 left: ', v) FROM TABLE_ ORDER BY id";
        exit 3; fi
    env:
      MYSQL_HOST: ${store:mariadb.host}
      MYSQL_PWD: ${store:mariadb.password}
    resources: {memory: 128m, cpus: 0.5, pids: 64}

  nginx:
""".replace("TABLE_", CANARY_TABLE)

JOB_MIGRATION = """  migrations:
    - name: the new version's migration (LABELLED TEST STAND-IN, corrupts the database on its second run)
      run: job
      container: migrate
      reversible: false
      source: https://github.com/invoiceninja/dockerfiles/blob/debian/debian/scripts/init.sh
"""

MIGRATE_THEN_UNHEALTHY = """
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

PIN = "    image: {repository: invoiceninja/invoiceninja-debian, tag: 5.13.47}\n"


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


def _edit(root: Path, *swaps: tuple[str, str]) -> None:
    """Replace each text of *swaps* (found exactly once) in *root*'s copy of Invoice Ninja's definition."""
    assert not (root / "services").is_symlink(), "never edit the repository's catalog"
    path = root / "services" / "invoiceninja" / "service.yaml"
    text = path.read_text()
    for old, new in swaps:
        assert text.count(old) == 1, f"fixture drifted: {old!r}"
        text = text.replace(old, new, 1)
    path.write_text(text)


def two_hops(root: Path) -> None:
    """5.13.48 becomes a required stop: 5.13.47 -> 5.13.49 is two hops (module doc)."""
    _edit(root, ("upgrade:\n", "upgrade:\n  path: ['5.13.48']\n"))


def broken_second_hop(root: Path) -> None:
    """The migration job that changes the data at hop 1 and corrupts it at hop 2 (module doc)."""
    _edit(root, ("\n  nginx:\n", MIGRATE), (PIN, PIN + "    depends_on: [migrate]\n"),
          ("  migrations:\n", JOB_MIGRATION))


def failing_health(root: Path) -> None:
    """The new version's job corrupts the rows, then its app fails its health check (module doc)."""
    _edit(root, ("\n  nginx:\n", MIGRATE_THEN_UNHEALTHY), (PIN, PIN + "    depends_on: [migrate]\n"),
          ("  migrations:\n", JOB_MIGRATION))
