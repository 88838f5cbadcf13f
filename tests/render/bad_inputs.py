"""Bad-input cases for the mini repo: each mutates one file and expects exact messages.

A case is (id, file, old, new, expected). ``old`` is replaced by ``new`` once (``old=None``:
the file's whole text becomes ``new``; ``new=None``: the file is deleted). ``expected``
lists the exact problem lines (without the final count line).
"""

from __future__ import annotations

ENV = "inventories/base/environment.yaml"
HOSTS = "inventories/base/hosts.yaml"
N8N = "services/n8n/service.yaml"
CRM = "services/crm/service.yaml"

CASES: list[tuple[str, str, str | None, str | None, list[str]]] = [
    (
        "env-typo-top-level",
        ENV,
        "domain: example.com",
        "domian: example.com",
        [
            "inventories/base/environment.yaml:1:1: domain: required key is missing (add it)",
            "inventories/base/environment.yaml:1:1: domian: unknown key (did you mean 'domain'?)",
        ],
    ),
    (
        "env-typo-override",
        ENV,
        "    version: 2.41.1",
        "    verison: 2.41.1",
        ["inventories/base/environment.yaml:13:5: services.n8n.verison: unknown key (did you mean 'version'?)"],
    ),
    (
        "env-unknown-service",
        ENV,
        "  crm:\n",
        "  crm:\n  n8nn:\n",
        ["inventories/base/environment.yaml:15:3: services.n8nn: unknown service 'n8nn' (did you mean 'n8n'?)"],
    ),
    (
        "env-bad-store-mode",
        ENV,
        "stores: shared",
        "stores: both",
        [
            "inventories/base/environment.yaml:4:9: stores: invalid value 'both' (expected one of 'shared' or 'dedicated')"
        ],
    ),
    (
        "env-bad-mode",
        ENV,
        "stores: shared",
        "stores: shared\nmode: kubernetes",
        [
            "inventories/base/environment.yaml:5:7: mode: invalid value 'kubernetes' (expected one of 'compose' or 'swarm')"
        ],
    ),
    (
        "env-bad-domain",
        ENV,
        "domain: example.com",
        "domain: Example..com",
        [
            "inventories/base/environment.yaml:1:9: domain: invalid value 'Example..com' (expected a lowercase DNS name such as example.com)"
        ],
    ),
    (
        "env-port-not-number",
        ENV,
        "stores: shared",
        "stores: shared\nedge:\n  http_port: eighty",
        ["inventories/base/environment.yaml:6:14: edge.http_port: expected a number, got 'eighty'"],
    ),
    (
        "env-same-ports",
        ENV,
        "stores: shared",
        "stores: shared\nedge:\n  http_port: 443",
        [
            "inventories/base/environment.yaml:6:3: edge.https_port: http_port and https_port are the same port (use two different ports)"
        ],
    ),
    (
        "env-unpinned-version",
        ENV,
        "    version: 2.41.1",
        "    version: latest",
        [
            "inventories/base/environment.yaml:13:14: services.n8n.version: version 'latest' is not pinned (use an exact version such as 1.2.3)"
        ],
    ),
    (
        "env-missing-store",
        ENV,
        "  mariadb:\n",
        "",
        [
            "inventories/base/environment.yaml:13:3: services.crm: crm needs the 'mariadb' data store, which is not enabled (add 'mariadb:' under services)"
        ],
    ),
    (
        "env-missing-used-service",
        ENV,
        "  warehouse:\n",
        "",
        [
            "inventories/base/environment.yaml:11:3: services.n8n: n8n uses 'warehouse', which is not enabled (add 'warehouse:' under services)"
        ],
    ),
    (
        "env-subdomain-collision",
        ENV,
        "  crm:\n",
        "  crm:\n    subdomain: n8n\n",
        [
            "inventories/base/environment.yaml:12:3: services.n8n: subdomain 'n8n' is used by crm.web and n8n.n8n (set a different 'subdomain' for one of them)",
            "inventories/base/environment.yaml:12:3: services.n8n: route n8n.example.com/ is claimed by crm.web and n8n.n8n (give one route a distinct path_prefix or subdomain)",
        ],
    ),
    (
        "env-unknown-host",
        ENV,
        "    version: 2.41.1",
        "    version: 2.41.1\n    host: vps9",
        ["inventories/base/environment.yaml:14:11: services.n8n.host: unknown host 'vps9' (did you mean 'vps1'?)"],
    ),
    (
        "env-unknown-container",
        ENV,
        "    version: 2.41.1",
        "    version: 2.41.1\n    resources:\n      n8nx: {memory: 1g}",
        [
            "inventories/base/environment.yaml:15:7: services.n8n.resources.n8nx: service 'n8n' has no container 'n8nx' (did you mean 'n8n'?)"
        ],
    ),
    (
        "env-broken-yaml",
        ENV,
        "stores: shared",
        "stores: [shared",
        ["inventories/base/environment.yaml:5:9: YAML: did not find expected ',' or ']' (fix the YAML syntax)"],
    ),
    (
        "env-duplicate-key",
        ENV,
        "stores: shared",
        "stores: shared\nstores: dedicated",
        [
            "inventories/base/environment.yaml:5:1: stores: duplicate key (first defined on line 4) (each key may appear only once in a mapping)"
        ],
    ),
    (
        "env-no-acme",
        ENV,
        "acme:\n  email: ops@example.com\n",
        "",
        [
            "inventories/base/environment.yaml:1:9: domain: a public domain needs 'acme:' settings for certificates (add acme: {email: you@example.com})"
        ],
    ),
    (
        "env-standins-on-vps",
        ENV,
        "stores: shared",
        "stores: shared\nimages:\n  source: offline\n  allow_standins: true",
        [
            "inventories/base/environment.yaml:7:19: images.allow_standins: stand-in images are for local test environments only (remove allow_standins; real hosts must run the real apps)"
        ],
    ),
    (
        "env-mirror-without-url",
        ENV,
        "stores: shared",
        "stores: shared\nimages:\n  source: mirror",
        [
            "inventories/base/environment.yaml:6:3: images.mirror: images.source is 'mirror' but no mirror is set (set images.mirror: registry.example.com)"
        ],
    ),
    (
        "env-services-not-mapping",
        ENV,
        "services:\n",
        "services: [traefik]\nx:\n",
        [
            "inventories/base/environment.yaml:5:11: services: expected a mapping, got list",
            "inventories/base/environment.yaml:6:1: x: unknown key (allowed: acme, admin_email, backup, base_dir, description, domain, edge, images, memory_budget, mode, notifications, services, smtp, stores, swarm, timezone, tls)",
        ],
    ),
    (
        "env-bad-memory",
        ENV,
        "    version: 2.41.1",
        "    version: 2.41.1\n    resources:\n      n8n: {memory: lots}",
        [
            "inventories/base/environment.yaml:15:21: services.n8n.resources.n8n.memory: invalid value 'lots' (expected a size such as 512m or 2g)"
        ],
    ),
    ("hosts-missing", HOSTS, "", None, ["inventories/base/hosts.yaml: missing hosts.yaml (list at least one host)"]),
    (
        "hosts-bad-role",
        HOSTS,
        "roles: [edge, apps, stores]",
        "roles: [edge, apps, databases]",
        [
            "inventories/base/hosts.yaml:5:25: hosts.vps1.roles[2]: invalid value 'databases' (expected one of 'edge', 'apps', 'stores', 'manager' or 'worker')"
        ],
    ),
    (
        "hosts-bad-port",
        HOSTS,
        "    user: deploy",
        "    user: deploy\n    port: 70000",
        ["inventories/base/hosts.yaml:5:11: hosts.vps1.port: 70000 is too large (maximum 65535)"],
    ),
    (
        "hosts-bad-ipv4",
        HOSTS,
        "address: 203.0.113.10",
        "address: 203.0.113.310",
        [
            "inventories/base/hosts.yaml:3:14: hosts.vps1.address: '203.0.113.310' is not a valid IPv4 address (four numbers 0-255, such as 203.0.113.10)"
        ],
    ),
    (
        "hosts-bad-hostname",
        HOSTS,
        "address: 203.0.113.10",
        "address: vps_1.example.com",
        [
            "inventories/base/hosts.yaml:3:14: hosts.vps1.address: 'vps_1.example.com' is not a host name, an IP address or \"@local\""
        ],
    ),
    (
        "hosts-port-in-address",
        HOSTS,
        "address: 203.0.113.10",
        "address: 'vps1.example.com:2222'",
        [
            "inventories/base/hosts.yaml:3:14: hosts.vps1.address: 'vps1.example.com:2222' is not a valid IPv6 address (and a host name has no ':'; set port: separately)"
        ],
    ),
    ("hosts-empty", HOSTS, None, "hosts: {}\n", ["inventories/base/hosts.yaml:1:8: hosts: must not be empty"]),
    (
        "svc-floating-tag",
        N8N,
        "tag: 2.41.1",
        "tag: latest",
        [
            "services/n8n/service.yaml:11:41: containers.n8n.image.tag: image tag 'latest' is not pinned (use an exact version such as 1.2.3)"
        ],
    ),
    (
        "svc-undeclared-volume",
        N8N,
        "target: /home/node/.n8n",
        "target: /home/node/.n8n}, {volume: cache, target: /c",
        [
            "services/n8n/service.yaml:18:65: containers.n8n.volumes[1].volume: volume 'cache' is not declared in 'volumes' (add it to the service's volumes)"
        ],
    ),
    (
        "svc-unknown-secret",
        N8N,
        '"${secret:encryption_key}"',
        '"${secret:encryption_kye}"',
        [
            "services/n8n/service.yaml:16:27: containers.n8n.env.N8N_ENCRYPTION_KEY: ${secret:encryption_kye}: service 'n8n' declares no secret 'encryption_kye' (did you mean 'encryption_key'?)"
        ],
    ),
    (
        "svc-lone-dollar",
        N8N,
        "DB_TYPE: postgresdb",
        "DB_TYPE: postgres$db",
        [
            "services/n8n/service.yaml:13:16: containers.n8n.env.DB_TYPE: lone '$' at offset 8: write '$$' for a literal dollar or ${kind:name}"
        ],
    ),
    (
        "svc-secret-in-command",
        CRM,
        'command: [php, artisan, "queue:work"]',
        'command: [php, artisan, "queue:work", "${secret:app_key}"]',
        [
            "services/crm/service.yaml:22:43: containers.worker.command[3]: ${secret:app_key}: secrets may only appear in 'env' (read it from an environment variable ($$VAR) instead)"
        ],
    ),
    (
        "svc-unknown-depends-on",
        CRM,
        "depends_on: [web]",
        "depends_on: [webb]",
        [
            "services/crm/service.yaml:24:18: containers.worker.depends_on[0]: no container named 'webb' (did you mean 'web'?)"
        ],
    ),
    (
        "svc-missing-sources",
        CRM,
        "sources: [https://example.com/crm/docs]\n",
        "",
        ["services/crm/service.yaml:1:1: sources: required key is missing (add it)"],
    ),
    (
        "svc-route-port-range",
        CRM,
        "port: 80}",
        "port: 70000}",
        ["services/crm/service.yaml:18:37: containers.web.routes[0].port: 70000 is too large (maximum 65535)"],
    ),
    (
        "svc-name-mismatch",
        CRM,
        "name: crm",
        "name: crm2",
        [
            "services/crm/service.yaml:1:7: name: service name 'crm2' does not match its directory 'crm' (rename one of them)"
        ],
    ),
    (
        "svc-unknown-store-field",
        CRM,
        '"${store:mariadb.host}"',
        '"${store:mariadb.hostname}"',
        [
            "services/crm/service.yaml:14:16: containers.web.env.DB_HOST: ${store:mariadb.hostname}: unknown store field 'hostname' (did you mean 'host'?)"
        ],
    ),
    (
        "svc-sensitive-mount",
        CRM,
        "    depends_on: [web]",
        "    depends_on: [web]\n    host_mounts: [{source: /etc, target: /host-etc}]",
        [
            "services/crm/service.yaml:25:20: containers.worker.host_mounts[0].source: hardening [sensitive_mount]: "
            "bind-mounts the sensitive host path /etc (use a named volume; if this container really needs it, add to "
            'containers.worker: exceptions: [{rule: sensitive_mount, reason: "<why>"}])'
        ],
    ),
    (
        "svc-path-prefix-dotdot",
        CRM,
        "routes: [{subdomain: crm, port: 80}]",
        "routes: [{subdomain: crm, port: 80, path_prefix: /../admin}]",
        [
            "services/crm/service.yaml:18:54: containers.web.routes[0].path_prefix: invalid value '/../admin' "
            "(expected a path prefix such as /api/: segments of letters, digits, '.', '_', '~', '-', no '..' or '//')"
        ],
    ),
    (
        "svc-path-prefix-injects-rule",
        CRM,
        "routes: [{subdomain: crm, port: 80}]",
        "routes: [{subdomain: crm, port: 80, path_prefix: '/a`) || HostRegexp(`.*'}]",
        [
            "services/crm/service.yaml:18:54: containers.web.routes[0].path_prefix: invalid value "
            "'/a`) || HostRegexp(`.*' (expected a path prefix such as /api/: segments of letters, digits, '.', '_', "
            "'~', '-', no '..' or '//')"
        ],
    ),
    (
        "svc-subdomain-injects-rule",
        CRM,
        "routes: [{subdomain: crm, port: 80}]",
        "routes: [{subdomain: 'crm`) || HostRegexp(`.*', port: 80}]",
        [
            "services/crm/service.yaml:18:26: containers.web.routes[0].subdomain: invalid value "
            "'crm`) || HostRegexp(`.*' (expected a DNS label: lowercase letters, digits and '-')"
        ],
    ),
    (
        "env-subdomain-injects-rule",
        ENV,
        "  crm:\n",
        "  crm:\n    subdomain: 'crm`) || HostRegexp(`.+'\n",
        [
            "inventories/base/environment.yaml:15:16: services.crm.subdomain: invalid value "
            "'crm`) || HostRegexp(`.+' (expected a DNS label: lowercase letters, digits and '-')"
        ],
    ),
    (
        "env-dashboard-subdomain-injects-rule",
        ENV,
        "stores: shared",
        "stores: shared\nedge:\n  dashboard_subdomain: 'x`) || HostRegexp(`.*'",
        [
            "inventories/base/environment.yaml:6:24: edge.dashboard_subdomain: invalid value "
            "'x`) || HostRegexp(`.*' (expected a DNS label: lowercase letters, digits and '-')"
        ],
    ),
    (
        "env-cannot-grant-exceptions",
        ENV,
        "  crm:\n",
        "  crm:\n    exceptions: [{rule: non_root, reason: because the environment says so}]\n",
        [
            "inventories/base/environment.yaml:15:5: services.crm.exceptions: unknown key (allowed: data_major, "
            "enabled, env, host, replicas, resources, subdomain, version)"
        ],
    ),
    (
        "svc-privileged-not-expressible",
        CRM,
        "    depends_on: [web]",
        "    depends_on: [web]\n    privileged: true\n    network_mode: host",
        [
            "services/crm/service.yaml:25:5: containers.worker.privileged: unknown key (allowed: cap_add, command, "
            "contract, depends_on, entrypoint, env, exceptions, files, healthcheck, host_mounts, image, labels, "
            "networks, read_only, resources, role, routes, stop_grace_period, tmpfs, user, volumes, working_dir)",
            "services/crm/service.yaml:26:5: containers.worker.network_mode: unknown key (did you mean 'networks'?)",
        ],
    ),
    (
        "svc-two-errors",
        N8N,
        "description: n8n",
        "descripton: n8n\nkind: application",
        [
            "services/n8n/service.yaml:1:1: description: required key is missing (add it)",
            "services/n8n/service.yaml:2:1: descripton: unknown key (did you mean 'description'?)",
            "services/n8n/service.yaml:3:7: kind: invalid value 'application' (expected one of 'edge', 'store', 'app' or 'infra')",
        ],
    ),
    # -- issue 20: fields that took anything, names that became paths, loader bounds (i20paths) --
    (
        'env-port-above-65535',
        ENV,
        'stores: shared',
        'stores: shared\nedge:\n  https_port: 65536',
        [
            'inventories/base/environment.yaml:6:15: edge.https_port: 65536 is too large (maximum 65535)',
        ],
    ),
    (
        'env-port-zero',
        ENV,
        'stores: shared',
        'stores: shared\nedge:\n  http_port: 0',
        [
            'inventories/base/environment.yaml:6:14: edge.http_port: 0 is too small (minimum 1)',
        ],
    ),
    (
        'env-port-negative',
        ENV,
        'stores: shared',
        'stores: shared\nedge:\n  http_port: -80',
        [
            'inventories/base/environment.yaml:6:14: edge.http_port: -80 is too small (minimum 1)',
        ],
    ),
    (
        'env-port-boolean',
        ENV,
        'stores: shared',
        'stores: shared\nedge:\n  https_port: true',
        [
            'inventories/base/environment.yaml:6:15: edge.https_port: expected a number, got true',
        ],
    ),
    (
        'env-port-huge-number',
        ENV,
        'stores: shared',
        "stores: shared\nedge:\n  https_port: " + "9" * 50,
        [
            'inventories/base/environment.yaml:6:15: edge.https_port: number with 50 digits (no setting takes a number this large)',
        ],
    ),
    (
        'env-smtp-host-newline',
        ENV,
        'stores: shared',
        'stores: shared\nsmtp:\n  host: "smtp.example.com\\nEVIL=1"\n  from: ops@example.com',
        [
            "inventories/base/environment.yaml:6:9: smtp.host: invalid host 'smtp.example.com\\nEVIL=1' (expected a host name such as smtp.example.com or an IP address)",
        ],
    ),
    (
        'env-smtp-port-range',
        ENV,
        'stores: shared',
        'stores: shared\nsmtp:\n  host: smtp.example.com\n  port: 70000\n  from: ops@example.com',
        [
            'inventories/base/environment.yaml:7:9: smtp.port: 70000 is too large (maximum 65535)',
        ],
    ),
    (
        'env-smtp-from-invalid',
        ENV,
        'stores: shared',
        'stores: shared\nsmtp:\n  host: smtp.example.com\n  from: ops',
        [
            "inventories/base/environment.yaml:7:9: smtp.from: invalid e-mail address 'ops' (expected an address such as ops@example.com)",
        ],
    ),
    (
        'env-timezone-path',
        ENV,
        'stores: shared',
        'stores: shared\ntimezone: ../../etc/passwd',
        [
            "inventories/base/environment.yaml:5:11: timezone: unknown time zone '../../etc/passwd' (expected an IANA time zone name such as Europe/Paris or UTC)",
        ],
    ),
    (
        'env-timezone-unknown',
        ENV,
        'stores: shared',
        'stores: shared\ntimezone: Europe/Pari',
        [
            "inventories/base/environment.yaml:5:11: timezone: unknown time zone 'Europe/Pari' (did you mean 'Europe/Paris'?)",
        ],
    ),
    (
        'env-base-dir-dotdot',
        ENV,
        'stores: shared',
        'stores: shared\nbase_dir: /opt/../../etc',
        [
            "inventories/base/environment.yaml:5:11: base_dir: invalid path '/opt/../../etc': path contains '..' (expected an absolute, normalized path such as /var/lib/data, without '..', spaces or quotes)",
        ],
    ),
    (
        'env-base-dir-root',
        ENV,
        'stores: shared',
        'stores: shared\nbase_dir: /',
        [
            "inventories/base/environment.yaml:5:11: base_dir: '/' is a system directory (use a directory of its own such as /opt/zixly or /srv/zixly)",
        ],
    ),
    (
        'env-base-dir-system',
        ENV,
        'stores: shared',
        'stores: shared\nbase_dir: /etc/zixly',
        [
            "inventories/base/environment.yaml:5:11: base_dir: '/etc/zixly' is under /etc (use a directory of its own such as /opt/zixly or /srv/zixly)",
        ],
    ),
    (
        'env-base-dir-shell',
        ENV,
        'stores: shared',
        "stores: shared\nbase_dir: '/opt/$(reboot)'",
        [
            "inventories/base/environment.yaml:5:11: base_dir: invalid path '/opt/$(reboot)': component '$(reboot)' has characters other than letters, digits and . _ @ + - (expected an absolute, normalized path such as /var/lib/data, without '..', spaces or quotes)",
        ],
    ),
    (
        'env-bind-invalid-ip',
        ENV,
        'stores: shared',
        'stores: shared\nedge:\n  bind: 999.1.1.1',
        [
            "inventories/base/environment.yaml:6:9: edge.bind: invalid IP address '999.1.1.1' (expected an IPv4 address such as 127.0.0.1, or an IPv6 address such as [::1])",
        ],
    ),
    (
        'env-bind-ipv6-unbracketed',
        ENV,
        'stores: shared',
        "stores: shared\nedge:\n  bind: '::1'",
        [
            "inventories/base/environment.yaml:6:9: edge.bind: invalid IP address '::1' (write an IPv6 address in brackets, an IPv4 one without)",
        ],
    ),
    (
        'env-admin-email-invalid',
        ENV,
        'stores: shared',
        "stores: shared\nadmin_email: 'admin at example.com'",
        [
            "inventories/base/environment.yaml:5:14: admin_email: invalid e-mail address 'admin at example.com' (expected an address such as ops@example.com)",
        ],
    ),
    (
        'env-acme-email-quote',
        ENV,
        '  email: ops@example.com',
        '  email: "o\'brien@example.com"',
        [
            'inventories/base/environment.yaml:3:10: acme.email: invalid e-mail address "o\'brien@example.com" (expected an address such as ops@example.com)',
        ],
    ),
    (
        'env-notify-email-invalid',
        ENV,
        'stores: shared',
        'stores: shared\nnotifications:\n  email_to: [ops]',
        [
            "inventories/base/environment.yaml:6:14: notifications.email_to[0]: invalid e-mail address 'ops' (expected an address such as ops@example.com)",
        ],
    ),
    (
        'env-webhook-space',
        ENV,
        'stores: shared',
        "stores: shared\nnotifications:\n  webhook: 'https://hooks.example.com/a b'",
        [
            "inventories/base/environment.yaml:6:12: notifications.webhook: invalid URL 'https://hooks.example.com/a b' (expected an http(s):// URL with a host name, no spaces, quotes or control characters)",
        ],
    ),
    (
        'env-override-var-space',
        ENV,
        '  crm:\n',
        "  crm:\n    env:\n      web:\n        'MY VAR': x\n",
        [
            "inventories/base/environment.yaml:17:9: services.crm.env.web['MY VAR']: invalid value 'MY VAR' (expected an environment variable name: letters, digits and '_', not starting with a digit, no spaces or '=')",
        ],
    ),
    (
        'env-override-var-equals',
        ENV,
        '  crm:\n',
        "  crm:\n    env:\n      web:\n        'A=B': x\n",
        [
            "inventories/base/environment.yaml:17:9: services.crm.env.web['A=B']: invalid value 'A=B' (expected an environment variable name: letters, digits and '_', not starting with a digit, no spaces or '=')",
        ],
    ),
    (
        'env-override-value-newline',
        ENV,
        '  crm:\n',
        '  crm:\n    env:\n      web:\n        A: "x\\nB=y"\n',
        [
            'inventories/base/environment.yaml:17:12: services.crm.env.web.A: value contains a newline at offset 1 (an environment value is one line; remove the control character)',
        ],
    ),
    (
        'env-override-placeholder-syntax',
        ENV,
        '  crm:\n',
        "  crm:\n    env:\n      web:\n        A: 'cost: 5$'\n",
        [
            "inventories/base/environment.yaml:17:12: services.crm.env.web.A: lone '$' at offset 7: write '$$' for a literal dollar or ${kind:name}",
        ],
    ),
    (
        'env-override-unknown-secret',
        ENV,
        '  crm:\n',
        "  crm:\n    env:\n      web:\n        A: '${secret:app_kye}'\n",
        [
            "inventories/base/environment.yaml:17:12: services.crm.env.web.A: ${secret:app_kye}: service 'crm' declares no secret 'app_kye' (did you mean 'app_key'?)",
        ],
    ),
    (
        'env-override-quote-around-secret',
        ENV,
        '  crm:\n',
        '  crm:\n    env:\n      web:\n        A: "key=\'${secret:app_key}\'"\n',
        [
            'inventories/base/environment.yaml:17:12: services.crm.env.web.A: a value that carries a secret goes to an env file, which cannot hold a single quote or a line break (remove the quote from the text around the placeholder)',
        ],
    ),
    (
        'env-override-host-path',
        ENV,
        '  crm:\n',
        '  crm:\n    host: ../vps1\n',
        [
            "inventories/base/environment.yaml:15:11: services.crm.host: invalid host name '../vps1' (expected a DNS label: lowercase letters, digits and '-', 1 to 63 characters, not starting or ending with '-', such as 'production' or 'vps1')",
        ],
    ),
    (
        'env-backup-path-shell',
        ENV,
        'stores: shared',
        "stores: shared\nbackup:\n  target: {type: local, path: '/var/backups/$(reboot)'}",
        [
            "inventories/base/environment.yaml:6:31: backup.target.path: invalid path '/var/backups/$(reboot)': component '$(reboot)' has characters other than letters, digits and . _ @ + - (expected an absolute, normalized path such as /var/lib/data, without '..', spaces or quotes)",
        ],
    ),
    (
        'env-backup-url-shell',
        ENV,
        'stores: shared',
        "stores: shared\nbackup:\n  target: {type: sftp, url: 'sftp:u@h:/x;reboot'}",
        [
            "inventories/base/environment.yaml:6:29: backup.target.url: invalid value 'sftp:u@h:/x;reboot' (expected a restic repository such as sftp:backup@host:/srv/restic or s3:https://host/bucket, without spaces, quotes or '$')",
        ],
    ),
    (
        'env-backup-s3-no-url',
        ENV,
        'stores: shared',
        'stores: shared\nbackup:\n  target: {type: s3}',
        [
            "inventories/base/environment.yaml:6:11: backup.target: an s3 target needs 'url' (such as s3:https://s3.eu-central-1.amazonaws.com/bucket/zixly)",
        ],
    ),
    (
        'env-retention-huge',
        ENV,
        'stores: shared',
        'stores: shared\nbackup:\n  retention: {daily: 100000}',
        [
            'inventories/base/environment.yaml:6:22: backup.retention.daily: 100000 is too large (maximum 3660)',
        ],
    ),
    (
        'env-mirror-url',
        ENV,
        'stores: shared',
        "stores: shared\nimages:\n  source: mirror\n  mirror: 'https://registry.example.com'",
        [
            "inventories/base/environment.yaml:7:11: images.mirror: invalid value 'https://registry.example.com' (expected a registry host[:port][/path] such as registry.example.com:5000/mirror)",
        ],
    ),
    (
        'env-description-newline',
        ENV,
        'stores: shared',
        'stores: shared\ndescription: "one\\ntwo"',
        [
            'inventories/base/environment.yaml:5:14: description: text contains a newline at offset 3 (one line of text without control characters)',
        ],
    ),
    (
        'env-upload-timeout-overflow',
        ENV,
        'stores: shared',
        'stores: shared\nedge:\n  upload_timeout: 99999999999s',
        [
            "inventories/base/environment.yaml:6:19: edge.upload_timeout: '99999999999s' is too long: 12 characters (at most 8 characters)",
        ],
    ),
    (
        'env-acme-dns-without-provider',
        ENV,
        '  email: ops@example.com',
        '  email: ops@example.com\n  challenge: dns',
        [
            "inventories/base/environment.yaml:3:3: acme: challenge 'dns' needs dns_provider (the lego provider code, such as cloudflare)",
        ],
    ),
    (
        'env-alias-bomb',
        ENV,
        'stores: shared',
        "stores: shared\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 9)),
        [
            'inventories/base/environment.yaml:9:1: x4: aliases expand to more than 20000 values (an alias bomb? write the values out or use fewer nested aliases)',
        ],
    ),
    (
        'env-recursive-alias',
        ENV,
        'stores: shared',
        'stores: shared\nx: &self [*self]',
        [
            'inventories/base/environment.yaml:5:4: recursive alias: this value contains itself (an anchor cannot be used inside its own value)',
        ],
    ),
    (
        'env-nesting-too-deep',
        ENV,
        'stores: shared',
        "stores: shared\nx: " + "[" * 100 + "]" * 100,
        [
            'inventories/base/environment.yaml:5:67: nesting deeper than 64 levels (configuration is never this deep; check the brackets)',
        ],
    ),
    (
        'env-too-many-aliases',
        ENV,
        'stores: shared',
        "stores: shared\nx: &v 1\ny: [" + ", ".join(["*v"] * 101) + "]",
        [
            'inventories/base/environment.yaml:6:405: more than 100 aliases in one file (write the values out, or use fewer aliases)',
        ],
    ),
    (
        'env-number-too-long',
        ENV,
        'stores: shared',
        "stores: shared\nedge:\n  http_port: " + "1" * 5000,
        [
            'inventories/base/environment.yaml:6:14: edge.http_port: number with 5000 digits (no setting takes a number this large)',
        ],
    ),
    (
        'hosts-name-escape',
        HOSTS,
        '  vps1:\n',
        '  ../../../escape:\n',
        [
            "inventories/base/hosts.yaml:2:3: hosts['../../../escape']: invalid host name '../../../escape' (expected a DNS label: lowercase letters, digits and '-', 1 to 63 characters, not starting or ending with '-', such as 'production' or 'vps1')",
        ],
    ),
    (
        'hosts-name-uppercase',
        HOSTS,
        '  vps1:\n',
        '  VPS1:\n',
        [
            "inventories/base/hosts.yaml:2:3: hosts.VPS1: invalid host name 'VPS1' (expected a DNS label: lowercase letters, digits and '-', 1 to 63 characters, not starting or ending with '-', such as 'production' or 'vps1')",
        ],
    ),
    (
        'hosts-name-number',
        HOSTS,
        '  vps1:\n',
        '  123:\n',
        [
            'inventories/base/hosts.yaml:2:3: hosts[123]: expected a string, got 123 (quote the value)',
        ],
    ),
    (
        'hosts-user-shell',
        HOSTS,
        '    user: deploy',
        "    user: 'deploy; reboot'",
        [
            "inventories/base/hosts.yaml:4:11: hosts.vps1.user: invalid value 'deploy; reboot' (expected a Unix user name such as deploy: lowercase letters, digits, '_' and '-')",
        ],
    ),
    (
        'hosts-label-space',
        HOSTS,
        '    user: deploy',
        "    user: deploy\n    labels: {'zone a': x}",
        [
            "inventories/base/hosts.yaml:5:14: hosts.vps1.labels['zone a']: invalid value 'zone a' (expected a label key: lowercase letters, digits, '.', '_' and '-')",
        ],
    ),
    (
        'svc-template-etc-passwd',
        CRM,
        '    routes: [{subdomain: crm, port: 80}]',
        '    routes: [{subdomain: crm, port: 80}]\n    files: [{template: /etc/passwd, target: /etc/app.conf}]',
        [
            "services/crm/service.yaml:19:24: containers.web.files[0].template: invalid path '/etc/passwd': an absolute path where a relative one is expected (expected a relative path such as files/nginx.conf, without '..')",
        ],
    ),
    (
        'svc-template-dotdot',
        CRM,
        '    routes: [{subdomain: crm, port: 80}]',
        '    routes: [{subdomain: crm, port: 80}]\n    files: [{template: ../../../../etc/passwd, target: /etc/app.conf}]',
        [
            "services/crm/service.yaml:19:24: containers.web.files[0].template: invalid path '../../../../etc/passwd': path contains '..' (expected a relative path such as files/nginx.conf, without '..')",
        ],
    ),
    (
        'svc-file-target-dotdot',
        CRM,
        '    routes: [{subdomain: crm, port: 80}]',
        '    routes: [{subdomain: crm, port: 80}]\n    files: [{template: app.conf, target: /..}]',
        [
            "services/crm/service.yaml:19:42: containers.web.files[0].target: invalid path '/..': path contains '..' (expected an absolute, normalized path such as /var/lib/data, without '..', spaces or quotes)",
        ],
    ),
    (
        'svc-volume-target-root',
        N8N,
        'target: /home/node/.n8n',
        'target: /',
        [
            "services/n8n/service.yaml:18:38: containers.n8n.volumes[0].target: invalid path '/': a mount target cannot be the root (expected a path such as /data)",
        ],
    ),
    (
        'svc-host-mount-dotdot',
        CRM,
        '    depends_on: [web]',
        '    depends_on: [web]\n    host_mounts: [{source: /srv/../etc, target: /x}]',
        [
            "services/crm/service.yaml:25:28: containers.worker.host_mounts[0].source: invalid path '/srv/../etc': path contains '..' (expected an absolute, normalized path such as /var/lib/data, without '..', spaces or quotes)",
        ],
    ),
    (
        'svc-env-name-space',
        CRM,
        '      APP_KEY:',
        "      'APP KEY':",
        [
            "services/crm/service.yaml:13:7: containers.web.env['APP KEY']: invalid value 'APP KEY' (expected an environment variable name: letters, digits and '_', not starting with a digit, no spaces or '=')",
        ],
    ),
    (
        'svc-env-value-nul',
        CRM,
        '      N8N_URL: "${url:n8n}"',
        '      N8N_URL: "a\\0b"',
        [
            'services/crm/service.yaml:16:16: containers.web.env.N8N_URL: value contains a NUL byte at offset 1 (an environment value is one line; remove the control character)',
        ],
    ),
    (
        'svc-quote-around-secret',
        CRM,
        '      APP_KEY: "${secret:app_key}"',
        '      APP_KEY: "k=\'${secret:app_key}\'"',
        [
            'services/crm/service.yaml:13:16: containers.web.env.APP_KEY: a value that carries a secret goes to an env file, which cannot hold a single quote or a line break (remove the quote from the text around the placeholder)',
        ],
    ),
    (
        'svc-extension-sql',
        N8N,
        '{kind: postgres, database: n8n, user: n8n}',
        "{kind: postgres, database: n8n, user: n8n, extensions: ['vector; DROP TABLE x']}",
        [
            "services/n8n/service.yaml:6:66: stores[0].extensions[0]: invalid value 'vector; DROP TABLE x' (expected a lowercase identifier: letters, digits and '_', starting with a letter)",
        ],
    ),
    (
        'svc-backup-database-sql',
        CRM,
        '  databases: [{store: mariadb}]',
        "  databases: [{store: mariadb, database: 'crm; drop'}]",
        [
            "services/crm/service.yaml:27:42: backup.databases[0].database: invalid value 'crm; drop' (expected a lowercase identifier: letters, digits and '_', starting with a letter)",
        ],
    ),
    (
        'svc-hook-outside-package',
        N8N,
        'healthcheck: {test: ["node", "-e", "process.exit(0)"]}',
        'healthcheck: {test: ["node", "-e", "process.exit(0)"]}\nhooks:\n  - {name: evil, run: "os:system"}',
        [
            "services/n8n/service.yaml:22:23: hooks[0].run: invalid value 'os:system' (expected a hook function such as zixly_stack.hooks.n8n:ensure_owner)",
        ],
    ),
    (
        'svc-tmpfs-shell',
        CRM,
        '    depends_on: [web]',
        "    depends_on: [web]\n    tmpfs: ['/tmp; reboot']",
        [
            "services/crm/service.yaml:25:13: containers.worker.tmpfs[0]: invalid value '/tmp; reboot' (expected an absolute path, optionally ':' and options such as /tmp:size=64m)",
        ],
    ),
    (
        'svc-duration-overflow',
        CRM,
        'healthcheck: {test: "pgrep -f queue:work"}',
        'healthcheck: {test: "pgrep -f queue:work", interval: 9999999999h}',
        [
            "services/crm/service.yaml:25:58: containers.worker.healthcheck.interval: '9999999999h' is too long: 11 characters (at most 8 characters)",
        ],
    ),
    (
        'svc-container-name-path',
        N8N,
        'containers:\n  n8n:',
        'containers:\n  ../x:',
        [
            "services/n8n/service.yaml:10:3: containers['../x']: invalid value '../x' (expected lowercase letters, digits and '-', starting with a letter)",
        ],
    ),
    (
        'svc-source-not-url',
        CRM,
        'sources: [https://example.com/crm/docs]',
        "sources: ['see the wiki']",
        [
            "services/crm/service.yaml:3:11: sources[0]: invalid URL 'see the wiki' (expected an http(s):// URL with a host name, no spaces, quotes or control characters)",
        ],
    ),
    (
        "svc-shared-ratelimit-middleware",
        N8N,
        "rate_limit: ui}",
        "middlewares: [ratelimit]}",
        ["services/n8n/service.yaml:19:56: containers.n8n.routes[0].middlewares: 'ratelimit' is no longer a middleware: give the route `rate_limit: <profile>` (static, ui, api, signin, webhook), the limit that fits its traffic"],
    ),
    (
        "svc-unknown-rate-limit-profile",
        N8N,
        "rate_limit: ui}",
        "rate_limit: assets}",
        ["services/n8n/service.yaml:19:55: containers.n8n.routes[0].rate_limit: invalid value 'assets' (expected one of 'static', 'ui', 'api', 'signin' or 'webhook')"],
    ),
    (
        "svc-sign-in-unknown-secret",
        N8N,
        "volumes: [data]\n",
        "volumes: [data]\nsign_in: {user: admin, password: encryption_kye, first_admin: set by env at start, "
        "source: https://docs.n8n.io}\n",
        ["services/n8n/service.yaml:5:34: sign_in.password: this service declares no secret 'encryption_kye' (did you mean 'encryption_key'?)"],
    ),
    (
        "env-rate-limit-typo",
        ENV,
        "stores: shared",
        "stores: shared\nedge: {rate_limits: {ui: {burts: 10}}, trusted_proxies: [10.0.0.0/33]}",
        [
            "inventories/base/environment.yaml:5:27: edge.rate_limits.ui.burts: unknown key (did you mean 'burst'?)",
            "inventories/base/environment.yaml:5:57: edge.trusted_proxies: '10.0.0.0/33' is not an IP address or CIDR network such as 173.245.48.0/20",
        ],
    ),
]
