# `make run`: set up (first time only), index the sample bulletins, then answer questions
# in Telegram when a bot token is set, else in a terminal chat.
# `make test`: set up (first time only), then run the test suite.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BULLETINS ?= data/bulletins

# System packages (Debian): a CJK font draws the scanned pages the OCR tests and
# benchmarks read back. Installed when we are root (CI, containers); otherwise the
# command to run is printed, and those tests skip until then. (OCR itself needs none:
# its engine and models come with the Python package.)
SYSTEM_PACKAGES := fonts-wqy-zenhei

.PHONY: setup system-packages run test lint bench clean

setup: system-packages $(VENV)/.installed

system-packages:
	@missing=""; \
	for pkg in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "ok installed" \
			|| missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing >/dev/null; \
	else \
		echo "note: the OCR tests draw their pages with a CJK font: sudo apt-get install$$missing"; \
	fi

# CPU torch first: any other torch requirement would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,milvus]'
	$(BIN)/python -m retrieval.convert
	$(BIN)/python -m retrieval.onnx_embed
	touch $@

# With a bot token (TELEGRAM_BOT_TOKEN or TELEGRAM_BOT_TOKEN_FILE) the Telegram bot
# serves the index; without one, the terminal chat does.
run: setup
	$(BIN)/bulletin-qa ingest $(BULLETINS)
	if [ -n "$$TELEGRAM_BOT_TOKEN$$TELEGRAM_BOT_TOKEN_FILE" ]; then \
		exec $(BIN)/bulletin-qa bot --bulletins $(BULLETINS); \
	else \
		exec $(BIN)/bulletin-qa chat; \
	fi

test: setup
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python benchmarks/pipeline.py

clean:
	rm -rf $(VENV) build *.egg-info
