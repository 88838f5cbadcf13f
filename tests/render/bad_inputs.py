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
            "services/crm/service.yaml:20:3: containers.worker: hardening: bind-mounts sensitive host path /etc (use a volume)"
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
