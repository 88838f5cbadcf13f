"""Bad inputs of each cross-field validation rule (:mod:`zixly_stack.catalog.rules`), keyed by rule.

``CASES[rule]`` lists ``(case id, edits, expected)``: the edits break the mini repo
(``tests/fixtures/minirepo``) in one way, and ``expected`` is every problem ``zixly validate``
then reports, exactly as printed: ``file:line:col: key.path: message (hint)``. Each case is also
run with its rule taken out of the registry, and must then lose a problem: the rule, not a
neighbour, is what catches it. An edit is ``(file, old, new)``: ``old`` is replaced by ``new``
once.
"""

from __future__ import annotations

CRM = "services/crm/service.yaml"
N8N = "services/n8n/service.yaml"
PG = "services/postgres/service.yaml"
ENV = "inventories/base/environment.yaml"
HOSTS = "inventories/base/hosts.yaml"

Edit = tuple[str, str, str]
Case = tuple[str, list[Edit], list[str]]

WORKER = '    healthcheck: {test: "pgrep -f queue:work"}'
BACKUP = "backup:\n  databases: [{store: mariadb}]"
WEB_ENV = '      APP_URL: "${url:crm}"'
SIGN_IN = ("sign_in: {{user: \"{user}\", password: {password}, first_admin: \"created by the image's installer\", "
           "source: \"https://example.com/crm/docs\"}}\n")


def crm(old: str, new: str) -> list[Edit]:
    """One replacement in the crm service."""
    return [(CRM, old, new)]


def worker(line: str) -> list[Edit]:
    """One more key (a 4-space indented line) for the crm worker container."""
    return crm(WORKER, WORKER + "\n" + line)


def web_env(line: str) -> list[Edit]:
    """One more env variable (``NAME: value``) of the crm web container."""
    return crm(WEB_ENV, WEB_ENV + "\n      " + line)


def env(old: str, new: str) -> list[Edit]:
    """One replacement in environment.yaml."""
    return [(ENV, old, new)]


def env_tail(text: str) -> list[Edit]:
    """Lines appended to environment.yaml (after ``crm:``, its last line)."""
    return env("  crm:\n", "  crm:\n" + text)


CRM_BACKUP = "backup:\n  databases: [{store: mariadb}]\n  volumes: [media]\n"
MINOR3 = r"^(?P<major>[0-9]+)\.(?P<minor>[0-9]+\.[0-9]+)$"


def crm_upgrade(pattern: str) -> list[Edit]:
    """An ``upgrade:`` block (version pattern *pattern*, downgrade needs a restore) after crm's backup."""
    return crm(CRM_BACKUP, CRM_BACKUP + f"upgrade:\n  version: '{pattern}'\n"
               "  downgrade: {needs: restore, why: a newer schema, source: https://example.com/crm/upgrade}\n"
               "  sources: [https://example.com/crm/upgrade]\n")


def crm_at(line: int, col: int) -> str:
    return f"{CRM}:{line}:{col}"


def env_at(line: int, col: int) -> str:
    return f"{ENV}:{line}:{col}"


