# Hearth: `make lab` brings up a local lab and converges the platform; `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help venv engine image artifacts lab lab-hosts lab-multihost lab-down lab-status lint unit molecule test bench bench-apt bench-backup bench-molecule bench-scan bench-vector clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## Create the Python environment with Ansible, molecule and the test tools

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

engine: ## Make sure a Docker engine answers (starts Debian's dockerd when none does)
	scripts/docker-up.sh

image: engine ## Build or reuse the Debian 13 systemd image for lab and test hosts
	scripts/lab-image.sh

artifacts: venv engine ## Build and cache what only source provides: MinIO, Caddy 2.10, Ollama (CPU), the tiny test model, the reference app's images
	scripts/build-minio.sh
	scripts/build-caddy.sh
	scripts/build-ollama.sh
	$(VENV)/bin/python scripts/make-tiny-gguf.py .cache/test-models/hearth-tiny.gguf
	scripts/build-app-images.sh

lab: venv image artifacts ## Start the lab hosts, converge site.yml on them, print endpoints, smoke-check
	scripts/lab.sh up

lab-hosts: venv image artifacts ## Start and prepare the lab hosts without converging
	scripts/lab.sh hosts

lab-multihost: venv image artifacts ## Add a second apps host to the lab, converge both, check releases across them under load (bench/results/deploy_multihost.json)
	mkdir -p inventories/lab/.secrets
	HEARTH_LAB_INVENTORY=tests/apps/multihost scripts/lab.sh up
	$(VENV)/bin/python tests/apps/multihost.py

lab-status: ## Print what the lab runs and where
	scripts/lab.sh status

lab-down: ## Remove the lab hosts and the secrets generated for them
	scripts/lab.sh down

lint: venv ## yamllint and ansible-lint (production profile)
	yamllint -s .
	ansible-lint --profile production --offline -q

.PHONY: role-docs
role-docs: venv ## Write roles/*/README.md from each role's meta/argument_specs.yml
	$(VENV)/bin/python scripts/role-docs.py

unit: venv ## Python tests only (no containers)
	pytest -m "not molecule"

molecule: venv image artifacts ## Every molecule scenario (converge, idempotence, check mode, verify)
	pytest -m molecule tests/molecule

test: venv engine ## Everything: lint and the unit tests beside every molecule scenario (one at a time); builds the image and artifacts on the way
	scripts/test-all.sh

bench: venv image ## Lab converge benchmark (RECREATE=1 to replace existing lab hosts; FIRST=ssh-mitogen for the first converge's path, RERUNS=0 for it alone); bench/results/converge.json
	$(VENV)/bin/python bench/converge.py $(if $(RECREATE),--recreate) $(if $(REUSE),--reuse) $(if $(VARIANTS),--variants $(VARIANTS)) $(if $(FIRST),--first-variant $(FIRST)) $(if $(RERUNS),--reruns $(RERUNS)) $(if $(OUTPUT),--output $(OUTPUT))

bench-apt: venv image ## One apt transaction per role against one for all, replaying a converged lab host's installs on fresh hosts (bench/results/apt_transactions.json)
	$(VENV)/bin/python bench/apt_transactions.py

bench-molecule: venv image ## Molecule's idempotence and check steps, Ansible's strategy against Mitogen's on one converged scenario (SCENARIO=caddy); bench/results/molecule_steps.json
	$(VENV)/bin/python bench/molecule_steps.py $(if $(SCENARIO),--scenario $(SCENARIO))

bench-vector: venv ## pgvector HNSW build and recall on the lab's Postgres, defaults against derived settings (bench/results/vector.json)
	$(VENV)/bin/python bench/vector.py --dsn "postgresql://app:$$(cat inventories/lab/.secrets/postgres_app)@127.0.0.1:15432/app"

bench-backup: venv ## pgBackRest full backups per repository, restore time and RPO on the lab host (bench/results/backup.json)
	$(VENV)/bin/python bench/backup.py

bench-scan: venv ## AWS scanner against grep -rE on a generated 50k-file tree (bench/results/scan.json)
	$(VENV)/bin/python bench/scan.py

clean: lab-down ## Remove the lab and local caches (keeps the base image)
	rm -rf .cache .pytest_cache
