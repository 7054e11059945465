# The two commands of the README, and the steps they are made of.
#   make serve   the whole API on http://127.0.0.1:4567, as API Gateway would route it
#   make test    formatting, lints, the template's checks, unit and end-to-end tests
# Both install the pinned tools they need (.ci/tools.txt) into .venv first.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
TOOLS_STAMP := $(VENV)/.tools-installed
# checkov in a venv of its own (.ci/checkov.txt says why).
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.tools-installed
PORT ?= 4567
# The bench workspace builds into the root's target/ (cargo reads tests/bench/.cargo only
# when run from there).
BENCH := --manifest-path tests/bench/Cargo.toml --target-dir target
# The criterion benchmarks (`--benches` would also run the library's libtest harness,
# which refuses criterion's options): spans, then metrics on and off.
SPAN_BENCHES := --bench spans --bench flush_otlp --bench flush_xray --bench metrics --bench metrics_off
# What the benchmarked invocations write on stdout and criterion's report does not need:
# the access log's INFO lines and the EMF lines of the metrics benchmarks.
BENCH_QUIET := grep -v -e '^{"timestamp":[^,]*,"level":"INFO"' -e '"_aws":{'
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# The local front end of the original; override in .env or the shell.
export FRONTEND_URL ?= http://localhost:3000
# Local builds can ship log lines to CloudWatch Logs (CLOUDWATCH_LOG_GROUP); deployed ones
# leave the AWS SDK out. The tests' harness uses the same features (tests/src/lib.rs).
LOCAL_FEATURES := lambda-telemetry/cloudwatch
# Locally, each invocation's spans print as a tree on stderr.
export OTEL_TRACES_EXPORTER ?= console
# Metrics as one line per invocation under the span tree; EMF JSON is for CloudWatch.
export OTEL_METRICS_EXPORTER ?= console
# SAM CLI asks to send usage data to AWS on first run; a test run sends nothing anywhere.
export SAM_CLI_TELEMETRY := 0

.PHONY: help serve test lint lint-template unit-and-e2e bench bench-quick tools browser-page browser arm64-target sam-build clean-tools

help:
	@echo "make serve         serve the API on http://127.0.0.1:$(PORT), telemetry in the terminal"
	@echo "make test          every check and test, what CI runs (README: time and disk)"
	@echo "make bench         the benchmarks of tests/bench/README.md (about 11 min on 2 cores)"
	@echo "make bench-quick   a few invocations of every benchmark variant; part of make test"
	@echo "make browser       Node.js, Chromium (pinned) and the page of tests/browser; part of make test"
	@echo "make sam-build     build the four functions for arm64 with sam"
	@echo "make tools         install the pinned tools of .ci/tools.txt into .venv (and checkov's)"
	@echo "make clean-tools   remove .venv and .venv-checkov"

## serve: the functions under the real Lambda emulator, built before it listens; prints the
## routes and settings once the API answers; the functions' log lines print here. The home
## page of the front end, traced in the browser, is served beside it on FRONTEND_URL's port.
serve: export AWS_LAMBDA_LOG_FORMAT ?= Text
serve: $(TOOLS_STAMP)
	tests/browser/setup.sh page --optional
	tests/local/serve.sh $(PORT) $(LOCAL_FEATURES)

## test: everything CI runs; bench-quick keeps the benchmark harness working.
test: lint lint-template unit-and-e2e bench-quick

# The instrumentation crate is also checked and tested without its Rollbar client.
lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --features $(LOCAL_FEATURES) -- -D warnings
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p lambda-telemetry --no-default-features --all-targets -- -D warnings
	cargo fmt --manifest-path tests/bench/Cargo.toml --all --check
	cargo clippy $(BENCH) --all-targets -- -D warnings

