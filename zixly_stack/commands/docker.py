"""argv builders for ``docker`` and ``docker compose`` on a host. Pure.

Compose is always called with ``--ansi never --progress plain`` so its output is
parseable text, and with ``-f <compose file>``: the project directory is the
file's directory *as given* (Compose does not resolve the ``current`` symlink), so
bind sources and the config hash stay the same across releases and only a changed
``org.zixly.files-hash`` label makes Compose recreate a container.
"""

from __future__ import annotations

from collections.abc import Sequence

DOCKER = "docker"
COMPOSE_GLOBAL = ("--ansi", "never", "--progress", "plain")


def compose(file: str, *args: str) -> list[str]:
    """``docker compose -f FILE ARGS...``."""
    return [DOCKER, "compose", *COMPOSE_GLOBAL, "-f", file, *args]


def compose_project(project: str, *args: str) -> list[str]:
    """``docker compose -p PROJECT ARGS...`` (for projects whose files are gone)."""
    return [DOCKER, "compose", *COMPOSE_GLOBAL, "-p", project, *args]


def compose_up_wait(file: str, services: Sequence[str], wait_timeout: int) -> list[str]:
    """Start *services* (and their dependencies) detached and wait until running/healthy.

    One-shot jobs that nothing depends on must not be listed (compose#11638: ``--wait``
    fails on any exited container, even with status 0); run them with
    :func:`compose_run_job`.
    """
    return compose(
        file,
        "up",
        "--detach",
        "--wait",
        "--wait-timeout",
        str(wait_timeout),
        "--remove-orphans",
        "--quiet-pull",
        *services,
    )


def compose_run_job(file: str, job: str) -> list[str]:
    """Run the one-shot service *job* attached; the exit status is the job's own."""
    return compose(file, "up", "--no-deps", "--no-log-prefix", "--exit-code-from", job, job)


def compose_config_check(file: str) -> list[str]:
    """Validate a compose file on the host (``config -q``)."""
    return compose(file, "config", "--quiet")


def compose_pull(file: str) -> list[str]:
    """Pull a project's images (only for registries; the offline kit is loaded instead)."""
    return compose(file, "pull", "--quiet", "--ignore-buildable")


def compose_down(project: str, *, volumes: bool = False) -> list[str]:
    """Stop and remove a project's containers and networks (volumes only if asked)."""
    return compose_project(project, "down", "--remove-orphans", *(["--volumes"] if volumes else []))


def network_create(name: str) -> list[str]:
    """Create an external bridge network."""
    return [DOCKER, "network", "create", "--driver", "bridge", name]


def network_ls() -> list[str]:
    """Names of every network, one a line."""
    return [DOCKER, "network", "ls", "--format", "{{.Name}}"]


def network_remove(name: str) -> list[str]:
    """Remove a network."""
    return [DOCKER, "network", "rm", name]


def network_attached(name: str) -> list[str]:
    """The names of the containers attached to network *name*, space-separated."""
    return [DOCKER, "network", "inspect", "--format", "{{range .Containers}}{{.Name}} {{end}}", name]


def volume_projects() -> list[str]:
    """``name project`` of every volume a Compose project made, one a line (data that outlives containers)."""
    return [DOCKER, "volume", "ls", "--filter", "label=com.docker.compose.project",
            "--format", '{{.Name}} {{.Label "com.docker.compose.project"}}']


def image_ls() -> list[str]:
    """``repo:tag id`` of every tagged image, one a line (full ids)."""
    return [DOCKER, "image", "ls", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]


CONTAINER_FORMAT = (
    '{"id":{{json .Id}},"name":{{json .Name}},"image":{{json .Image}},'
    '"ref":{{json .Config.Image}},"created":{{json .Created}},'
    '"labels":{{json .Config.Labels}},"restart":{{json .HostConfig.RestartPolicy.Name}},'
    '"state":{{json .State}}}'
)


def container_ids(env: str) -> list[str]:
    """Full ids of every container of environment *env* (by the ``org.zixly.env`` label)."""
    return [DOCKER, "ps", "--all", "--quiet", "--no-trunc", "--filter", f"label=org.zixly.env={env}"]


def project_container_ids(project: str) -> list[str]:
    """Full ids of every container of compose project *project*."""
    return [DOCKER, "ps", "--all", "--quiet", "--no-trunc", "--filter", f"label=com.docker.compose.project={project}"]


def container_inspect(ids: Sequence[str] = ()) -> list[str]:
    """One JSON object a line per container (see :data:`CONTAINER_FORMAT`)."""
    return [DOCKER, "inspect", "--type", "container", "--format", CONTAINER_FORMAT, *ids]


def logs_tail(container: str, lines: int = 30) -> list[str]:
    """The last *lines* log lines of a container (stdout and stderr)."""
    return [DOCKER, "logs", "--tail", str(lines), container]


def image_save(refs: Sequence[str]) -> list[str]:
    """``docker save`` of *refs* to stdout (a tar stream)."""
    return [DOCKER, "save", *refs]


def image_load() -> list[str]:
    """``docker load`` from stdin."""
    return [DOCKER, "load", "--quiet"]
