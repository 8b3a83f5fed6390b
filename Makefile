# jobpulse: the two commands the README promises are `make demo` and `make test`.
# Both set a fresh Debian machine up first (deploy/setup.sh installs only what is missing).

PY := .venv/bin/python
PYTEST := .venv/bin/pytest

.PHONY: setup collector demo test test-fast stack-up stack-down stack-status bench-agent bench-hub bench-pipe bench-capacity clean

setup:
	@bash deploy/setup.sh

collector:
	@bash collector-config/build.sh >/dev/null

demo: setup
	@$(PY) -m jobpulse.stack.cli demo

test: setup
	@$(PYTEST) -q

test-fast: setup
	@$(PYTEST) -q -m "not e2e and not packaging"

stack-up: setup
	@$(PY) -m jobpulse.stack.cli up

stack-down:
	@$(PY) -m jobpulse.stack.cli down

stack-status:
	@$(PY) -m jobpulse.stack.cli status

bench-agent: setup
	@$(PY) -m bench.bench_agent

bench-hub: setup
	@$(PY) -m bench.bench_hub

bench-pipe: setup
	@$(PY) -m bench.bench_pipe

bench-capacity: setup
	@$(PY) -m bench.bench_capacity

clean: stack-down
	rm -rf .run collector-config/build
