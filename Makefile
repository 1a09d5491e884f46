# portscope: `make run` builds and runs it; `make test` runs the whole test suite.
CARGO ?= cargo
ARGS ?=
BIN := target/release/portscope

.PHONY: run build test test-deps lint check-targets fmt bench bench-deps screenshots completions man install uninstall clean

run: build
	./$(BIN) $(ARGS)

build:
	$(CARGO) build --release

# The tests bind real sockets, fork real holders (python3), drive the TUI in tmux, and,
# as root, build network namespaces (iproute2) and load the BPF owner map (built by clang);
# the Prometheus output is checked by promtool and a real node_exporter (Debian packages).
test: test-deps
	$(CARGO) test --all-targets

test-deps:
	@scripts/ensure-tools.sh python3 tmux ip ss unshare nsenter setpriv cc useradd userdel clang \
	  promtool prometheus-node-exporter

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# Windows must keep compiling (macOS cannot be built here: netstat2's build needs the Apple SDK).
WINDOWS := x86_64-pc-windows-gnu
check-targets:
	@if rustup target list --installed 2>/dev/null | grep -qx $(WINDOWS) \
	    || rustup target add $(WINDOWS) >/dev/null 2>&1; then \
	  $(CARGO) clippy --target $(WINDOWS) --all-targets -- -D warnings; \
	else \
	  echo "skipped: check-targets: the $(WINDOWS) target is not installed and rustup could not add it"; \
	fi

# make install [PREFIX=/usr/local] [DESTDIR=...]: the binary, its man page and completions.
PREFIX ?= /usr/local
install: build
	install -Dm755 $(BIN) $(DESTDIR)$(PREFIX)/bin/portscope
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	./$(BIN) --man > $(DESTDIR)$(PREFIX)/share/man/man1/portscope.1
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	./$(BIN) --completions bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/portscope
	./$(BIN) --completions zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_portscope
	./$(BIN) --completions fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/portscope.fish

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/portscope $(DESTDIR)$(PREFIX)/share/man/man1/portscope.1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/portscope \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_portscope \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/portscope.fish

fmt:
	$(CARGO) fmt

# Side-by-side benchmarks in the project's own namespace fixtures (root), written to
# BENCHMARKS.md. SIZES=small,medium,large,huge,namespaces RUNS=20 by default. The netstat2 row is timed
# with examples/netstat2_table.rs (netstat2 is a dev-dependency on Linux).
bench: build bench-deps
	$(CARGO) build --release --example netstat2_table
	python3 bench/run.py --sizes "$${SIZES:-small,medium,large,huge,namespaces}" --runs "$${RUNS:-20}"

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

# README screenshots (root): real nginx, sshd, dnsmasq, postgres, redis and a python dev
# server in a throwaway netns psshot (installed with apt-get if missing, services not
# started), portscope in a private tmux, PNGs rendered by headless Chromium into screenshots/.
.PHONY: screenshots fixture
screenshots:
	CARGO="$(CARGO)" scripts/screenshots.sh

# The medium fixture in netns psfx, in the foreground (root; Ctrl-C stops it). In another
# terminal: sudo ip netns exec psfx target/release/portscope
fixture: build
	bench/fixture.py --netns psfx --size medium --hold 3600
