# vigil: one non-recursive Makefile.  `make` builds build/vigil and
# build/camsim; `make test` runs the whole suite; `make deps` installs the
# Debian packages everything needs.

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc

VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1)

WARN    = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -I. -MMD -MP
LDFLAGS ?=

ifeq ($(SAN),1)
ALL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS    += -fsanitize=address,undefined
endif

VIGIL_PKGS  = libavformat libavcodec libavutil sqlite3 inih libmosquitto libcurl jansson libcrypto \
	libmicrohttpd libargon2 libswscale
CAMSIM_PKGS = gstreamer-1.0 gstreamer-app-1.0 gstreamer-rtsp-server-1.0 gstreamer-pbutils-1.0
TOOLS_PKGS  = libavformat libavcodec libavutil

# `make V=1` shows the full commands.
ifeq ($(V),1)
Q =
say = @true
else
Q = @
say = @printf '  %-6s %s\n'
endif

pkg_cflags = $(shell pkg-config --cflags $(1))
pkg_libs   = $(shell pkg-config --libs $(1))

# Every module but cmd/ goes into one static library, so the unit tests link
# exactly the code the binary runs.
LIB_SRC   = $(wildcard util/*.c config/*.c catalog/*.c ingest/*.c retention/*.c health/*.c \
	tickets/*.c report/*.c web/*.c inspect/*.c)
CMD_SRC   = $(wildcard cmd/*.c)
UNIT_SRC  = $(wildcard tests/unit/*.c)
CAMSIM_SRC = $(wildcard tests/camsim/*.c)
SEGCHECK_SRC = tests/tools/segcheck.c

# The schema migrations are .sql files compiled into the binary: the
# catalog's, and the ticket database's.
SQL_SRC   = $(sort $(wildcard catalog/migrations/*.sql))
SQL_C     = $(BUILD)/gen/catalog_migrations.c
TSQL_SRC  = $(sort $(wildcard tickets/migrations/*.sql))
TSQL_C    = $(BUILD)/gen/ticket_migrations.c
WSQL_SRC  = $(sort $(wildcard web/migrations/*.sql))
WSQL_C    = $(BUILD)/gen/web_migrations.c
# The console's pages are compiled in too (tools/asset2c; web/pages.c).
WASSET_SRC = $(sort $(wildcard web/assets/*))
WASSET_C  = $(BUILD)/gen/web_assets.c

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIB_OBJ   = $(call obj,$(LIB_SRC)) $(BUILD)/obj/gen/catalog_migrations.o \
	$(BUILD)/obj/gen/ticket_migrations.o $(BUILD)/obj/gen/web_migrations.o \
	$(BUILD)/obj/gen/web_assets.o
CMD_OBJ   = $(call obj,$(CMD_SRC))
UNIT_OBJ  = $(call obj,$(UNIT_SRC))
CAMSIM_OBJ = $(call obj,$(CAMSIM_SRC))
SEGCHECK_OBJ = $(call obj,$(SEGCHECK_SRC))

LIBVIGIL  = $(BUILD)/libvigil.a

.PHONY: all deps test test-unit test-integration run clean install uninstall man deb check bench bench-checker bench-fleet bench-retention bench-ingest bench-web bench-metrics san san-programs soak \
	fuzz fuzz-build fuzz-programs
all: $(BUILD)/vigil $(BUILD)/camsim $(BUILD)/segcheck $(BUILD)/mkhistory $(BUILD)/camfarm

deps:
	@tools/install-deps

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(say) CC $<
	$(Q)$(CC) $(ALL_CFLAGS) $(call pkg_cflags,$(VIGIL_PKGS)) -c -o $@ $<

# The version goes into util/version.o alone (util/version.h), rebuilt when
# the version changes (a commit, a tree made dirty or clean again): the
# stamp is rewritten only then, and no other object depends on it.
VERSION_STAMP = $(BUILD)/gen/version
$(VERSION_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' > $@
$(BUILD)/obj/util/version.o: $(VERSION_STAMP)
$(BUILD)/obj/util/version.o: ALL_CFLAGS += -DVIGIL_VERSION='"$(VERSION)"'
FORCE:

$(CAMSIM_OBJ): $(BUILD)/obj/tests/camsim/%.o: tests/camsim/%.c
	@mkdir -p $(dir $@)
	$(say) CC $<
	$(Q)$(CC) $(ALL_CFLAGS) $(call pkg_cflags,$(CAMSIM_PKGS)) -c -o $@ $<

$(SQL_C): $(SQL_SRC) tools/sql2c
	@mkdir -p $(dir $@)
	$(say) GEN $@
	$(Q)tools/sql2c catalog_migrations $(SQL_SRC) > $@.tmp && mv $@.tmp $@

$(TSQL_C): $(TSQL_SRC) tools/sql2c
	@mkdir -p $(dir $@)
	$(say) GEN $@
	$(Q)tools/sql2c ticket_migrations $(TSQL_SRC) > $@.tmp && mv $@.tmp $@

$(WSQL_C): $(WSQL_SRC) tools/sql2c
	@mkdir -p $(dir $@)
	$(say) GEN $@
	$(Q)tools/sql2c web_migrations $(WSQL_SRC) > $@.tmp && mv $@.tmp $@

$(WASSET_C): $(WASSET_SRC) tools/asset2c
	@mkdir -p $(dir $@)
	$(say) GEN $@
	$(Q)tools/asset2c web_assets $(WASSET_SRC) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(say) CC $<
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBVIGIL): $(LIB_OBJ)
	@rm -f $@
	$(say) AR $@
	$(Q)$(AR) rcs $@ $^

$(BUILD)/vigil: $(CMD_OBJ) $(LIBVIGIL)
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(call pkg_libs,$(VIGIL_PKGS)) -lpthread -lm

$(UNIT_OBJ): tests/unit/suites.h
$(BUILD)/unit-tests: $(UNIT_OBJ) $(LIBVIGIL)
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(call pkg_libs,$(VIGIL_PKGS)) -lpthread -lm

$(BUILD)/camsim: $(CAMSIM_OBJ)
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(call pkg_libs,$(CAMSIM_PKGS)) -lpthread

$(BUILD)/mkhistory: $(BUILD)/obj/tests/tools/mkhistory.o $(LIBVIGIL)
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(call pkg_libs,$(VIGIL_PKGS)) -lpthread -lm

$(BUILD)/catbench: $(BUILD)/obj/bench/catbench.o $(LIBVIGIL)
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(call pkg_libs,$(VIGIL_PKGS)) -lpthread -lm

# the cheap camera farm of bench-ingest and its test (bench/farm.c):
# libavformat only reads the clip at start
$(BUILD)/camfarm: $(BUILD)/obj/bench/farm.o
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(call pkg_libs,$(TOOLS_PKGS)) -lpthread

# the least a recorder with vigil's guarantees can spend, for bench-ingest
# (bench/floor.c): recv, SHA-256, write, fdatasync
$(BUILD)/floorrec: $(BUILD)/obj/bench/floor.o $(LIBVIGIL)
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(call pkg_libs,$(VIGIL_PKGS)) -lpthread

$(BUILD)/segcheck: $(SEGCHECK_OBJ)
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(call pkg_libs,$(TOOLS_PKGS))

# The I/O fault injector of the reliability tests (LD_PRELOAD; see
# tests/fault/vfault.c).  Never sanitized: it is preloaded into any build.
$(BUILD)/vfault.so: tests/fault/vfault.c
	@mkdir -p $(dir $@)
	$(say) CC $<
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -fPIC -shared -o $@ $< -ldl -lpthread

# `make test` runs the whole suite once, then the unit tests and the tests
# marked `san = True` (fault injection, fuzzing) again against a sanitizer
# build (ASan+UBSan) in $(SAN_BUILD); any sanitizer report fails the test.
# `make soak` runs the long tests marked `soak = True` (not in `make test`).
SAN_BUILD ?= $(BUILD)/san
ifeq ($(SAN),1)
test: all $(BUILD)/unit-tests $(BUILD)/vfault.so $(BUILD)/floorrec fuzz-build
	@python3 tests/run.py --build $(BUILD)
else
test: all $(BUILD)/unit-tests $(BUILD)/vfault.so $(BUILD)/floorrec san fuzz-build
	@python3 tests/run.py --build $(BUILD) --san-build $(SAN_BUILD)
endif

san:
	@$(MAKE) --no-print-directory BUILD=$(SAN_BUILD) SAN=1 san-programs

# what the sanitizer run needs (camsim, segcheck and the shim come from the
# normal build)
san-programs: $(BUILD)/vigil $(BUILD)/unit-tests $(BUILD)/mkhistory
	@:

# Fuzzing: clang's libFuzzer with ASan+UBSan, in a build folder of its own
# so no fuzzing flag reaches the main build.  `make fuzz` runs every target
# for FUZZ_SECONDS from its seed corpus (tests/fuzz/corpus/TARGET, new finds
# kept in $(FUZZ_BUILD)/corpus); `make test` runs a short pass
# (tests/integration/test_security_fuzz.py).  See tests/fuzz/README.md.
FUZZ_BUILD   ?= $(BUILD)/fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS  = config health_parse rtsp inspect

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang SAN=1 \
		CFLAGS="-O1 -g -fsanitize=fuzzer-no-link" fuzz-programs

# the targets, an ASan vigil and the hostile RTSP server for the tests
fuzz-programs: $(BUILD)/vigil $(BUILD)/hostile-rtsp $(FUZZ_TARGETS:%=$(BUILD)/fuzz-%)
	@:

.SECONDARY: $(FUZZ_TARGETS:%=$(BUILD)/obj/tests/fuzz/fuzz_%.o)
$(BUILD)/fuzz-%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/hostile.o $(LIBVIGIL)
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(call pkg_libs,$(VIGIL_PKGS)) -lpthread -lm

$(BUILD)/hostile-rtsp: $(BUILD)/obj/tests/fuzz/hostile_main.o $(BUILD)/obj/tests/fuzz/hostile.o
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lpthread

fuzz: fuzz-build
	@python3 tests/fuzz/run.py --build $(FUZZ_BUILD) --seconds $(FUZZ_SECONDS)

# Benchmarks (not part of `make test`): each bench-X target runs one and
# prints its figures; bench/README.md says what they mean.
bench: bench-checker

$(BUILD)/checker-load: $(BUILD)/obj/bench/checker_load.o
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(call pkg_libs,libmosquitto) -lpthread

bench-checker: all $(BUILD)/checker-load
	@python3 bench/checker_bench.py --build $(BUILD)

bench: bench-fleet
bench-fleet: all $(BUILD)/checker-load
	@python3 bench/bench_fleet.py --build $(BUILD)

bench: bench-retention
bench-retention: all $(BUILD)/catbench
	@python3 bench/bench_retention.py --build $(BUILD)

# vigil against ffmpeg per camera (GStreamer too with --recorders), cameras
# from build/camfarm, at 16 to 1,024 cameras and on (--ramp) while the disk
# keeps up, with the disk's ceiling (fio) in the same run;
# BENCH_INGEST_ARGS adds options (bench/bench_ingest.py --help), e.g.
# "--cameras 64 --seconds 60" or "--farm camsim"
BENCH_INGEST_ARGS ?= --ramp
bench: bench-ingest
bench-ingest: all $(BUILD)/floorrec
	@python3 bench/bench_ingest.py --build $(BUILD) $(BENCH_INGEST_ARGS)

# the console: spans on a synthetic catalog, viewers beside a recorder of 64
# cameras, a timeline click in headless Chromium; BENCH_WEB_ARGS adds options
# (bench/bench_web.py --help), e.g. "--skip browser"
bench: bench-web
bench-web: all
	@python3 bench/bench_web.py --build $(BUILD) $(BENCH_WEB_ARGS)

# the cost of a /metrics scrape of a recorder with 256 cameras
bench: bench-metrics
bench-metrics: all
	@python3 bench/bench_metrics.py --build $(BUILD)

# the figures also go to $(BUILD)/soak-figures.txt as they come
soak: all $(BUILD)/vfault.so fuzz-build
	@VIGIL_FIGURES=$(abspath $(BUILD))/soak-figures.txt python3 tests/run.py --build $(BUILD) \
		--soak -j 1

test-unit: $(BUILD)/unit-tests
	@python3 tests/run.py --build $(BUILD) --only unit

# the Redmine sink against a real Redmine (tools/install-deps --redmine):
# opt-in, not in `make test`, as migrating and booting Redmine takes a
# minute on a fresh build folder (tests/integration/redmine_optin.py)
.PHONY: test-redmine
test-redmine: all
	@VIGIL_BUILD=$(abspath $(BUILD)) timeout 600 python3 tests/integration/runone.py \
		redmine_optin test_redmine_sink_against_a_real_redmine && \
		echo "ok - redmine_optin::test_redmine_sink_against_a_real_redmine"

run: all
	@tools/run-demo $(BUILD)

# Installing: the binary, its man page, the systemd units of the recorder,
# the checker and the console (run as the vigil user, made by sysusers.d or
# the package's postinst), the storage folder (tmpfiles.d), and the example
# config, which never replaces one already there.
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
UNITS        = vigil-record.service vigil-check.service vigil-serve.service

install: $(BUILD)/vigil $(BUILD)/vigil.1
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(SYSCONFDIR)/vigil
	install -m 0755 $(BUILD)/vigil $(DESTDIR)$(BINDIR)/vigil
	install -m 0644 $(BUILD)/vigil.1 $(DESTDIR)$(MANDIR)/man1/vigil.1
	for u in $(UNITS); do \
		sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
			dist/$$u.in > $(DESTDIR)$(UNITDIR)/$$u && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -m 0644 dist/vigil.sysusers $(DESTDIR)$(SYSUSERSDIR)/vigil.conf
	install -m 0644 dist/vigil.tmpfiles $(DESTDIR)$(TMPFILESDIR)/vigil.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/vigil/vigil.ini || \
		install -m 0644 dist/vigil.ini $(DESTDIR)$(SYSCONFDIR)/vigil/vigil.ini

# leaves the config and the storage alone
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/vigil $(DESTDIR)$(MANDIR)/man1/vigil.1 \
		$(UNITS:%=$(DESTDIR)$(UNITDIR)/%) $(DESTDIR)$(SYSUSERSDIR)/vigil.conf \
		$(DESTDIR)$(TMPFILESDIR)/vigil.conf

# vigil(1), from what `vigil help` prints (tools/mkman)
man: $(BUILD)/vigil.1

$(BUILD)/vigil.1: $(BUILD)/vigil tools/mkman
	$(say) GEN $@
	$(Q)tools/mkman $(BUILD)/vigil > $@.tmp && mv $@.tmp $@

# The Debian package, built from a copy of the tree in $(BUILD)/deb (the
# files git tracks, uncommitted edits included: not the demo's footage or
# other untracked files) so the checkout stays clean;
# the .deb lands in $(BUILD)/deb.  debian/rules builds with Debian's
# hardening flags in a build folder of its own, with none of this make's
# variables (BUILD, CFLAGS, DESTDIR given here are not the package's).
DEB_JOBS ?= 2
deb:
	rm -rf $(BUILD)/deb
	mkdir -p $(BUILD)/deb/vigil
	$(Q)if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z --cached; \
	else \
		find . -path ./.git -prune -o -path ./$(patsubst ./%,%,$(BUILD)) -prune -o \
			-type f -print0 | sed -z 's|^\./||'; \
	fi | tar --null --ignore-failed-read -T - -cf - | tar -C $(BUILD)/deb/vigil -xf -
	cd $(BUILD)/deb/vigil && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL VIGIL_VERSION=$(VERSION) \
		dpkg-buildpackage -b -us -uc -j$(DEB_JOBS)
	@ls $(BUILD)/deb/*.deb

check:
	@missing=$$(grep -L '^#include "util/banned.h"' $(LIB_SRC) $(CMD_SRC)); \
	if [ -n "$$missing" ]; then echo "these do not include util/banned.h: $$missing"; exit 1; fi
	clang-format --dry-run --Werror $(LIB_SRC) $(CMD_SRC) $(wildcard */*.h)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--std=c11 -I. --suppress=missingIncludeSystem $(LIB_SRC) $(CMD_SRC)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
