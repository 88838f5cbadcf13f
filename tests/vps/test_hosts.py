"""Two test hosts come up and behave like separate VPSes: own engine, identity, files, LAN."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.harness.vps import VpsHost, VpsPool
from tests.harness.vps_build import vps_storage_driver

pytestmark = pytest.mark.engine


def _banner(address: str, port: int = 22) -> bytes:
    with socket.create_connection((address, port), timeout=3) as sock:
        return sock.recv(64)


def test_each_host_runs_its_own_engine(vps: list[VpsHost]) -> None:
    a, b = vps
    info_a, info_b = a.docker_info(), b.docker_info()
    assert info_a["ID"] != info_b["ID"]
    assert (info_a["Name"], info_b["Name"]) == (a.name, b.name)
    driver = vps_storage_driver(a.dir.parent)
    assert info_a["Driver"] == info_b["Driver"] == driver
    assert a.data_root != b.data_root
    for host in vps:
        assert (host.data_root / "image" / driver).is_dir(), "engine data must be in the host dir"


def test_an_ssh_session_drives_the_hosts_own_engine(vps: list[VpsHost]) -> None:
    for host in vps:
        out = host.ssh(["docker", "info", "--format", "{{.ID}} {{.Name}} {{.DockerRootDir}}"],
                       check=True).stdout.split()
        assert out == [host.docker_info()["ID"], host.name, "/var/lib/docker"]
        compose = host.ssh(["docker", "compose", "version", "--short"], check=True)
        assert compose.stdout.strip(), "docker compose must work inside the host"


def test_hosts_have_their_own_identity_and_network(vps: list[VpsHost]) -> None:
    for host in vps:
        out = host.ssh(["sh", "-c", "hostname; cat /etc/hostname; id -un; ip -4 -o addr show eth0;"
                        " ip route"], check=True).stdout
        lines = out.splitlines()
        assert lines[:3] == [host.name, host.name, "root"]
        assert f"inet {host.address}/24" in lines[3]
        assert "default" not in out, "hosts are air-gapped: no default route"


def test_login_shell_is_light(vps: list[VpsHost]) -> None:
    """A login shell reads only the two empty startup files the harness wrote. The pool's hosts are
    shared by the run's tests, so a directory they leave in ``~`` may be there too (zixly's restic keeps
    its cache under the environment's state directory; tests/backup/test_restic_cache.py); no other
    startup file may be."""
    out = vps[0].ssh(["sh", "-c", "wc -c < ~/.bashrc; wc -c < ~/.profile; ls -A ~"],
                     check=True).stdout.split()
    assert out[:2] == ["0", "0"], out
    entries = set(out[2:])
    assert {".bashrc", ".profile", ".ssh"} <= entries, out
    assert not entries & {".bash_profile", ".bash_login", ".bash_logout", ".zshrc", ".zprofile", ".login"}, out


def test_files_written_on_a_host_stay_on_that_host(vps: list[VpsHost]) -> None:
    a, b = vps
    probe = "/opt/zixly-vps-probe.txt"
    a.ssh(["sh", "-c", f"echo {a.name} > {probe}; echo tmp > /tmp/zixly-vps-probe"], check=True)
    try:
        assert a.ssh(["cat", probe], check=True).stdout.strip() == a.name
        assert b.ssh(["test", "-e", probe]).returncode == 1
        assert b.ssh(["test", "-e", "/tmp/zixly-vps-probe"]).returncode == 1
        assert not Path(probe).exists(), "a host's writes must not reach this machine"
        assert (a.dir / "upper" / probe.lstrip("/")).read_text().strip() == a.name
    finally:
        a.ssh(["rm", "-f", probe, "/tmp/zixly-vps-probe"])


def test_hosts_reach_each_other_and_the_root_namespace_reaches_them(vps: list[VpsHost]) -> None:
    a, b = vps
    assert _banner(a.address).startswith(b"SSH-")
    assert a.in_netns(lambda: _banner(b.address)).startswith(b"SSH-")
    assert b.in_netns(lambda: _banner(a.address)).startswith(b"SSH-")


def test_host_keys_are_pinned(vps_pool: VpsPool, vps: list[VpsHost]) -> None:
    everyone = vps_pool.known_hosts_path.read_text().splitlines()
    for host in vps:
        own = host.known_hosts_path.read_text().splitlines()
        assert len(own) == 1 and own[0].split()[:2] == [host.address, "ssh-ed25519"]
        assert own[0] in everyone
        pinned = own[0].split()[2]
        assert host.ssh(["cut", "-d", " ", "-f", "2", "/etc/ssh/ssh_host_ed25519_key.pub"],
                        check=True).stdout.strip() == pinned
