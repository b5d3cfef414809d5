# Shortcuts. `make bench` runs the five benchmarks against the PostgreSQL and Redis on localhost
# (see bench/README.md); BENCH_SCALE=0.1 make bench for a smaller run, make bench-quick for a tiny one.
PYTHON := .venv/bin/python

.PHONY: run test bench bench-quick

run:
	./run

test:
	./test

bench:
	$(PYTHON) bench/run_all.py

bench-quick:
	$(PYTHON) bench/run_all.py --quick --no-record
