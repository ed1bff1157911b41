# wincri build. Sources are found by wildcard: shared code is */*.c, platform parts are
# *_linux.c / *_win32.c, and the daemon's entry point is cri/main_<platform>.c.
MODULES := common cri podsandbox hcs hns image
PKGS := grpc jansson libprotobuf-c libcurl sqlite3 libarchive libcrypto libssl zlib
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_REV := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

# VARIANT=release (default), VARIANT=san (ASan + UBSan, what the tests run) or VARIANT=fuzz
# (clang, libFuzzer coverage + ASan + UBSan; `make fuzz` and `make fuzz-smoke` use it).
VARIANT ?= release
B := build/$(VARIANT)
GEN := build/gen

CC ?= gcc
WARN := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
BASE_CFLAGS := -std=c11 $(WARN) -I. -I$(GEN) -D_GNU_SOURCE -g \
	-DWINCRI_VERSION=\"$(VERSION)\" -DWINCRI_GIT_REV=\"$(GIT_REV)\"
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined
ifeq ($(VARIANT),san)
OPT := -O1 -fno-omit-frame-pointer $(SAN_FLAGS)
LDFLAGS := $(SAN_FLAGS)
else ifeq ($(VARIANT),fuzz)
CC := clang
OPT := -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(SAN_FLAGS)
LDFLAGS := -fsanitize=fuzzer $(SAN_FLAGS)
else
OPT := -O2
LDFLAGS :=
endif
CFLAGS := $(BASE_CFLAGS) $(OPT) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

ALL_SRC := $(wildcard $(addsuffix /*.c,$(MODULES)))
MAIN_SRC := $(wildcard */main_*.c)
LIB_SRC := $(filter-out %_win32.c $(MAIN_SRC),$(ALL_SRC))
WIN_SRC := $(filter-out %_linux.c $(MAIN_SRC),$(ALL_SRC)) cri/main_win32.c

PROTO := cri/api.proto
PB_C := $(GEN)/api.pb-c.c
PB_H := $(GEN)/api.pb-c.h

LIB_OBJ := $(patsubst %.c,$(B)/%.o,$(LIB_SRC)) $(B)/gen/api.pb-c.o
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))

.PHONY: all deps run test unit e2e windows windows-check windows-link windows-e2e bench clean format \
	format-check valgrind fuzz fuzz-smoke fuzz-build fuzz-bins

all: $(B)/wincrid

deps:
	deploy/linux/install-deps.sh

# Members named stdin/stdout/stderr collide with the C library's macros on Windows, so the
# generated C gets stdin_/stdout_/stderr_ as member names (wire and descriptor names stay).
$(PB_C) $(PB_H) &: $(PROTO)
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -Icri $(PROTO)
	sed -E -i 's/([^"A-Za-z0-9_])(stdin|stdout|stderr)([^"A-Za-z0-9_])/\1\2_\3/g' $(PB_C) $(PB_H)

