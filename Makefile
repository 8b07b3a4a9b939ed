# pdgate — one Makefile, no generator.
#   make            build bin/pdgate
#   make deps       install the Debian packages the build and tests need
#   make run        deps, build, create var/demo once, serve it in the foreground
#   make test       deps, build, run every test (SANITIZE=1 for ASan + UBSan)
#   make fuzz       build and run each libFuzzer target briefly
#   make bench      pdgate against nginx (tests/bench)
#   make clean

CC       ?= cc
PKGS     := openssl libmicrohttpd gnutls sqlite3 jansson libjwt libcurl inih
DEB_PKGS := build-essential pkg-config libssl-dev libmicrohttpd-dev libgnutls28-dev \
            libsqlite3-dev libjansson-dev libjwt-dev libcurl4-openssl-dev libinih-dev \
            openssl sqlite3 curl python3 python3-requests python3-cryptography \
            clang libclang-rt-14-dev faketime chromium testssl.sh
WERROR   ?= -Werror
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wvla -Wnull-dereference $(WERROR)
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -pthread $(WARN) -iquote gateway/src
LDLIBS   += -pthread -lm

BUILD    := build
ifeq ($(SANITIZE),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
BUILD    := build/san
endif

HAVE_PKGS := $(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes)
ifeq ($(HAVE_PKGS),yes)
CFLAGS   += $(shell pkg-config --cflags $(PKGS))
LDLIBS   += $(shell pkg-config --libs $(PKGS))
endif

SRC      := $(wildcard gateway/src/*.c)
LIBSRC   := $(filter-out gateway/src/main.c,$(SRC))
LIBOBJ   := $(LIBSRC:gateway/src/%.c=$(BUILD)/obj/%.o)
UNITSRC  := $(wildcard tests/unit/test_*.c)
UNITBIN  := $(UNITSRC:tests/unit/%.c=$(BUILD)/unit/%)
FUZZSRC  := $(wildcard tests/fuzz/fuzz_*.c)
BIN      := bin/pdgate
ifeq ($(SANITIZE),1)
BIN      := bin/pdgate-san
endif

SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps run test unit fuzz bench clean format
all: $(BIN)

deps:
	@if ! pkg-config --exists $(PKGS) 2>/dev/null || ! command -v faketime >/dev/null \
	    || ! command -v clang >/dev/null || ! command -v chromium >/dev/null \
	    || ! command -v testssl >/dev/null \
	    || ! python3 -c 'import requests, cryptography' 2>/dev/null; then \
	  echo "installing Debian packages: $(DEB_PKGS)"; \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y $(DEB_PKGS); \
	fi
	@# Node.js and npm usually come with the machine; Debian's are the fallback
	@command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y nodejs npm

# A fresh machine has no pkg-config data yet: re-enter make once the packages are in.
$(BIN): $(LIBOBJ) $(BUILD)/obj/main.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: gateway/src/%.c $(wildcard gateway/src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# A test may include the .c of a module to reach its static functions: it then links every
# library object but that module's (one definition of each function), and a fuzz target
# compiles every library source but that one.
included_modules = $(shell sed -n 's/^[[:space:]]*.[[:space:]]*include[[:space:]]*"\([a-z0-9_]*\)\.c".*/\1/p' $(1))
unit_objs = $(filter-out $(patsubst %,$(BUILD)/obj/%.o,$(call included_modules,$(1))),$(LIBOBJ))
fuzz_srcs = $(filter-out $(patsubst %,gateway/src/%.c,$(call included_modules,$(1))),$(LIBSRC))

$(BUILD)/unit/%: tests/unit/%.c $(LIBOBJ) tests/unit/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(call unit_objs,$<) $(LDLIBS)

DEMO := var/demo
run: deps
	@$(MAKE) --no-print-directory $(BIN)
	@[ -d $(DEMO) ] || $(BIN) init $(DEMO)
	@# a CRL past its nextUpdate refuses every partner: re-publish the demo's before serving
	@$(BIN) cert crl -c $(DEMO)/pdgate.conf >/dev/null && $(BIN) cert crl -c $(DEMO)/pdgate.conf --staff >/dev/null
	@echo
	@echo "pdgate demo: $(DEMO) (partner API https://127.0.0.1:8443, compliance https://127.0.0.1:9443)"
	@echo "Ask who you are, as the demo mailing house:"
	@echo "  curl --cacert $(DEMO)/pki/server-ca.pem --cert $(DEMO)/pki/partners/sakura-mail.pem \\"
	@echo "       --key $(DEMO)/pki/partners/sakura-mail.key https://127.0.0.1:8443/v1/whoami"
	@echo "A member as the mailing house sees it, with a work order:"
	@echo "  TOKEN=\$$($(BIN) token issue -c $(DEMO)/pdgate.conf --contract CT-2026-0001 --purpose contact --ttl 1h --cert $(DEMO)/pki/partners/sakura-mail.pem)"
	@echo "  curl --cacert $(DEMO)/pki/server-ca.pem --cert $(DEMO)/pki/partners/sakura-mail.pem \\"
	@echo "       --key $(DEMO)/pki/partners/sakura-mail.key -H \"Authorization: Bearer \$$TOKEN\" \\"
	@echo "       https://127.0.0.1:8443/v1/members/M0000003"
	@echo "The compliance console: open https://127.0.0.1:9443/ (trust $(DEMO)/pki/server-ca.pem)"
	@echo "and sign in with this officer token (8 hours):"
	@echo "  $$($(BIN) token issue -c $(DEMO)/pdgate.conf --staff officer --role officer --ttl 8h)"
	@echo "More requests: README.md and docs/api.md. Stop with Ctrl-C."
	@echo
	@exec $(BIN) serve -c $(DEMO)/pdgate.conf

test: deps
	@$(MAKE) --no-print-directory $(BIN) unit-bins
	@PDGATE=$(abspath $(BIN)) BUILD=$(BUILD) tests/run

unit-bins: $(UNITBIN)

FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -iquote gateway/src -fsanitize=fuzzer,address,undefined \
               $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZBIN  := $(FUZZSRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm

build/fuzz/%: tests/fuzz/%.c $(LIBSRC) $(wildcard gateway/src/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(call fuzz_srcs,$<) $(FUZZ_LIBS)

fuzz-bins: $(FUZZBIN)

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-bins
	@set -e; for f in $(FUZZSRC); do \
	  n=$$(basename $$f .c); \
	  mkdir -p build/fuzz/$$n.corpus; \
	  echo "fuzz $$n"; \
	  extra=; case $$n in fuzz_release|fuzz_origin) extra=../shared/testdata/jsontestsuite/test_parsing;; esac; \
	  [ -d "$$extra" ] || extra=; \
	  build/fuzz/$$n -max_total_time=$${FUZZ_SECONDS:-20} -max_len=65536 -artifact_prefix=build/fuzz/$$n- \
	    build/fuzz/$$n.corpus tests/fuzz/corpus/$$n $$extra >build/fuzz/$$n.log 2>&1 \
	    || { tail -n 40 build/fuzz/$$n.log; echo "fuzz $$n FAILED: build/fuzz/$$n.log"; exit 1; }; \
	  tail -n 1 build/fuzz/$$n.log; \
	done

bench: deps
	@$(MAKE) --no-print-directory $(BIN)
	tests/bench/run

format:
	clang-format -i gateway/src/*.[ch] tests/unit/*.[ch] tests/fuzz/*.c

clean:
	rm -rf build bin
