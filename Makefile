# Shortcuts. `make bench` runs the five benchmarks against the PostgreSQL and Redis on localhost
# (see bench/README.md); BENCH_SCALE=0.1 make bench for a smaller run, make bench-quick for a tiny one.
# `make lock` compiles requirements*.in into the hashed locks requirements*.txt (see the README's
# «Dependencies»); `make lock ARGS="--upgrade-package NAME"` moves one transitive package up.
PYTHON := .venv/bin/python
LOCK := CUSTOM_COMPILE_COMMAND="make lock" .venv/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	--strip-extras --no-emit-index-url --no-emit-find-links $(ARGS)

.PHONY: run test bench bench-quick lock

run:
	./run

test:
	./test

bench:
	$(PYTHON) bench/run_all.py

bench-quick:
	$(PYTHON) bench/run_all.py --quick --no-record

lock:
	./test --version >/dev/null  # .venv with the dev tools (pip-tools among them)
	$(LOCK) -o requirements.txt requirements.in
	$(LOCK) -o requirements-dev.txt requirements-dev.in
	$(LOCK) -o requirements-browser.txt requirements-browser.in
