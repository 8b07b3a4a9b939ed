# pdgate — one Makefile, no generator.
#   make            build bin/pdgate
#   make deps       install the Debian packages the build, the demo and the tests need
#   make run        the run-time packages, build, create var/demo once, serve it in the foreground
#   make test       every package, build, run every test (SANITIZE=1 for ASan + UBSan)
#   make faults     break pdgate on purpose (kill -9, origin, disk, clients, clock): tests/faults
#   make install    bin/pdgate, the share folder, pdgate(8), the systemd units and the logrotate
#                   file under PREFIX (default /usr/local), staged in DESTDIR; make uninstall
#   make fuzz       build and run each libFuzzer target (FUZZ_SECONDS each, FUZZ_JOBS at once)
#   make fuzz-replay  build each libFuzzer target and run it once over its seed corpus
#   make check-format clang-format --dry-run -Werror on every C source and header
#   make bench      pdgate against nginx (tests/bench); BENCH_CLUSTER=0 leaves out the rows with
#                   the ledger on PostgreSQL (one and two nodes), BENCH_ONLY=cluster runs only them
#   make cluster-demo  two pdgate nodes of one installation on a PostgreSQL ledger of their own
#                   in var/cluster-demo (PORT=8443: nodes on 8443 and 8444); Ctrl-C stops all
#   make clean

CC       ?= cc
PKGS     := openssl libmicrohttpd gnutls sqlite3 jansson libjwt libcurl inih libpq
# What building and running pdgate needs (make run), and what the tests add (make test).
RUN_PKGS  := build-essential pkg-config libssl-dev libmicrohttpd-dev libgnutls28-dev \
             libsqlite3-dev libjansson-dev libjwt-dev libcurl4-openssl-dev libinih-dev \
             libpq-dev openssl sqlite3 curl
TEST_PKGS := python3 python3-requests python3-cryptography clang libclang-rt-14-dev \
             clang-format faketime chromium testssl.sh systemd procps groff-base prometheus \
             postgresql
DEB_PKGS  := $(RUN_PKGS) $(TEST_PKGS)
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

.PHONY: all deps run-deps test-deps run test faults unit unit-bins fuzz fuzz-bins fuzz-replay bench cluster-demo clean \
        format check-format install uninstall
all: $(BIN)

# Each installs its packages only when something they provide is missing.
run-deps:
	@if ! pkg-config --exists $(PKGS) 2>/dev/null || ! command -v cc >/dev/null \
	    || ! command -v openssl >/dev/null || ! command -v sqlite3 >/dev/null \
	    || ! command -v curl >/dev/null; then \
	  echo "installing Debian packages: $(RUN_PKGS)"; \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y $(RUN_PKGS); \
	fi

test-deps: run-deps
	@if ! command -v faketime >/dev/null \
	    || ! command -v clang >/dev/null || ! command -v clang-format >/dev/null \
	    || ! command -v chromium >/dev/null || ! command -v testssl >/dev/null \
	    || ! command -v systemd-analyze >/dev/null || ! command -v groff >/dev/null \
	    || ! command -v promtool >/dev/null \
	    || ! test -x /usr/lib/postgresql/15/bin/initdb \
	    || ! python3 -c 'import requests, cryptography' 2>/dev/null; then \
	  echo "installing Debian packages: $(TEST_PKGS)"; \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y $(TEST_PKGS); \
	fi
	@# Node.js and npm usually come with the machine; Debian's are the fallback
	@command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y nodejs npm

deps: run-deps test-deps

