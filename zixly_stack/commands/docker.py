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


def compose_labelled() -> list[str]:
    """Every container carrying a Compose project label, one a line: id, name, project, ``org.zixly.env``,
    service, one-off flag and image, tab-separated (drift: containers in a project's namespace we did not make)."""
    fields = ("{{.ID}}", "{{.Names}}", '{{.Label "com.docker.compose.project"}}', '{{.Label "org.zixly.env"}}',
              '{{.Label "com.docker.compose.service"}}', '{{.Label "com.docker.compose.oneoff"}}', "{{.Image}}")
    return [DOCKER, "ps", "--all", "--no-trunc", "--filter", "label=com.docker.compose.project",
            "--format", "\t".join(fields)]


def network_projects() -> list[str]:
    """``name project`` of every network a Compose project made, one a line."""
    return [DOCKER, "network", "ls", "--filter", "label=com.docker.compose.project",
            "--format", '{{.Name}} {{.Label "com.docker.compose.project"}}']


def compose_config_hashes(file: str) -> list[str]:
    """``service hash`` lines: Compose's config hash of every service of *file* (what its
    ``com.docker.compose.config-hash`` label says when a container was made from it)."""
    return compose(file, "config", "--hash", "*")


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


# -- containers ------------------------------------------------------------------------------
STATE_FORMAT = ("{{.Name}}|{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}|"
                "{{.HostConfig.RestartPolicy.Name}}")


def container_states(names: Sequence[str]) -> list[str]:
    """``/name|status|health|restart policy`` of each container, one a line (missing ones are left out)."""
    return [DOCKER, "inspect", "--type", "container", "--format", STATE_FORMAT, *names]


def inspect_format(template: str, *names: str) -> list[str]:
    """``docker inspect --format TEMPLATE NAMES...`` (templates select fields; never the container env)."""
    return [DOCKER, "inspect", "--format", template, *names]


def project_containers(project: str) -> list[str]:
    """Names of every container (running or not) of Compose project *project*, one a line."""
    return [DOCKER, "ps", "-a", "--format", "{{.Names}}", "--filter", f"label=com.docker.compose.project={project}"]


def env_containers(env: str, template: str = "{{.Names}}") -> list[str]:
    """Every container of environment *env* (label ``org.zixly.env``), one a line in *template*."""
    return [DOCKER, "ps", "-a", "--filter", f"label=org.zixly.env={env}", "--format", template]


def find_argv(docker: Sequence[str], project: str, service: str) -> list[str]:
    """``docker ps`` listing running containers of a Compose project's service."""
    return [*docker, "ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
            "--filter", f"label=com.docker.compose.service={service}", "--filter", "status=running"]


def find_swarm_argv(docker: Sequence[str], project: str, service: str) -> list[str]:
    """``docker ps`` for a swarm stack's task of *service*."""
    return [*docker, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={project}_{service}",
            "--filter", "status=running"]


def stop(names: Sequence[str], grace: int | None = None) -> list[str]:
    """Stop containers (the engine stops them concurrently)."""
    return [DOCKER, "stop", *(["--time", str(grace)] if grace is not None else []), *names]


def start(*names: str) -> list[str]:
    """Start containers."""
    return [DOCKER, "start", *names]


def remove(*names: str) -> list[str]:
    """Remove containers (forced, with anonymous volumes)."""
    return [DOCKER, "rm", "-f", "-v", *names]


def exec_argv(docker: Sequence[str], container: str, argv: Sequence[str], *, user: str | None = None,
              interactive: bool = False) -> list[str]:
    """``docker exec [-i] [-u USER] CONTAINER ARGV...`` (``-i`` only when stdin is given); secrets go on stdin."""
    out = [*docker, "exec"]
    if interactive:
        out.append("-i")
    if user:
        out += ["-u", user]
    return [*out, container, *argv]


def exec_in(container: str, argv: Sequence[str], *, stdin: bool = False, user: str | None = None) -> list[str]:
    """:func:`exec_argv` with the host's ``docker``."""
    return exec_argv((DOCKER,), container, argv, user=user, interactive=stdin)


