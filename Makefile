# The README's two commands: `make demo` (the main job) and `make test`.
# Both create or reuse .venv and install what they need (scripts/setup.sh).
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= syssense-demo

.PHONY: setup demo test lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(BIN)/syssense demo -o $(DEMO_DIR)

test:
	@bash scripts/setup.sh --browser
	$(BIN)/ruff check src tests $(wildcard bench examples)
	$(BIN)/python -m pytest -n 2 -q

lint: setup
	$(BIN)/ruff check src tests $(wildcard bench examples)

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(DEMO_DIR) bench/out .pytest_cache
