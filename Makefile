# pdgate — one Makefile, no generator.
#   make            build bin/pdgate
#   make deps       install the Debian packages the build and tests need
#   make run        deps, build, create var/demo once, serve it in the foreground
#   make test       deps, build, run every test (SANITIZE=1 for ASan + UBSan)
#   make fuzz       build and run each libFuzzer target briefly
#   make fuzz-replay  build each libFuzzer target and run it once over its seed corpus
#   make check-format clang-format --dry-run -Werror on every C source and header
#   make bench      pdgate against nginx (tests/bench)
#   make clean

CC       ?= cc
PKGS     := openssl libmicrohttpd gnutls sqlite3 jansson libjwt libcurl inih
DEB_PKGS := build-essential pkg-config libssl-dev libmicrohttpd-dev libgnutls28-dev \
            libsqlite3-dev libjansson-dev libjwt-dev libcurl4-openssl-dev libinih-dev \
            openssl sqlite3 curl python3 python3-requests python3-cryptography \
            clang libclang-rt-14-dev clang-format faketime chromium testssl.sh
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

.PHONY: all deps run test unit unit-bins fuzz fuzz-bins fuzz-replay bench clean format check-format
all: $(BIN)

deps:
	@if ! pkg-config --exists $(PKGS) 2>/dev/null || ! command -v faketime >/dev/null \
	    || ! command -v clang >/dev/null || ! command -v clang-format >/dev/null \
	    || ! command -v chromium >/dev/null || ! command -v testssl >/dev/null \
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

# What each unit test links: the modules (gateway/src/NAME.c) it calls, and the ones those call
# in turn, and nothing else, so that the link itself holds the module boundaries: a module that
# starts to call another fails its tests' link until the line here says so. A test that
# #includes its module's .c (to reach static functions) leaves that module out. Every
# tests/unit/test_NAME.c needs its line, even an empty one.
LINK_test_admission       := admission
LINK_test_apierr          := apierr
LINK_test_buf             :=
LINK_test_cal             := cal
LINK_test_catalog         := buf catalog errlist text utf8
LINK_test_cert            := certreg codec config csr pki
LINK_test_certreg         := certreg codec pki
LINK_test_codec           := codec
LINK_test_config          := config
LINK_test_contract        := buf cal catalog codec contract errlist policy text ujson utf8
LINK_test_csr             := csr
LINK_test_decision        := apierr buf cal catalog codec contract contract_file decision errlist \
                             pki policy pseudo release text token ujson utf8
LINK_test_errlist         := buf errlist
LINK_test_jsontestsuite   := apierr buf cal catalog codec contract errlist pki policy pseudo \
                             release text token ujson utf8
LINK_test_ledger          := buf cal codec config ledger_cmd ledger_db ledger_err ledger_leaf \
                             ledger_read ledger_vfs log merkle note pki utf8
LINK_test_ledger_leaf     := buf cal codec ledger_leaf utf8
LINK_test_ledger_vfs      := ledger_vfs
LINK_test_log             := log
LINK_test_members         := cal members
LINK_test_merkle          := merkle
LINK_test_note            := codec note pki
LINK_test_origin          := apierr buf origin ujson
LINK_test_pki             := codec pki
LINK_test_policy          := apierr buf cal catalog codec contract errlist policy text ujson utf8
LINK_test_pseudo          := codec pseudo
LINK_test_ratelimit       := cal ratelimit
LINK_test_registry        := buf cal catalog codec contract contract_file errlist policy registry \
                             text ujson utf8
LINK_test_release         := apierr buf cal catalog codec contract contract_file errlist policy \
                             pseudo release text ujson utf8
LINK_test_report          := apierr buf cal catalog codec config contract contract_file errlist \
                             ledger ledger_db ledger_err ledger_leaf ledger_read ledger_vfs log \
                             merkle note origin policy pseudo strtab text ujson utf8
LINK_test_route           := route
LINK_test_server_request  := apierr
LINK_test_strtab          := strtab
LINK_test_text            := text utf8
LINK_test_tlsauth         := apierr codec tlsauth
LINK_test_token           := buf codec pki token tokenstore
LINK_test_tokenstore      := tokenstore
LINK_test_ujson           := ujson
LINK_test_utf8            := utf8