CASES: dict[str, list[Case]] = {
    "pinned_image": [
        ("latest", crm("tag: 5.10.3}", "tag: latest}"),
         [f"{crm_at(10, 43)}: containers.web.image.tag: image tag 'latest' is not pinned "
          "(use an exact version such as 1.2.3)"]),
        ("bare-major", crm("tag: 5.10.3}", "tag: v5}"),
         [f"{crm_at(10, 43)}: containers.web.image.tag: image tag 'v5' is not pinned "
          "(use an exact version such as 1.2.3)"]),
    ],
    "declared_volumes": [
        ("typo", crm("[{volume: media,", "[{volume: medai,"),
         [f"{crm_at(17, 24)}: containers.web.volumes[0].volume: volume 'medai' is not declared in 'volumes' "
          "(did you mean 'media'?)"]),
    ],
    "depends_on_siblings": [
        ("typo", crm("depends_on: [web]", "depends_on: [wbe]"),
         [f"{crm_at(24, 18)}: containers.worker.depends_on[0]: no container named 'wbe' (did you mean 'web'?)"]),
    ],
    "file_templates": [
        ("missing", worker("    files: [{template: nothing-here.conf, target: /etc/x.conf}]"),
         [f"{crm_at(26, 24)}: containers.worker.files[0].template: template 'nothing-here.conf' not found "
          "(looked in services/crm/ and templates/)"]),
    ],
    "service_healthcheck": [
        ("none", crm("\n" + WORKER, ""),
         [f"{crm_at(21, 5)}: containers.worker: long-running container has no healthcheck "
          "(add 'healthcheck:' or an exception with a reason)"]),
    ],
    "distinct_route_names": [
        ("unnamed-twice", crm("routes: [{subdomain: crm, port: 80}]",
                              "routes: [{subdomain: crm, port: 80}, {subdomain: crm, port: 81, path_prefix: /api}]"),
         [f"{crm_at(18, 42)}: containers.web.routes[1]: two routes without distinct names (give each route a 'name')"]),
    ],
    "backup_volumes": [
        ("typo", crm(BACKUP + "\n  volumes: [media]", BACKUP + "\n  volumes: [medai]"),
         [f"{crm_at(28, 13)}: backup.volumes[0]: volume 'medai' is not declared (did you mean 'media'?)"]),
    ],
    "backup_step_containers": [
        ("typo", crm(BACKUP, BACKUP + "\n  pre: [{container: wokrer, command: [php, artisan, down]}]"),
         [f"{crm_at(28, 21)}: backup.pre[0].container: no container named 'wokrer' (did you mean 'worker'?)"]),
    ],
    "backup_database_store": [
        ("unbound", crm("databases: [{store: mariadb}]", "databases: [{store: postgres}]"),
         [f"{crm_at(27, 23)}: backup.databases[0].store: this service binds no 'postgres' store "
          "(add it under 'stores:')"]),
    ],
    "bcrypt_source": [
        ("unknown-of", crm("secrets:\n", "secrets:\n  admin_hash: {type: bcrypt, of: admin_pw}\n"),
         [f"{crm_at(7, 34)}: secrets.admin_hash.of: bcrypt secret needs 'of' naming another secret of this service "
          "(declare the secret it hashes under 'secrets:')"]),
    ],
    "known_uses": [
        ("typo", [(N8N, "uses: [warehouse]", "uses: [warehous]")],
         ["inventories/base/environment.yaml:12:3: services.n8n: n8n uses 'warehous', which is not enabled "
          "(add 'warehous:' under services)",
          "services/n8n/service.yaml:5:8: uses[0]: unknown service 'warehous' (did you mean 'warehouse'?)"]),
    ],
    "store_server": [
        ("renamed", [(PG, "  server:", "  main:")],
         ["services/postgres/service.yaml:8:3: containers: a store needs a container named 'server'"]),
    ],
    "known_hook_needs": [
        ("unknown", crm(BACKUP, "hooks: [{name: seed, run: \"zixly_stack.hooks.x:y\", needs: [migrate]}]\n" + BACKUP),
         [f"{crm_at(26, 60)}: hooks[0].needs[0]: unknown hook 'migrate'"]),
    ],
    "placeholder_syntax": [
        ("unclosed", crm('"${url:crm}"', '"${url:crm"'),
         [f"{crm_at(12, 16)}: containers.web.env.APP_URL: unterminated placeholder '${{url:crm' at offset 0: "
          "close it with '}' (or write '$$' for a literal dollar)"]),
        ("malformed", crm('"${url:crm}"', '"${url:my crm}"'),
         [f"{crm_at(12, 16)}: containers.web.env.APP_URL: malformed placeholder '${{url:my crm}}' at offset 0: "
          "expected ${kind:name}, kind in lowercase letters, name of letters, digits, '_', '.' or '-'"]),
        ("lone-dollar", crm('"${url:crm}"', '"5$ a month"'),
         [f"{crm_at(12, 16)}: containers.web.env.APP_URL: lone '$' at offset 1: write '$$' for a literal dollar "
          "or ${kind:name}"]),
    ],
    "secrets_only_in_env": [
        ("in-command", crm('[php, artisan, "queue:work"]', '[php, artisan, "${secret:app_key}"]'),
         [f"{crm_at(22, 29)}: containers.worker.command[2]: ${{secret:app_key}}: secrets may only appear in 'env' "
          "(read it from an environment variable ($$VAR) instead)"]),
    ],
    "secret_references": [
        ("undeclared", crm('"${secret:app_key}"', '"${secret:app_kye}"'),
         [f"{crm_at(13, 16)}: containers.web.env.APP_KEY: ${{secret:app_kye}}: service 'crm' declares no secret "
          "'app_kye' (did you mean 'app_key'?)"]),
        ("unknown-service", crm('"${secret:app_key}"', '"${secret:crmm.app_key}"'),
         [f"{crm_at(13, 16)}: containers.web.env.APP_KEY: ${{secret:crmm.app_key}}: unknown service 'crmm' "
          "(did you mean 'crm'?)"]),
    ],
    "route_references": [
        ("no-routes", crm('"${url:n8n}"', '"${url:postgres}"'),
         [f"{crm_at(16, 16)}: containers.web.env.N8N_URL: ${{url:postgres}}: service 'postgres' has no routes"]),
    ],
    "store_references": [
        ("unbound", crm('"${store:mariadb.host}"', '"${store:postgres.host}"'),
         [f"{crm_at(14, 16)}: containers.web.env.DB_HOST: ${{store:postgres.host}}: this service binds no "
          "'postgres' store (add it under 'stores:')"]),
        ("field", crm('"${store:mariadb.host}"', '"${store:mariadb.hots}"'),
         [f"{crm_at(14, 16)}: containers.web.env.DB_HOST: ${{store:mariadb.hots}}: unknown store field 'hots' "
          "(did you mean 'host'?)"]),
    ],
    "setting_references": [
        ("typo", web_env('TZ: "${setting:timezon}"'),
         [f"{crm_at(13, 11)}: containers.web.env.TZ: ${{setting:timezon}}: unknown setting 'timezon' "
          "(did you mean 'timezone'?)"]),
    ],
    "container_references": [
        ("typo", web_env('WORKER: "${container:wroker}"'),
         [f"{crm_at(13, 15)}: containers.web.env.WORKER: ${{container:wroker}}: no container 'wroker' in this "
          "service (did you mean 'worker'?)"]),
    ],
    "sign_in_user": [
        ("secret", crm(BACKUP, SIGN_IN.format(user="${secret:app_key}", password="app_key") + BACKUP),
         [f"{crm_at(26, 17)}: sign_in.user: ${{secret:app_key}}: a user name may only use ${{setting:...}}"]),
    ],
    "sign_in_password": [
        ("undeclared", crm(BACKUP, SIGN_IN.format(user="admin", password="app_kye") + BACKUP),
         [f"{crm_at(26, 36)}: sign_in.password: this service declares no secret 'app_kye' (did you mean 'app_key'?)"]),
    ],
    "env_file_safe": [
        ("quote", crm('DB_PASSWORD: "${store:mariadb.password}"', "DB_PASSWORD: \"'${store:mariadb.password}'\""),
         [f"{crm_at(15, 20)}: containers.web.env.DB_PASSWORD: a value that carries a secret goes to an env file, "
          "which cannot hold a single quote or a line break (remove the quote from the text around the placeholder)"]),
    ],
    "known_services": [
        ("typo", env_tail("  cmr:\n"),
         [f"{env_at(15, 3)}: services.cmr: unknown service 'cmr' (did you mean 'crm'?)"]),
    ],
    "upgrade_rules": [
        ("no-major-group", crm_upgrade(r"^(?P<maj>[0-9]+)\.(?P<minor>[0-9]+\.[0-9]+)$"),
         [f"{crm_at(30, 12)}: upgrade.version: the pattern has no named group 'major' "
          "(name the vendor's major version: (?P<major>[0-9]+))"]),
        ("tag-unmatched", crm_upgrade(r"^(?P<major>[0-9]+)-(?P<minor>[0-9]+)$"),
         [f"{crm_at(10, 43)}: containers.web.image.tag: tag '5.10.3' does not match upgrade.version "
          r"^(?P<major>[0-9]+)-(?P<minor>[0-9]+)$ (change the pattern or the tag so the version can be compared)"]),
    ],
    "pinned_version": [
        ("latest", env("version: 2.41.1", "version: latest"),
         [f"{env_at(13, 14)}: services.n8n.version: version 'latest' is not pinned "
          "(use an exact version such as 1.2.3)"]),
    ],
    "upgrade_version": [
        ("v-prefix", crm_upgrade(MINOR3) + env_tail("    version: v5.10.4\n"),
         [f"{env_at(15, 14)}: services.crm.version: 'v5.10.4' does not match crm's upgrade.version {MINOR3} "
          "(a version like '5.10.3' (services/crm/service.yaml))"]),
    ],
    "known_override_host": [
        ("unknown", env("    version: 2.41.1", "    version: 2.41.1\n    host: vps2"),
         [f"{env_at(14, 11)}: services.n8n.host: unknown host 'vps2' (did you mean 'vps1'?)"]),
    ],
    "known_override_containers": [
        ("resources", env("    version: 2.41.1", "    version: 2.41.1\n    resources: {worker: {memory: 512m}}"),
         [f"{env_at(14, 17)}: services.n8n.resources.worker: service 'n8n' has no container 'worker'"]),
    ],
    "override_placeholders": [
        ("unknown-secret", env("    version: 2.41.1", '    version: 2.41.1\n    env: {n8n: {X: "${secret:nope}"}}'),
         [f"{env_at(14, 20)}: services.n8n.env.n8n.X: ${{secret:nope}}: service 'n8n' declares no secret 'nope' "
          "(declare it under 'secrets:')"]),
    ],
    "stores_enabled": [
        ("redis-off", env("  redis:\n", ""),
         [f"{env_at(11, 3)}: services.n8n: n8n needs the 'redis' data store, which is not enabled "
          "(add 'redis:' under services)"]),
    ],
    "uses_enabled": [
        ("warehouse-off", env("  warehouse:\n", ""),
         [f"{env_at(11, 3)}: services.n8n: n8n uses 'warehouse', which is not enabled "
          "(add 'warehouse:' under services)"]),
    ],
    "host_services": [
        ("typo", [(HOSTS, "    roles: [edge, apps, stores]", "    roles: [edge, apps, stores]\n    services: [crmm]")],
         ["inventories/base/hosts.yaml:6:16: hosts.vps1.services[0]: unknown service 'crmm' (did you mean 'crm'?)"]),
    ],
    "distinct_edge_ports": [
        ("same", env_tail("edge:\n  http_port: 443\n"),
         [f"{env_at(16, 3)}: edge.https_port: http_port and https_port are the same port (use two different ports)"]),
    ],
    "standins_local_only": [
        ("remote", env_tail("images:\n  allow_standins: true\n"),
         [f"{env_at(16, 19)}: images.allow_standins: stand-in images are for local test environments only "
          "(remove allow_standins; real hosts must run the real apps)"]),
    ],
    "public_domain_acme": [
        ("no-acme", env("acme:\n  email: ops@example.com\n", ""),
         [f"{env_at(1, 9)}: domain: a public domain needs 'acme:' settings for certificates "
          "(add acme: {email: you@example.com})"]),
    ],
    "mirror_set": [
        ("no-mirror", env_tail("images:\n  source: mirror\n"),
         [f"{env_at(16, 3)}: images.mirror: images.source is 'mirror' but no mirror is set "
          "(set images.mirror: registry.example.com)"]),
    ],
    "distinct_subdomains": [
        ("dashboard", [(N8N, "subdomain: n8n,", "subdomain: traefik,")],
         [f"{env_at(12, 3)}: services.n8n: subdomain 'traefik' is used by traefik dashboard and n8n.n8n "
          "(set a different 'subdomain' for one of them)"]),
    ],
    "distinct_routes": [
        ("same-service", crm("routes: [{subdomain: crm, port: 80}]",
                             "routes: [{subdomain: crm, port: 80}, {name: api, subdomain: crm, port: 81}]"),
         [f"{env_at(14, 3)}: services.crm: route crm.example.com/ is claimed by crm.web and crm.web "
          "(give one route a distinct path_prefix or subdomain)"]),
    ],
    "stateless_replicas": [
        ("n8n-twice", env("    version: 2.41.1", "    version: 2.41.1\n    replicas: 2") + env_tail("mode: swarm\n")
         + [(HOSTS, "roles: [edge, apps, stores]", "roles: [edge, apps, stores, manager]")],
         [f"{env_at(14, 15)}: services.n8n.replicas: n8n holds volumes (or is a data store): it runs once, pinned "
          "to the node labelled zixly.n8n; 2 replicas would not share its data "
          "(remove replicas: (only stateless services replicate))"]),
    ],
    "companions_on_one_host": [
        ("n8n-apart", [*env("    version: 2.41.1", "    version: 2.41.1\n    host: vps2"),
                       (HOSTS, "    roles: [edge, apps, stores]",
                        "    roles: [edge, apps, stores]\n  vps2:\n    address: 203.0.113.11\n    roles: [apps]")],
         [f"{env_at(12, 3)}: services.n8n: n8n runs on vps2 but postgres on vps1; compose mode has no cross-host "
          "network (place them on one host, use stores: dedicated, or mode: swarm)",
          f"{env_at(12, 3)}: services.n8n: n8n runs on vps2 but redis on vps1; compose mode has no cross-host "
          "network (place them on one host, use stores: dedicated, or mode: swarm)",
          f"{env_at(12, 3)}: services.n8n: n8n runs on vps2 but warehouse on vps1; compose mode has no cross-host "
          "network (place them on one host, use stores: dedicated, or mode: swarm)"]),
    ],
    "acme_dns_provider": [
        ("dns", env("  email: ops@example.com", "  email: ops@example.com\n  challenge: dns"),
         [f"{env_at(3, 3)}: acme: challenge 'dns' needs dns_provider (the lego provider code, such as cloudflare)"]),
    ],
    "backup_target_complete": [
        ("sftp-no-url", env_tail("backup:\n  target: {type: sftp}\n"),
         [f"{env_at(16, 11)}: backup.target: an sftp target needs 'url' "
          "(such as sftp:backup@backup.example.com:/srv/restic/zixly)"]),
    ],
}
