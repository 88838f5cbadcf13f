# zixly-stack developer and CI entry points. Every target installs what it needs.
PY ?= python3
PIP_FLAGS ?= -q --disable-pip-version-check
APT_PACKAGES := docker.io debootstrap restic iproute2 openssh-server openssh-client gcc libc6-dev chromium nftables unattended-upgrades systemd ruby apprise shellcheck

.PHONY: deps install engine up test lint bench clean

deps:            ## Debian packages the tool and its tests use (idempotent)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "apt: all packages present"; fi

install:         ## the package with its test extras
	$(PY) -m pip install $(PIP_FLAGS) -e '.[test]'

engine: deps install   ## a running Docker engine + Compose plugin
	$(PY) -m zixly_stack.engine

up: deps install engine  ## the main job: the whole stack on this machine (the `local` environment)
	$(PY) -m zixly_stack.cli up

# The suite runs on TEST_WORKERS pytest-xdist workers: the tests of the shared local stack on
# one, those of the shared two-host environment (duo) on another, the other test-host tests on a
# third (tests/harness/schedule.py groups them by the fixture they use), every other test
# wherever a worker is free. Most of their time is waiting for containers, so four workers share
# two cores. Coverage includes the CLI
# subprocesses the end-to-end tests start ([tool.coverage] in pyproject.toml).
TEST_WORKERS ?= 4
PYTEST_ARGS ?=

test: deps install engine  ## the full test suite (real engine, real images built offline)
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadgroup --cov --cov-report= $(PYTEST_ARGS)

lint:
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: install
	$(PY) bench/bench_render.py production local

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*