# A test binary depends on the objects of its line, and on its module's .c, which it may include.
$(foreach t,$(UNITSRC:tests/unit/%.c=%),\
  $(eval $(BUILD)/unit/$(t): $(addprefix $(BUILD)/obj/,$(addsuffix .o,$(LINK_$(t)))) \
                             $(wildcard gateway/src/$(t:test_%=%).c)))

$(BUILD)/unit/%: tests/unit/%.c tests/unit/check.h $(wildcard gateway/src/*.h)
	$(if $(filter undefined,$(origin LINK_$*)),$(error tests/unit/$*.c has no LINK_$* line))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(filter %.o,$^) $(LDLIBS)

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

# The fuzz targets: clang, libFuzzer, AddressSanitizer and UBSan (an undefined behaviour stops
# the run). The library is compiled once for all of them, with libFuzzer's coverage.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -iquote gateway/src -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZOBJ     := $(LIBSRC:gateway/src/%.c=build/fuzz/obj/%.o)
FUZZNAMES   := $(FUZZSRC:tests/fuzz/%.c=%)
FUZZBIN     := $(FUZZNAMES:%=build/fuzz/%)
.SECONDARY: $(FUZZOBJ)

build/fuzz/obj/%.o: gateway/src/%.c $(wildcard gateway/src/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

# A target that #includes a module's .c (to reach its static functions) links every object but
# that module's.
included_modules = $(shell sed -n 's/^[[:space:]]*\#[[:space:]]*include[[:space:]]*"\([a-z0-9_]*\)\.c".*/\1/p' $(1))

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZOBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	  $(filter-out $(patsubst %,build/fuzz/obj/%.o,$(call included_modules,$<)),$(FUZZOBJ)) \
	  $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread -lm

fuzz-bins: $(FUZZBIN)

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-bins
	@set -e; for n in $(FUZZNAMES); do \
	  mkdir -p build/fuzz/$$n.corpus; \
	  echo "fuzz $$n"; \
	  extra=; case $$n in fuzz_release|fuzz_origin) extra=../shared/testdata/jsontestsuite/test_parsing;; esac; \
	  [ -d "$$extra" ] || extra=; \
	  build/fuzz/$$n -max_total_time=$${FUZZ_SECONDS:-20} -max_len=65536 -artifact_prefix=build/fuzz/$$n- \
	    build/fuzz/$$n.corpus tests/fuzz/corpus/$$n $$extra >build/fuzz/$$n.log 2>&1 \
	    || { tail -n 40 build/fuzz/$$n.log; echo "fuzz $$n FAILED: build/fuzz/$$n.log"; exit 1; }; \
	  tail -n 1 build/fuzz/$$n.log; \
	done

# Each target once over every file of its seed corpus, no fuzzing: the corpus as regression
# tests. Ends with the line "N passed, N failed", one per target.
fuzz-replay: deps
	@$(MAKE) --no-print-directory fuzz-bins
	@pass=0; fail=0; for n in $(FUZZNAMES); do \
	  files=$$(find tests/fuzz/corpus/$$n -type f | sort); \
	  if [ -z "$$files" ]; then echo "FAIL $$n: no seed corpus in tests/fuzz/corpus/$$n"; fail=$$((fail + 1)); \
	  elif build/fuzz/$$n -runs=1 $$files >build/fuzz/$$n.replay.log 2>&1; then \
	    printf '  %-28s %s inputs\n' $$n $$(echo "$$files" | wc -l); pass=$$((pass + 1)); \
	  else tail -n 30 build/fuzz/$$n.replay.log; echo "FAIL $$n: build/fuzz/$$n.replay.log"; fail=$$((fail + 1)); fi; \
	done; echo "$$pass passed, $$fail failed"; [ $$fail -eq 0 ]

bench: deps
	@$(MAKE) --no-print-directory $(BIN)
	tests/bench/run

# Every C source and header, in the style of .clang-format; CI runs check-format.
FORMAT_SRC := $(wildcard gateway/src/*.[ch] tests/unit/*.[ch] tests/fuzz/*.[ch] tests/bench/*.[ch])
format:
	clang-format -i $(FORMAT_SRC)

check-format:
	@clang-format --dry-run -Werror $(FORMAT_SRC) && echo "clang-format: $(words $(FORMAT_SRC)) files as .clang-format says"

clean:
	rm -rf build bin
