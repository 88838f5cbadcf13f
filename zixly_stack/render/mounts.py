"""Host paths a container may not bind, judged on the path as the kernel would resolve it.

Pure string logic (render never looks at a host): ``//run/./docker.sock``,
``/var/run/../run/docker.sock`` and ``/var/run/docker.sock`` are one file, because
``/var/run`` is a symlink to ``/run`` on every distribution the stack targets (FHS 3.0).
"""

from __future__ import annotations

import posixpath

DOCKER_SOCKET = "/run/docker.sock"
# Canonical symlinks of the FHS: /var/run -> /run, /var/lock -> /run/lock.
SYMLINKS = (("/var/run", "/run"), ("/var/lock", "/run/lock"))
# CIS Docker Benchmark 5.6 ("/ /boot /dev /etc /lib /proc /sys /usr") plus what holds
# other sockets or every container's data: /run (containerd, podman, systemd sockets),
# /var/lib/docker and /var/lib/containerd (every volume and image layer), /root and the
# system binaries.
SENSITIVE = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/root", "/run", "/sbin",
             "/sys", "/usr", "/var/lib/containerd", "/var/lib/docker")


def canonical(path: str) -> str:
    """``path`` with repeated slashes, ``.`` and ``..`` resolved and FHS symlinks followed."""
    p = posixpath.normpath("/" + path.lstrip("/"))
    for link, target in SYMLINKS:
        if p == link or p.startswith(link + "/"):
            p = target + p[len(link):]
    return p


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top + "/")


def holds(path: str, inner: str) -> bool:
    """True when binding ``path`` exposes ``inner`` (equal, or an ancestor of it, symlinks included)."""
    if path == "/":
        return True
    if _under(inner, path):
        return True
    # an ancestor of a symlink exposes what the link points to: /var holds /var/run -> /run
    return any(_under(link, path) and _under(inner, target) for link, target in SYMLINKS)


def classify(source: str) -> tuple[str, str] | None:
    """``(kind, text)`` for a host bind source: ``socket`` (the Docker socket itself),
    ``socket_dir`` (a directory that contains it), ``sensitive``; None when harmless."""
    p = canonical(source)
    shown = source if p == source else f"{source} (that is {p})"
    if p == DOCKER_SOCKET or posixpath.basename(p) == "docker.sock":
        return "socket", f"mounts the Docker socket {shown}"
    if holds(p, DOCKER_SOCKET):
        return "socket_dir", f"mounts {shown}, a directory that holds the Docker socket"
    if any(holds(p, s) or _under(p, s) for s in SENSITIVE):
        return "sensitive", f"bind-mounts the sensitive host path {shown}"
    return None


def escapes(relative: str) -> bool:
    """True when a project-relative bind source (``./x``) leaves the project directory."""
    p = posixpath.normpath(relative)
    return p == ".." or p.startswith("../") or p.startswith("/")
