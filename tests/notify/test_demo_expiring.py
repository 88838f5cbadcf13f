"""``zixly demo reap`` warns that a client demo expires within a day: ``demo.expiring`` through the
real Apprise library to a loopback receiver, once per (demo, expiry time) across runs, again
after the demo was extended. The demo is a registry record only (reap touches no container of
a demo that has not expired), in a ``base_dir`` under the test's directory.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tests.helpers import zixly
from tests.notify.conftest import ENV
from tests.notify.receivers import Sinks
from zixly_stack.clock import fmt_time
from zixly_stack.demo.registry import DemoRecord, save


def test_reap_sends_demo_expiring_once_per_expiry(root: Path, sinks: Sinks, tmp_path: Path) -> None:
    env_file = root / "inventories" / ENV / "environment.yaml"
    base = tmp_path / "opt"
    env_file.write_text(env_file.read_text().replace("base_dir: /opt/zixly", f"base_dir: {base}"))
    now = dt.datetime.now(dt.UTC)
    rec = DemoRecord("acme", "demo-acme", ENV, "local", ["metabase"], ["metabase"], ["demo-acme-metabase"],
                     fmt_time(now - dt.timedelta(days=6)), fmt_time(now + dt.timedelta(hours=6)))
    save(str(base), rec)
    save(str(base), rec.with_(client="later", env="demo-later", expires=fmt_time(now + dt.timedelta(days=3))))

    for _ in range(2):
        run = zixly("demo", "reap", "--env", ENV, "--json", root=root)
        assert run.code == 0 and json.loads(run.stdout) == {"removed": []}, (run.stdout, run.stderr)
    assert [g.event for g in sinks.json.got] == ["demo.expiring"], "once, and only for the demo within a day"
    assert sinks.json.got[0].title.startswith("[zixly local] demo expiring: demo acme expires in "), sinks.json.got
    assert "zixly demo extend acme" in sinks.json.got[0].body

    save(str(base), rec.with_(expires=fmt_time(now + dt.timedelta(hours=20))))  # extended, still within a day
    assert zixly("demo", "reap", "--env", ENV, "--json", root=root).code == 0
    assert [g.event for g in sinks.json.got] == ["demo.expiring"] * 2
