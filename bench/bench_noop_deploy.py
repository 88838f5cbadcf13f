"""No-op redeploy over SSH: ``zixly deploy`` against an equivalent ``ansible-playbook`` on the same host.

Run: ``python bench/bench_noop_deploy.py [--runs 5] [--services traefik,socket-proxy,...] [--keep]``

What it does, on one VPS-like test host (own network namespace, sshd and dockerd; see
``tests/harness/vps.py``):

1. an environment ``bench`` with the ``local`` environment's services (the full stack by
   default) on that host, its images delivered by ``zixly images load`` (no registry),
   deployed once with ``zixly deploy``;
2. ``zixly deploy bench`` again, N times: each must report 0 changes (wall clock of the
   whole CLI, and the deploy part alone from its JSON report);
3. the equivalent Ansible play, N times, after one converging run: the same rendered
   files checked with ``copy`` (content + mode, one task looping over every file), the
   environment's containers read with ``docker ps``, and ``docker compose up --wait``
   per project only when that project's files changed (skipped on a no-op). ansible-core
   comes from PyPI (a venv under ``~/.cache/zixly`` is made when none is on PATH);
   pipelining on, facts gathering off, OpenSSH with ControlPersist: Ansible's fast path.

Prints medians and the ratio (goal: zixly at least 10x faster).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.vps import VpsHost, VpsPool  # noqa: E402

ANSIBLE_VENV = Path.home() / ".cache" / "zixly" / "bench-ansible"


def ansible_playbook() -> str:
    """``ansible-playbook`` from PATH, else from a venv made with pip (ansible-core)."""
    found = shutil.which("ansible-playbook")
    if found:
        return found
    exe = ANSIBLE_VENV / "bin" / "ansible-playbook"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ANSIBLE_VENV)], check=True)
        subprocess.run([str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", "ansible-core"], check=True)
    return str(exe)


def make_root(work: Path, host: VpsHost, services: list[str] | None) -> Path:
    """A repo root with environment ``bench`` on *host*."""
    root = work / "repo"
    for part in ("services", "templates", "images"):
        (root / part).parent.mkdir(parents=True, exist_ok=True)
        (root / part).symlink_to(ROOT / part)
    inv = root / "inventories" / "bench"
    inv.mkdir(parents=True)
    text = (ROOT / "inventories" / "local" / "environment.yaml").read_text()
    text = text.replace("domain: localhost", "domain: bench.localhost")
    text = re.sub(r"(?m)^\s+bind: .*$", "  bind: 0.0.0.0", text)
    if services:
        head, _, tail = text.partition("services:\n")
        rest = tail.split("\nbackup:", 1)[1]
        text = head + "services:\n" + "".join(f"  {s}:\n" for s in services) + "backup:" + rest
    (inv / "environment.yaml").write_text(text)
    (inv / "hosts.yaml").write_text(
        f"hosts:\n  vps:\n    address: {host.address}\n    user: root\n    ssh_key: {host.key_path}\n"
        "    roles: [edge, apps, stores]\n"
    )
    return root


def zixly(root: Path, env: dict[str, str], *args: str, timeout: float = 7200) -> subprocess.CompletedProcess[str]:
    """Run the CLI; raise with its output on failure."""
    res = subprocess.run(
        [sys.executable, "-m", "zixly_stack.cli", "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if res.returncode != 0:
        raise SystemExit(f"zixly {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res


def write_ansible(work: Path, host: VpsHost, rendered: Path) -> tuple[Path, Path, Path]:
    """Inventory, ansible.cfg and the playbook equivalent to a zixly no-op deploy."""
    files = sorted(p for p in rendered.rglob("*") if p.is_file())
    entries = [
        {"src": str(p), "dest": str(p.relative_to(rendered)), "mode": f"{p.stat().st_mode & 0o777:04o}"} for p in files
    ]
    projects = sorted({e["dest"].split("/")[0] for e in entries if e["dest"].endswith("/compose.yaml")})
    inventory = work / "inventory.ini"
    inventory.write_text(
        f"vps ansible_host={host.address} ansible_user=root ansible_ssh_private_key_file={host.key_path} "
        f"ansible_ssh_common_args='-o UserKnownHostsFile={host.known_hosts_path} -o StrictHostKeyChecking=yes'\n"
    )
    cfg = work / "ansible.cfg"
    cfg.write_text(
        "[defaults]\nhost_key_checking = True\ngathering = explicit\nstdout_callback = default\n"
        "interpreter_python = /usr/bin/python3\n[ssh_connection]\npipelining = True\n"
        "ssh_args = -o ControlMaster=auto -o ControlPersist=60s\n"
    )
    base = "/opt/zixly/bench/current"
    play = [
        {
            "hosts": "vps",
            "gather_facts": False,
            "vars": {"base": base, "entries": entries, "projects": projects},
            "tasks": [
                {
                    "name": "rendered files",
                    "ansible.builtin.copy": {
                        "src": "{{ item.src }}",
                        "dest": "{{ base }}/{{ item.dest }}",
                        "mode": "{{ item.mode }}",
                    },
                    "loop": "{{ entries }}",
                    "loop_control": {"label": "{{ item.dest }}"},
                    "no_log": True,
                    "register": "copied",
                },
                {
                    "name": "containers of the environment",
                    "ansible.builtin.command": "docker ps -a --filter label=org.zixly.env=bench --format json",
                    "changed_when": False,
                },
                {
                    "name": "compose up where files changed",
                    "ansible.builtin.command": "docker compose -f {{ base }}/{{ item }}/compose.yaml up -d --wait",
                    "loop": "{{ projects }}",
                    "when": "copied.results | selectattr('changed') | map(attribute='item.dest') "
                    "| select('match', item ~ '/') | list | length > 0",
                },
            ],
        }
    ]
    playbook = work / "playbook.yml"
    playbook.write_text(json.dumps(play, indent=1))
    return inventory, cfg, playbook


def run_ansible(exe: str, inventory: Path, cfg: Path, playbook: Path) -> tuple[float, str]:
    """One ansible-playbook run: (seconds, PLAY RECAP line)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(cfg), ANSIBLE_NOCOLOR="1")
    start = time.perf_counter()
    res = subprocess.run([exe, "-i", str(inventory), str(playbook)], capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{res.stdout[-3000:]}\n{res.stderr[-2000:]}")
    recap = next((line for line in res.stdout.splitlines() if "ok=" in line and "changed=" in line), "")
    return took, recap.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--services", help="comma-separated subset of the local environment's services")
    parser.add_argument("--keep", action="store_true", help="leave the test host up (prints how to reach it)")
    args = parser.parse_args()
    services = args.services.split(",") if args.services else None
    work = Path(tempfile.mkdtemp(prefix="zixly-bench-"))
    pool = VpsPool().open()
    try:
        (host,) = pool.hosts(1)
        root = make_root(work, host, services)
        key = work / "age.key"
        import pyrage

        key.write_text(str(pyrage.x25519.Identity.generate()) + "\n")
        key.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZIXLY_")}
        env.update(ZIXLY_AGE_KEY_FILE=str(key), ZIXLY_SSH_KNOWN_HOSTS=str(pool.known_hosts_path), COLUMNS="200")
        zixly(root, env, "secrets", "init", "bench")
        t = time.perf_counter()
        loaded = zixly(root, env, "images", "load", "bench")
        print(f"images load: {time.perf_counter() - t:.0f}s  {loaded.stderr.strip().splitlines()[-1]}", flush=True)
        t = time.perf_counter()
        first = json.loads(zixly(root, env, "deploy", "bench", "--yes", "--no-hooks", "--json").stdout)
        counts = first["hosts"][0]["plan"]["counts"]
        print(f"first deploy: {time.perf_counter() - t:.0f}s ({counts['files']} files, {counts['projects']} projects)")
        for _ in range(3):  # converge (an image rebuilt meanwhile is loaded and its containers recreated)
            report = json.loads(zixly(root, env, "deploy", "bench", "--yes", "--no-hooks", "--json").stdout)
            if report["hosts"][0]["status"] == "unchanged":
                break
        ours, inner = [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            report = json.loads(zixly(root, env, "deploy", "bench", "--yes", "--no-hooks", "--json").stdout)
            ours.append(time.perf_counter() - t)
            inner.append(report["seconds"])
            assert report["hosts"][0]["status"] == "unchanged", report
        zixly(root, env, "render", "bench", "--out", str(work / "rendered"))
        exe = ansible_playbook()
        inventory, cfg, playbook = write_ansible(work, host, work / "rendered" / "vps")
        converge, recap = run_ansible(exe, inventory, cfg, playbook)
        print(f"ansible converging run: {converge:.1f}s  {recap}")
        theirs = []
        for _ in range(args.runs):
            took, recap = run_ansible(exe, inventory, cfg, playbook)
            assert "changed=0" in recap, recap
            theirs.append(took)
        n_files = len(list((work / "rendered" / "vps").rglob("*.*")))
        z, a, zi = statistics.median(ours), statistics.median(theirs), statistics.median(inner)
        print(f"no-op redeploy over SSH, {n_files} files, median of {args.runs}:")
        print(f"  zixly deploy (whole CLI)   {z:6.2f}s   (deploy part alone {zi:.2f}s)")
        print(f"  ansible-playbook           {a:6.2f}s   {recap}")
        print(f"  ratio                      {a / z:6.1f}x  (deploy part alone: {a / zi:.1f}x)")
        if args.keep:
            print(f"kept: ssh -i {host.key_path} root@{host.address}; Ctrl-C to tear down")
            while True:
                time.sleep(3600)
    finally:
        pool.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
