# The project's entry points. `make serve` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
PYTHON_BOOT := $(shell .ci/find-python)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup serve test synth bench clean token wheels templates cost diagrams

CONSTRAINTS := packages/mcp-lambda-cdk/src/mcp_lambda_cdk/lambda-constraints.txt
PROJECTS := $(wildcard packages/*/pyproject.toml)

setup: $(VENV)/.installed node_modules/.installed

# What serving needs: the runtime (editable) with the embedded PostgreSQL, under the Lambda pins.
$(VENV)/.serve-installed: packages/mcp-lambda-runtime/pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e 'packages/mcp-lambda-runtime[local]'
	touch $@

# Everything: the three distributions (editable), the CDK and the test tools.
$(VENV)/.installed: $(VENV)/.serve-installed requirements.txt $(PROJECTS)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

## The local servers (weather, conformance, ...) on http://127.0.0.1:$(PORT)/<service>/mcp
serve: $(VENV)/.serve-installed
	$(VENV)/bin/mcp-lambda serve mcp_servers.py --port $(PORT)

## Everything CI runs.
test: setup
	$(PY) -m pytest

## Synthesize every stack with the pinned CDK CLI.
synth: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" npx cdk synth --quiet

## The templates alone, bundling skipped (quick; never deploy them), for `make cost` and `make diagrams`.
TEMPLATES := cdk.out.templates
templates: setup
	rm -rf $(TEMPLATES)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" npx cdk synth --quiet -c mcp:skipBundling=true -o $(TEMPLATES) >/dev/null

## What each stack costs, from its template: printed, and written into docs/deploy.md.
cost: templates
	rm -rf $(TEMPLATES)-development
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" npx cdk synth --quiet -c mcp:skipBundling=true -c development=true \
		-o $(TEMPLATES)-development >/dev/null
	$(PY) -m tools.cost $(TEMPLATES) --development $(TEMPLATES)-development --write docs/deploy.md

## An architecture diagram and a dashboard picture per stack in docs/images/, from the templates. The diagram
## libraries live in .tools/diagrams; Graphviz's dot comes from Debian's packages when it is missing.
DIAGRAMS_VENV := .tools/diagrams
$(DIAGRAMS_VENV)/.installed: tools/diagram-requirements.txt
	test -x $(DIAGRAMS_VENV)/bin/python || $(PYTHON_BOOT) -m venv $(DIAGRAMS_VENV)
	$(DIAGRAMS_VENV)/bin/python -m pip install --quiet -r tools/diagram-requirements.txt
	touch $@

diagrams: templates $(DIAGRAMS_VENV)/.installed
	@command -v dot >/dev/null || { command -v apt-get >/dev/null && sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo) && \
	  $$sudo apt-get update -qq && $$sudo apt-get install -y -qq --no-install-recommends graphviz >/dev/null; } || \
	  { echo "make diagrams needs Graphviz's dot: apt-get install graphviz, or brew install graphviz" >&2; exit 1; }
	PYTHONPATH=$(CURDIR) $(DIAGRAMS_VENV)/bin/python -m tools.diagrams $(TEMPLATES) docs/images
	PYTHONPATH=$(CURDIR) $(DIAGRAMS_VENV)/bin/python -m tools.dashboards $(TEMPLATES) docs/images

## Benchmarks: ours (bench/README.md results), then side by side with the peers (each in bench/.venvs/).
bench: $(VENV)/.installed
	$(PY) -m bench
	$(PY) -m bench.side_by_side

## The three distributions as wheels in dist/ (docs/your-own-server.md installs from them).
wheels: $(VENV)/.installed
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation -w dist $(dir $(PROJECTS))

clean:
	rm -rf dist $(VENV) node_modules cdk.out $(TEMPLATES) .tools bench/.venvs bench/.results

## A token from the development OIDC issuer of the running `make serve`, whatever its port:
## make token EMAIL=alice@company.com SCOPE='messages:write other:scope' (PORT=... only to pick another server)
token: $(VENV)/.serve-installed
	@$(VENV)/bin/mcp-lambda token --email "$(or $(EMAIL),alice@company.com)" $(if $(SCOPE),--scope "$(SCOPE)") \
	  $(if $(filter command line,$(origin PORT)),--port $(PORT))