# A fresh machine has no pkg-config data yet: re-enter make once the packages are in.
$(BIN): $(LIBOBJ) $(BUILD)/obj/main.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: gateway/src/%.c $(wildcard gateway/src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The version: the VERSION file is its one place, and version.o the one object that reads it.
# libjwt and inih cannot say their version at run time; pkg-config says what they were built with.
VERSION      := $(shell cat VERSION)
VERSION_DEFS := -DPDGATE_VERSION='"$(VERSION)"' \
                -DPDGATE_LIBJWT_VERSION='"$(or $(shell pkg-config --modversion libjwt 2>/dev/null),?)"' \
                -DPDGATE_INIH_VERSION='"$(or $(shell pkg-config --modversion inih 2>/dev/null),?)"'
$(BUILD)/obj/version.o build/fuzz/obj/version.o: VERSION
$(BUILD)/obj/version.o: CFLAGS += $(VERSION_DEFS)
build/fuzz/obj/version.o: FUZZ_CFLAGS += $(VERSION_DEFS)

# What each unit test links: the modules (gateway/src/NAME.c) it calls, and the ones those call
# in turn, and nothing else, so that the link itself holds the module boundaries: a module that
# starts to call another fails its tests' link until the line here says so. A test that
# #includes its module's .c (to reach static functions) leaves that module out. Every
# tests/unit/test_NAME.c needs its line, even an empty one.
LINK_test_admission       := admission
LINK_test_anon            := apierr buf cal catalog codec contract contract_file csv errlist file \
                             ident policy pseudo record release strtab text ujson utf8
LINK_test_anon_entry      := anon apierr buf cal catalog codec config contract contract_file csv \
                             errlist file ident ledger ledger_batch ledger_db ledger_migrate ledger_pg ledger_pg_cosig ledger_pg_state ledger_pgwait ledger_pool ledger_sign ledger_store ledger_err ledger_index ledger_leaf \
                             ledger_read ledger_upgrade ledger_verify ledger_volume ledger_vfs log merkle metrics note policy pseudo record release \
                             strtab text ujson utf8
LINK_test_apierr          := apierr
LINK_test_buf             :=
LINK_test_cal             := cal
LINK_test_catalog         := buf errlist file ident strtab text utf8
LINK_test_cli             := cli
LINK_test_cert            := cal certreg codec config csr file ident note pki pki_crl pki_file pki_p12 \
                             text utf8
LINK_test_codec           := codec
LINK_test_config          := codec config file note text utf8
LINK_test_contract        := buf cal catalog codec contract errlist file ident policy strtab text \
                             ujson utf8
LINK_test_certreg         := certreg codec file ident pki pki_crl pki_file
LINK_test_certwatch       := buf cal certwatch codec ledger_leaf strtab utf8
LINK_test_csr             := csr
LINK_test_csv             := buf
LINK_test_decision        := apierr buf cal catalog codec contract contract_file decision errlist \
                             file ident pki pki_crl pki_file policy pseudo record release strtab \
                             text token ujson utf8
LINK_test_errlist         := buf errlist file text utf8
LINK_test_file            := file
LINK_test_ident           := ident
LINK_test_kana            := kana utf8
LINK_test_init_conf       := buf init_conf
LINK_test_jsontestsuite   := apierr buf cal catalog codec contract errlist file ident pki pki_crl \
                             pki_file policy pseudo record release strtab text token ujson utf8
LINK_test_ledger          := apierr buf cal codec config file ident ledger_backup ledger_cmd ledger_cosig ledger_outside receipt state_copy \
                             ledger_batch ledger_db ledger_migrate ledger_pg ledger_pg_cosig ledger_pg_state ledger_pgwait ledger_pool ledger_sign ledger_store ledger_index ledger_upgrade ledger_verify ledger_volume ledger_err ledger_leaf ledger_read ledger_vfs log merkle \
                             metrics note pki pki_crl pki_file stagedir strtab text utf8
LINK_test_ledger_batch    := buf ledger_batch merkle
LINK_test_ledger_cosig    := apierr buf cal codec config file ident ledger ledger_batch ledger_cosig ledger_db ledger_err ledger_index \
                             ledger_leaf ledger_migrate ledger_pg ledger_pg_cosig ledger_pg_state ledger_pgwait ledger_pool ledger_sign ledger_store ledger_upgrade ledger_verify ledger_volume \
                             ledger_vfs log merkle metrics note pki pki_crl pki_file stagedir strtab text utf8
LINK_test_ledger_pg       := apierr buf cal codec config file ident ledger ledger_batch ledger_db ledger_err ledger_index ledger_leaf \
                             ledger_migrate ledger_pg ledger_pg_cosig ledger_pg_state ledger_pgwait ledger_pool ledger_sign ledger_store ledger_upgrade ledger_verify ledger_volume ledger_vfs log merkle \
                             metrics note pki pki_crl pki_file stagedir strtab text utf8
LINK_test_ledger_leaf     := buf cal codec ledger_leaf strtab utf8
LINK_test_ledger_vfs      := ledger_vfs
LINK_test_log             := log utf8
LINK_test_members         := cal kana utf8
LINK_test_merkle          :=
LINK_test_note            := codec file ident pki pki_crl pki_file
LINK_test_metrics         := apierr buf metrics
LINK_test_notify          := apierr buf cal catalog codec contract csv errlist file ident metrics \
                             origin policy pseudo record release strtab text ujson utf8
LINK_test_origin          := apierr buf metrics ujson
LINK_test_pki             := codec file ident pki_crl pki_file pki_p12
LINK_test_policy          := apierr buf cal catalog codec contract errlist file ident policy \
                             strtab text ujson utf8
LINK_test_pseudo          := codec file pseudo
LINK_test_ratelimit       := cal ratelimit
LINK_test_record          := apierr buf cal catalog codec contract errlist file ident policy pseudo \
                             record strtab text ujson utf8
LINK_test_registry        := buf cal catalog codec contract contract_file errlist file ident \
                             policy pseudo record registry release strtab text ujson utf8
LINK_test_release         := apierr buf cal catalog codec contract contract_file errlist file \
                             ident policy pseudo record strtab text ujson utf8
LINK_test_report          := apierr buf cal catalog certwatch codec config contract contract_file \
                             errlist file ident ledger ledger_batch ledger_db ledger_migrate ledger_pg ledger_pg_cosig ledger_pg_state ledger_pgwait ledger_pool ledger_sign ledger_store ledger_index ledger_upgrade ledger_verify ledger_volume ledger_err ledger_leaf \
                             ledger_read csv ledger_vfs log merkle metrics note origin policy \
                             pseudo report_deletion strtab text ujson utf8
LINK_test_report_deletion := apierr buf cal catalog codec config contract errlist file ident ledger ledger_batch ledger_db ledger_migrate ledger_pg ledger_pg_cosig ledger_pg_state ledger_pgwait ledger_pool ledger_sign ledger_store ledger_index ledger_upgrade ledger_verify ledger_volume \
                             ledger_err ledger_leaf ledger_read ledger_vfs log merkle metrics note \
                             policy strtab text ujson utf8
LINK_test_disclosure      := buf cal codec
LINK_test_route           := route
LINK_test_server_request  := apierr
LINK_test_share           :=
LINK_test_stagedir        := stagedir
LINK_test_strtab          := strtab
LINK_test_subjects        := cal subjects_file
LINK_test_subjects_pg     := apierr buf cal codec config file ident ledger ledger_batch ledger_db ledger_err ledger_index ledger_leaf \
                             ledger_migrate ledger_pg ledger_pg_cosig ledger_pg_state ledger_pgwait ledger_pool ledger_sign ledger_store ledger_upgrade ledger_verify ledger_volume ledger_vfs log merkle \
                             metrics note pki pki_crl pki_file stagedir strtab subjects subjects_file subjects_pg text utf8
LINK_test_text            := utf8
LINK_test_tlsauth         := apierr cal codec file ident pki pki_crl pki_file tlsauth
LINK_test_tlscred         := cal codec file tlscred
LINK_test_token           := buf codec file ident pki pki_crl pki_file strtab token tokenstore
LINK_test_tokenstore      := strtab
LINK_test_ujson           := ujson
LINK_test_utf8            := utf8
LINK_test_witness         := codec merkle note witness
LINK_test_workq           := workq

# A test binary depends on the objects of its line, and on its module's .c, which it may include.
$(foreach t,$(UNITSRC:tests/unit/%.c=%),\
  $(eval $(BUILD)/unit/$(t): $(addprefix $(BUILD)/obj/,$(addsuffix .o,$(LINK_$(t)))) \
                             $(wildcard gateway/src/$(t:test_%=%).c)))

$(BUILD)/unit/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(wildcard gateway/src/*.h)
	$(if $(filter undefined,$(origin LINK_$*)),$(error tests/unit/$*.c has no LINK_$* line))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(filter %.o,$^) $(LDLIBS)

DEMO := var/demo
run: run-deps
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
	@echo "Health and metrics, with the [status] section pdgate init writes: curl http://127.0.0.1:9444/readyz"
	@echo "The compliance console: open https://127.0.0.1:9443/ (trust $(DEMO)/pki/server-ca.pem)"
	@echo "and sign in with this officer token (8 hours):"
	@echo "  $$($(BIN) token issue -c $(DEMO)/pdgate.conf --staff officer --role officer --ttl 8h)"
	@echo "More requests: README.md and docs/api.md. Stop with Ctrl-C."
	@echo
	@exec $(BIN) serve -c $(DEMO)/pdgate.conf

test: test-deps
	@$(MAKE) --no-print-directory $(BIN) unit-bins
	@PDGATE=$(abspath $(BIN)) BUILD=$(BUILD) tests/run

unit-bins: $(UNITBIN)

# The fault suites (tests/faults, docs/reliability.md), with the LD_PRELOAD shim that makes the
# ledger's writes and syncs fail on command.
build/faults/iofail.so: tests/faults/iofail.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra $(WERROR) -shared -fPIC -o $@ $< -ldl

faults: test-deps
	@$(MAKE) --no-print-directory $(BIN) build/faults/iofail.so
	@PDGATE=$(abspath $(BIN)) PDGATE_IOFAIL=$(abspath build/faults/iofail.so) tests/faults/run

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
	@tests/fuzz/run

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

cluster-demo: test-deps
	@$(MAKE) --no-print-directory $(BIN)
	@PDGATE=$(abspath $(BIN)) tests/cluster-demo --port $(or $(PORT),8443)

# Every C source and header, in the style of .clang-format; CI runs check-format.
FORMAT_SRC := $(wildcard gateway/src/*.[ch] tests/unit/*.[ch] tests/fuzz/*.[ch] tests/bench/*.[ch] \
                          tests/faults/*.[ch])
format:
	clang-format -i $(FORMAT_SRC)

check-format:
	@clang-format --dry-run -Werror $(FORMAT_SRC) && echo "clang-format: $(words $(FORMAT_SRC)) files as .clang-format says"

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, its share folder (what pdgate init
# copies into an installation), the manual page and the systemd units, with the binary's path
# written into the units. pdgate finds PREFIX/share/pdgate beside PREFIX/bin/pdgate, so PREFIX
# is all there is to choose; SYSTEMDDIR and LOGROTATEDIR are where systemd and logrotate look.
PREFIX       ?= /usr/local
BINDIR       := $(PREFIX)/bin
SHAREDIR     := $(PREFIX)/share/pdgate
MAN8DIR      := $(PREFIX)/share/man/man8
SYSTEMDDIR   ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
LOGROTATEDIR ?= /etc/logrotate.d
UNITS        := pdgate.service pdgate-crl.service pdgate-crl.timer
UIFILES      := $(shell find gateway/ui -maxdepth 1 -type f ! -name '.*' | sort)

install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MAN8DIR) $(DESTDIR)$(SYSTEMDDIR) \
	  $(DESTDIR)$(LOGROTATEDIR) $(DESTDIR)$(SHAREDIR)/policies \
	  $(DESTDIR)$(SHAREDIR)/contracts/examples $(DESTDIR)$(SHAREDIR)/ui $(DESTDIR)$(SHAREDIR)/certs
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/pdgate
	install -m 0644 policies/purposes.json policies/fields.json policies/README.md \
	  $(DESTDIR)$(SHAREDIR)/policies/
	install -m 0644 contracts/README.md $(DESTDIR)$(SHAREDIR)/contracts/
	install -m 0644 contracts/examples/*.json $(DESTDIR)$(SHAREDIR)/contracts/examples/
	install -m 0644 $(UIFILES) $(DESTDIR)$(SHAREDIR)/ui/
	install -m 0644 certs/profiles.cnf certs/README.md $(DESTDIR)$(SHAREDIR)/certs/
	@# the manual page and the units with this installation's paths and version written in
	sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@SHAREDIR@|$(SHAREDIR)|g' docs/pdgate.8 \
	  >$(DESTDIR)$(MAN8DIR)/pdgate.8 && chmod 0644 $(DESTDIR)$(MAN8DIR)/pdgate.8
	for u in $(UNITS); do \
	  sed -e 's|@BINDIR@|$(BINDIR)|g' dist/systemd/$$u >$(DESTDIR)$(SYSTEMDDIR)/$$u && \
	  chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/$$u || exit 1; \
	done
	install -m 0644 dist/logrotate/pdgate $(DESTDIR)$(LOGROTATEDIR)/pdgate
	@echo "installed pdgate $(VERSION) under $(DESTDIR)$(PREFIX); as a service: docs/operations.md"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/pdgate $(DESTDIR)$(MAN8DIR)/pdgate.8 \
	  $(UNITS:%=$(DESTDIR)$(SYSTEMDDIR)/%) $(DESTDIR)$(LOGROTATEDIR)/pdgate
	rm -rf $(DESTDIR)$(SHAREDIR)

clean:
	rm -rf build bin