# cfn-lint with its informational rules; checkov fails on any finding not fixed or skipped
# in the template with its reason (README: "Deploying safely"). Nothing leaves the machine:
# --skip-download asks Prisma Cloud for nothing (the checks ship with it), and the two
# variables stop its PyPI version check and its guidelines-mapping download.
lint-template: $(TOOLS_STAMP) $(CHECKOV_STAMP)
	cfn-lint template.yaml --include-checks I
	sam validate --lint --region us-east-1
	CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=true $(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download

# The binaries are built first, so that `cargo lambda watch` in the end-to-end tests
# starts each function at once instead of compiling it on its first request.
# The concurrency test then runs 20 rounds more, a fresh process per round and tokio flavour,
# reusing the build (--workspace, so the features are the same): an interleaving that loses
# an invocation's context shows in some rounds only, and its failure names the round. About
# 6 s on 2 cores.
unit-and-e2e: $(TOOLS_STAMP) browser
	cargo build --workspace --bins --features $(LOCAL_FEATURES)
	cargo test --workspace --features $(LOCAL_FEATURES)
	CONCURRENCY_ROUNDS=20 cargo test --workspace --features $(LOCAL_FEATURES) \
		--test concurrent_invocations_keep_their_own_context
	cargo test -p lambda-telemetry --no-default-features

# The benchmarks (tests/bench, a workspace of its own): the criterion benchmarks of the span
# pipeline, then every variant through the loopback Runtime API. Prints the table; writes
# target/bench/results.json, table.md and chart.png. Every figure is explained in
# tests/bench/README.md.
# The INFO lines of the flush benchmarks' access log and the metrics benchmarks' EMF lines
# are left out of what criterion prints.
bench: $(TOOLS_STAMP) arm64-target
	cargo build --release --bins
	cargo build --release --bins $(BENCH)
	cargo bench -p lambda-telemetry $(SPAN_BENCHES) -- --warm-up-time 1 --measurement-time 3 \
		| $(BENCH_QUIET)
	target/release/bench

# The same, a few invocations of every variant on the debug builds, in minutes; CI runs it
# to keep the harness working. It asserts nothing about time, so it runs the binaries the
# tests built (with the local features) rather than building the workspace a second time.
# Criterion's statistics in a debug build take 0.7 s per benchmark with its default
# 100,000 resamples; 1,000 are plenty for figures that mean nothing.
bench-quick: $(TOOLS_STAMP)
	cargo build --workspace --bins --features $(LOCAL_FEATURES)
	cargo build --bins $(BENCH)
	cargo bench --profile dev -p lambda-telemetry $(SPAN_BENCHES) -- --warm-up-time 0.1 --measurement-time 0.2 \
		--sample-size 10 --nresamples 1000 | $(BENCH_QUIET)
	target/debug/bench --quick

# The page of the front end (tests/browser): Node.js when missing, its npm packages as the
# lockfile pins them, its bundle. `browser` adds the pinned Chromium of the browser test
# (tests/browser/chromium.txt), from the distribution's packages.
browser-page:
	tests/browser/setup.sh page

browser: browser-page
	tests/browser/setup.sh chromium

sam-build: $(TOOLS_STAMP) arm64-target
	sam build --beta-features

tools: $(TOOLS_STAMP) $(CHECKOV_STAMP)

# cargo-lambda cross-compiles for arm64 (Graviton, as deployed) with zig from .venv; the
# standard library for that target comes from rustup. Added here once, with a line saying
# so, rather than silently by cargo-lambda in the middle of a build.
arm64-target:
	@rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || { \
		echo "adding the Rust target aarch64-unknown-linux-gnu with rustup (once)"; \
		rustup target add aarch64-unknown-linux-gnu; }

$(TOOLS_STAMP): .ci/tools.txt
	@echo "Installing the pinned tools of .ci/tools.txt (cargo-lambda, zig, sam, cfn-lint, moto) into $(VENV): once, 1-2 min"
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r .ci/tools.txt
	touch $@

$(CHECKOV_STAMP): .ci/checkov.txt
	@echo "Installing the pinned checkov of .ci/checkov.txt into $(CHECKOV_VENV): once, under a minute"
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r .ci/checkov.txt
	touch $@

clean-tools:
	rm -rf $(VENV) $(CHECKOV_VENV)