$(B)/gen/api.pb-c.o: $(PB_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-unused-parameter -c $< -o $@

$(B)/%.o: %.c $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/libwincri.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/wincrid: $(B)/cri/main_linux.o $(B)/libwincri.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: tests/unit/%.c $(B)/libwincri.a tests/unit/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libwincri.a $(LDLIBS) -lcmocka

# The pod model's tests (tests/unit/test_pod_*.c) run it against fakes of everything below it
# (tests/unit/fake_*.c: hcs/runtime.h, hns/hns.h, the image store's look-up and holds, the
# platform's sandbox and stdio seams). They link the model's shared objects, common/ and the
# fakes, never libwincri.a, so no real backend can slip in: a symbol the fakes lack fails the link.
POD_MODEL_OBJ := $(patsubst %.c,$(B)/%.o,$(filter-out podsandbox/ocispec%,\
	$(filter-out %_linux.c %_win32.c,$(wildcard podsandbox/*.c))) \
	$(filter-out %_win32.c,$(wildcard common/*.c)))
POD_FAKE_OBJ := $(patsubst %.c,$(B)/%.o,$(wildcard tests/unit/fake_*.c) tests/unit/podtest.c)

$(POD_FAKE_OBJ): $(B)/%.o: %.c $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/tests/test_pod_%: tests/unit/test_pod_%.c $(POD_MODEL_OBJ) $(POD_FAKE_OBJ) \
		tests/unit/testutil.h tests/unit/podtest.h tests/unit/fake_backend.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(POD_MODEL_OBJ) $(POD_FAKE_OBJ) $(LDLIBS) -lcmocka

-include $(LIB_OBJ:.o=.d) $(B)/cri/main_linux.d $(wildcard $(B)/tests/fuzz/*.d) \
	$(POD_FAKE_OBJ:.o=.d)

# The README's commands. Both install what is missing first.
run:
	deploy/linux/install-deps.sh run
	$(MAKE) VARIANT=release all
	build/release/wincrid $(ARGS)

# run-all.sh installs what is missing itself (its first timed stage).
test:
	tests/run-all.sh

.PHONY: check unit-build

# The fast check before a commit: format, the Windows compile check, the unit tests under
# ASan/UBSan (about a minute from nothing on 2 cores, seconds when built). The builds run
# on every core unless -j was given.
JOBS = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc))
check:
	@$(MAKE) --no-print-directory $(JOBS) VARIANT=san format-check windows-check unit-build
	@$(MAKE) --no-print-directory VARIANT=san unit

# Some unit tests only: T=ocispec (or test_ocispec, or a glob, T='img_*') picks
# tests/unit/test_ocispec.c. CASE=user runs only the cmocka cases whose names contain
# "user" (a pattern with * or ? must match the whole name); testutil.h hands it to cmocka.
UNIT_PICK := $(if $(T),$(wildcard $(foreach t,$(T),\
	tests/unit/test_$(patsubst test_%,%,$(basename $(notdir $(t)))).c)),$(UNIT_SRC))
UNIT_RUN := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_PICK))
ifeq ($(UNIT_RUN),)
$(error T=$(T) names no unit test; there are: $(patsubst tests/unit/test_%.c,%,$(UNIT_SRC)))
endif
ifdef CASE
export CMOCKA_TEST_FILTER := $(if $(findstring *,$(CASE))$(findstring ?,$(CASE)),$(CASE),*$(CASE)*)
endif

unit-build: $(UNIT_RUN)

unit: $(UNIT_RUN)
	@tests/unit/run.sh $(UNIT_RUN)

# K=expr passes `-k expr` to pytest: a test's name, a file's (K=test_images_auth), `a and
# not b`. PYTEST_ARGS goes through as it is.
e2e: $(B)/wincrid
	WINCRID=$(abspath $(B)/wincrid) /usr/bin/python3 -m pytest -q tests/e2e \
		$(if $(K),-k '$(K)') $(PYTEST_ARGS)

# Children forked without exec (test_pod_recovery.c's, killed at crash points) are not
# reported: valgrind's exit report of a process killed midway is noise.
valgrind: $(UNIT_RUN)
	@set -e; for t in $(UNIT_RUN); do valgrind -q --error-exitcode=9 --leak-check=full \
		--errors-for-leak-kinds=definite --child-silent-after-fork=yes $$t >/dev/null; \
		echo "valgrind clean: $$t"; done

bench: deps
	tests/bench/run.sh

# Windows. With the cross-built dependency cache (deploy/windows/build-deps.sh) this links
# wincrid.exe; the compile check of every Windows source needs only headers.
WIN_CC := x86_64-w64-mingw32-gcc
WB := build/win
WIN_INC := $(WB)/include
WIN_CFLAGS := -std=c11 $(WARN) -I. -I$(GEN) -I$(WIN_INC) -O2 -D_WIN32_WINNT=0x0A00 \
	-D__USE_MINGW_ANSI_STDIO=1 \
	-DWINCRI_VERSION=\"$(VERSION)\" -DWINCRI_GIT_REV=\"$(GIT_REV)\"
WIN_OBJ := $(patsubst %.c,$(WB)/%.o,$(WIN_SRC))

$(WIN_INC)/.stamp:
	@mkdir -p $(WIN_INC)
	deploy/windows/header-shim.sh $(WIN_INC)
	@touch $@

$(WB)/%.o: %.c $(PB_H) $(WIN_INC)/.stamp
	@mkdir -p $(dir $@)
	$(WIN_CC) $(WIN_CFLAGS) -MMD -MP -c $< -o $@

-include $(WIN_OBJ:.o=.d)

windows-check: $(WIN_OBJ)
	@echo "windows compile check: $(words $(WIN_OBJ)) sources compiled for x86_64-w64-mingw32"

# The full Windows build: dependencies cross-built once from Debian's sources into a cache
# (deploy/windows/build-deps.sh; a no-op when cached), then wincrid.exe linked against them.
WIN_DEPS ?= /var/cache/wincri/win-deps
windows:
	deploy/windows/build-deps.sh >/dev/null
	$(MAKE) windows-link

WL := build/winlink
WIN_LINK_FLAGS := $(WIN_DEPS)/link-flags.txt
WL_CC = $(shell sed -n 's/^CC=//p' $(WIN_LINK_FLAGS))
WL_CFLAGS = $(filter-out -I$(WIN_INC),$(WIN_CFLAGS)) $(shell sed -n 's/^CFLAGS=//p' $(WIN_LINK_FLAGS))
WL_LIBS = $(shell sed -n 's/^LIBS=//p' $(WIN_LINK_FLAGS)) -lpathcch -lole32 -lrpcrt4
WL_OBJ := $(patsubst %.c,$(WL)/%.o,$(WIN_SRC)) $(WL)/gen/api.pb-c.o

$(WL)/gen/api.pb-c.o: $(PB_C)
	@mkdir -p $(dir $@)
	$(WL_CC) $(WL_CFLAGS) -c $< -o $@

$(WL)/%.o: %.c $(PB_H)
	@mkdir -p $(dir $@)
	$(WL_CC) $(WL_CFLAGS) -MMD -MP -c $< -o $@

-include $(WL_OBJ:.o=.d)

# The application manifest (deploy/windows/wincrid.manifest) and the event-log message table
# (deploy/windows/wincrid-events.mc, through windmc) as linked resources.
$(WL)/events/wincrid-events.rc: deploy/windows/wincrid-events.mc
	@mkdir -p $(dir $@)
	x86_64-w64-mingw32-windmc -r $(dir $@) -h $(dir $@) $<

$(WL)/wincrid.res.o: deploy/windows/wincrid.rc deploy/windows/wincrid.manifest \
		$(WL)/events/wincrid-events.rc
	@mkdir -p $(dir $@)
	x86_64-w64-mingw32-windres -I deploy/windows -I $(WL)/events $< -O coff -o $@

$(WL)/wincrid.exe: $(WL_OBJ) $(WL)/wincrid.res.o
	$(WL_CC) -static -o $@ $^ $(WL_LIBS)

windows-link: $(WL)/wincrid.exe
	@file $< | grep -q "PE32+ executable" && echo "linked $< (PE32+, x86-64)"

# wincrid.exe end to end under wine on the simulated Windows Server 2022 host: the mingw
# test doubles of the platform DLLs (tests/windows/sim) and pytest (tests/windows/e2e).
windows-e2e: windows
	tests/windows/sim/build.sh build/winsim
	/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/windows/e2e $(PYTEST_ARGS)

# Fuzzing: one libFuzzer target per tests/fuzz/fuzz_NAME.c, built into build/fuzz/bin/NAME
# (tests/fuzz/run.sh runs them; seeds in tests/fuzz/corpus/NAME). `make fuzz` runs each for
# FUZZ_SECONDS, `make fuzz-smoke` (part of `make test`) for FUZZ_SMOKE_SECONDS; FUZZ_TARGETS
# picks some by name.
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(addprefix $(B)/bin/,$(FUZZ_NAMES))
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_TARGETS ?=

$(B)/bin/%: tests/fuzz/fuzz_%.c $(B)/tests/fuzz/fuzzutil.o $(B)/libwincri.a tests/fuzz/fuzz.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/tests/fuzz/fuzzutil.o $(FUZZ_EXTRA) $(B)/libwincri.a \
		$(LDLIBS)

.SECONDARY: $(B)/tests/fuzz/fuzzutil.o $(B)/tests/fuzz/fake_registry.o
# The pull target links a registry double instead of image/registry.c.
$(B)/bin/image_pull: FUZZ_EXTRA = $(B)/tests/fuzz/fake_registry.o
$(B)/bin/image_pull: $(B)/tests/fuzz/fake_registry.o tests/fuzz/fake_registry.h

fuzz-bins: $(FUZZ_BIN)

fuzz-build:
	$(MAKE) VARIANT=fuzz fuzz-bins

fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	tests/fuzz/run.sh $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf build

FMT_SRC := $(ALL_SRC) $(wildcard */*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c tests/fuzz/*.h)
format:
	clang-format -i $(FMT_SRC)
format-check:
	clang-format --dry-run --Werror $(FMT_SRC)