def volume_mountpoint(volume: str) -> list[str]:
    """The host directory of a volume."""
    return [DOCKER, "volume", "inspect", "--format", "{{.Mountpoint}}", volume]


def volume_remove(*volumes: str) -> list[str]:
    """Remove volumes."""
    return [DOCKER, "volume", "rm", "-f", *volumes]


def image_ids(refs: Sequence[str]) -> list[str]:
    """The id of each image (fails when one is missing)."""
    return [DOCKER, "image", "inspect", "--format", "{{.Id}}", *refs]


def image_pull(ref: str) -> list[str]:
    """Pull one image (registries only)."""
    return [DOCKER, "pull", "--quiet", ref]


def image_load_file(path: str) -> list[str]:
    """``docker load`` of a saved tar file."""
    return [DOCKER, "load", "--input", path]


def compose_stdin(project: str, *args: str) -> list[str]:
    """``docker compose -p PROJECT -f - ARGS``: the Compose file comes on stdin (scratch projects)."""
    return [DOCKER, "compose", *COMPOSE_GLOBAL, "-p", project, "-f", "-", *args]


def compose_version() -> list[str]:
    """The Compose plugin's version (fails when there is none)."""
    return [DOCKER, "compose", "version", "--short"]


def server_version() -> list[str]:
    """``<server version> <API version>`` of the engine."""
    return [DOCKER, "version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"]


def info_json() -> list[str]:
    """Everything ``docker info`` knows, as one JSON object."""
    return [DOCKER, "info", "--format", "{{json .}}"]


def api_version() -> list[str]:
    """The engine's API version."""
    return [DOCKER, "version", "--format", "{{.Server.APIVersion}}"]


def env_service_ports(env: str, service: str) -> list[str]:
    """The published ports of environment *env*'s containers of *service* (one line per container)."""
    return [DOCKER, "ps", "--filter", f"label=org.zixly.env={env}", "--filter", f"label=org.zixly.service={service}",
            "--format", "{{.Ports}}"]


def info_driver() -> list[str]:
    """The engine's storage driver."""
    return [DOCKER, "info", "--format", "{{.Driver}}"]


# -- the offline kit's builds (this machine) ---------------------------------------------------
def image_labels(tag: str) -> list[str]:
    """An image's labels as JSON (fails when there is no such image)."""
    return [DOCKER, "image", "inspect", "--format", "{{json .Config.Labels}}", tag]


def image_prune(label: str) -> list[str]:
    """Remove dangling images carrying *label* (``key=value``)."""
    return [DOCKER, "image", "prune", "-f", "--filter", f"label={label}"]


def image_import(changes: Sequence[str], source: str, tag: str) -> list[str]:
    """``docker import`` a tarball (``-``: stdin) as *tag* with Dockerfile *changes*."""
    return [DOCKER, "import", *[a for c in changes for a in ("--change", c)], source, tag]


def image_build(context: str, dockerfile: str, network: str, *, tag: str | None = None, iidfile: str | None = None,
                build_args: Sequence[str] = (), no_cache: bool = False) -> list[str]:
    """The legacy builder (``DOCKER_BUILDKIT=0``: no buildx here) on *context*."""
    argv = [DOCKER, "build", "--rm", "--force-rm", "-f", dockerfile, f"--network={network}"]
    if tag:
        argv += ["-t", tag]
    if iidfile:
        argv += ["--iidfile", iidfile]
    argv += [f"--build-arg={a}" for a in build_args]
    if no_cache:
        argv.append("--no-cache")
    return [*argv, context]


def create(image: str) -> list[str]:
    """Create (not start) a container of *image*; its id on stdout."""
    return [DOCKER, "create", image]


def export(container: str, path: str) -> list[str]:
    """A container's file system as a tar file."""
    return [DOCKER, "export", "-o", path, container]


def image_remove(image: str) -> list[str]:
    """Remove an image."""
    return [DOCKER, "rmi", image]


def root_dir() -> list[str]:
    """The engine's data directory (volumes and images live under it)."""
    return [DOCKER, "info", "--format", "{{.DockerRootDir}}"]
