# TextDesk: the two Quick start commands are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install install-test bench clean messages

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

clean:
	rm -rf $(VENV) data .pytest_cache
