# portscope: `make run` builds and runs it; `make test` runs the whole test suite.
CARGO ?= cargo
ARGS ?=
BIN := target/release/portscope

.PHONY: run build test test-deps lint fmt bench bench-deps screenshots completions man clean

run: build
	./$(BIN) $(ARGS)

build:
	$(CARGO) build --release

# The tests bind real sockets, fork real holders (python3), drive the TUI in tmux, and,
# as root, build network namespaces (iproute2) and load the BPF owner map (built by clang).
test: test-deps
	$(CARGO) test --all-targets

test-deps:
	@scripts/ensure-tools.sh python3 tmux ip ss unshare clang

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

# Side-by-side benchmarks in the project's own namespace fixtures (root), written to
# BENCHMARKS.md. SIZES=small,medium,large RUNS=20 by default.
bench: build bench-deps
	python3 bench/run.py --sizes "$${SIZES:-small,medium,large}" --runs "$${RUNS:-20}"

bench-deps:
	@scripts/ensure-tools.sh hyperfine ss netstat lsof fuser tmux prlimit python3 ip

completions: build
	mkdir -p target/completions
	for s in bash zsh fish; do ./$(BIN) --completions $$s > target/completions/portscope.$$s; done

man: build
	mkdir -p target/man
	./$(BIN) --man > target/man/portscope.1

clean:
	$(CARGO) clean

# README screenshots (root): the small fixture in netns psshot, portscope in a private tmux,
# PNGs rendered by headless Chromium into screenshots/.
.PHONY: screenshots fixture
screenshots:
	CARGO="$(CARGO)" scripts/screenshots.sh

# The medium fixture in netns psfx, in the foreground (root; Ctrl-C stops it). In another
# terminal: sudo ip netns exec psfx target/release/portscope
fixture: build
	bench/fixture.py --netns psfx --size medium --hold 3600
