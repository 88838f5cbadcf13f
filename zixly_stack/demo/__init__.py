"""Client demo environments: seeded, isolated, expiring instances of the ``demo`` template.

* :mod:`.spec` — pure: client names, TTLs, service selection, memory sizes.
* :mod:`.registry` — the host's demo registry (``<base_dir>/demos/<client>/demo.json``).
* :mod:`.build` — pure: the demo's environment files, its Compose rewrites (the host edge's
  network, demo-unique aliases) and its Traefik file-provider routes.
* :mod:`.run` — side effects: up, down, extend, reap, list (this machine's engine).
"""
