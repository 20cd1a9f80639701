# TextDesk: the two Quick start commands are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install install-test bench bench-outbound clean messages

demo: install
	$(BIN)/textdesk demo

test:
	bash scripts/test.sh

install: $(STAMP)

$(STAMP): pyproject.toml
	bash scripts/install.sh
	touch $(STAMP)

install-test:
	bash scripts/install.sh --test

messages: install
	bash scripts/messages.sh

bench: install-test
	bash scripts/bench.sh

# The outbound send path alone: 1 and 2 workers to the sink and to the simulator beside the floor (PostgreSQL on
# 127.0.0.1, TEXTDESK_BENCH_DATABASE_URL as for `make bench`); ends with the `outbound:` line.
bench-outbound: install-test
	bash scripts/bench-outbound.sh --summary --messages 4000 --numbers 16 --rate 1000 --workers 1,2 --threads 4

clean:
	rm -rf $(VENV) data .pytest_cache
