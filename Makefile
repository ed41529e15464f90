# Top-level build. Each part keeps its rules in <part>/<part>.mk; this file holds the shared
# settings and the targets a newcomer runs: deps, all, test, demo, fuzz, bench, format-check.

.DEFAULT_GOAL := all
# Keep intermediate objects (tests' .o files) so a rebuild after one change stays incremental.
.SECONDARY:
.DELETE_ON_ERROR:
SHELL := /bin/bash

BUILD   ?= build
HOSTDIR := $(BUILD)/host
ARMDIR  := $(BUILD)/arm
SHARED  ?= $(abspath ../shared)
export PV_TESTDATA ?= $(SHARED)/testdata

# Every Debian package the project needs, build and test. `make deps` installs what is missing.
DEB_PACKAGES := build-essential make pkg-config clang-format \
    gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi \
    libssl-dev openssl libcmocka-dev libjansson-dev \
    libunicorn-dev openocd gdb-multiarch clang libclang-rt-14-dev \
    softhsm2 libp11-kit-dev libcyaml-dev libyaml-dev libsqlite3-dev sqlite3 libusb-1.0-0-dev \
    libevent-dev libcurl4-openssl-dev postgresql libpq-dev gdb zlib1g-dev valgrind \
    chromium \
    debhelper dpkg-dev lintian adduser systemd curl
# libprovision's Python binding and the --json schema check (tests/unit/test_line_api.c).
DEB_PACKAGES += python3 python3-jsonschema

# Host: warnings are errors, and the test build runs under ASan+UBSan.
CC        ?= gcc
HOST_WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
             -Wformat=2 -Wpointer-arith -Wcast-qual
SANITIZE  ?= -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
HOST_OPT    ?= -O1
# The version: debian/changelog's first line is the one place it is set; the programs get it as
# PV_VERSION (`provision --version`, `hsm-bridge --version`, the manual pages' headers).
PV_VERSION     := ${shell sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' debian/changelog}
PV_VERSION_DEF := -DPV_VERSION='"$(PV_VERSION)"'
# Hardening of the release build (Debian's dpkg-buildflags defaults): fortified libc calls, stack
# protector, read-only relocations bound at start. Empty in the test build, where ASan guards.
HARDEN      ?=
HARDEN_LD   ?=
HOST_CFLAGS  := -std=c11 -D_DEFAULT_SOURCE -g $(HOST_OPT) $(HOST_WARN) $(SANITIZE) $(HARDEN) -Ilib \
                -Itests -MMD -MP $(PV_VERSION_DEF)
HOST_LDFLAGS := $(SANITIZE) $(HARDEN_LD)

# Device: Cortex-M4, size-optimised, every function and object in its own section so a final link
# keeps only what it uses.
ARM_CC     := arm-none-eabi-gcc
ARM_SIZE   := arm-none-eabi-size
ARM_ARCH   := -mcpu=cortex-m4 -mthumb -mfloat-abi=soft
ARM_CFLAGS := -std=c11 -Os $(ARM_ARCH) -ffunction-sections -fdata-sections -ffreestanding \
              -fstack-usage $(HOST_WARN) -Ilib -MMD -MP

.PHONY: all host device deps test soak demo release install deb fuzz bench format format-check clean help
all: host device

help:
	@echo "make deps          install every Debian package the project needs (root)"
	@echo "make all           build host libraries, tests and tools, and the device objects"
	@echo "make test          deps + build + every test (what CI runs)"
	@echo "make ct-check      constant-time check of the secret-handling code under valgrind"
	@echo "make soak          power cuts at every flash operation of a provisioning run and of an update (hours)"
	@echo "make device        cross-compile lib/ for Cortex-M4, print size table, check budgets"
	@echo "make release       provision, hsm-bridge and sim without sanitizers, -O2 ($(BUILD)/release)"
	@echo "make install       install the release build under PREFIX (default /usr/local)"
	@echo "make deb           Debian packages of the release build and device images ($(BUILD)/deb)"
	@echo "make soak          long sweeps (power cut at every flash op of an update)"
	@echo "make format        reformat the tree with .clang-format"
	@echo "make format-check  fail if any file is not formatted"
	@echo "make man           rewrite the manual pages' generated parts (options, exit codes)"
	@echo "make man-check     fail if a manual page differs from the programs' tables"
	@echo "make clean         remove $(BUILD)/"

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "deps: installing$$missing"; \
	    if [ "$$(id -u)" != 0 ]; then echo "deps: run as root (or: sudo apt-get install$$missing)"; exit 1; fi; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	else echo "deps: all $(words $(DEB_PACKAGES)) packages present"; fi

include lib/lib.mk
include hsm-bridge/hsm-bridge.mk
include provisioner/provisioner.mk
include tests/tests.mk
-include tests/arm/arm.mk
-include stub-loader/stub-loader.mk
-include firmware/firmware.mk
include sim/sim.mk
-include bench/bench.mk
include tests/fuzz/fuzz.mk
include tools/man.mk
include tests/ct/ct.mk
include debian/deb.mk

host: $(HOST_LIB_OBJS) $(HOST_TESTS) $(HOST_PROGRAMS) $(ARM_TEST_PROGRAMS)
device: $(ARMDIR)/size-report.txt $(DEVICE_IMAGES)

test: deps
	$(MAKE) all
	$(MAKE) release
	$(MAKE) deb $(HOSTDIR)/tests/test_deb
	$(MAKE) format-check
	$(MAKE) man-check
	$(MAKE) fuzz-smoke
	$(MAKE) ct-check
	tests/run_tests.sh $(HOSTDIR)/tests

# The long runs (make test runs a sample of each): power cut sweeps over every flash operation.
# soak-power: test_power_sweep cuts each operation of a provisioning run, each cut followed by
# reruns (docs/power-cuts.md), on the release build's provision, hsm-bridge and sim, in
# SOAK_JOBS shards side by side (default 2); a line per cut, the totals at the end.
# soak-update (tests/tests.mk): each operation of a firmware update.
SOAK_JOBS ?= 2
.PHONY: soak-power
soak: soak-power soak-update
soak-power: deps
	$(MAKE) all
	$(MAKE) release
	SOAK_JOBS=$(SOAK_JOBS) tests/soak_power_sweep.sh $(HOSTDIR)/tests/test_power_sweep $(RELEASE_BIN)

# The demo builds everything, then tools/demo.sh provisions a virtual STM32F427 end to end
# (token, sealed bootloader, `provision run` through OpenOCD, the locked chip refusing a debugger).
demo: deps
	$(MAKE) all
	$(MAKE) release
	PV_DEMO_BIN=$(RELEASE_BIN) tools/demo.sh

# The release build: what `make install` installs and the demo runs. No sanitizers, -O2, hardened;
# the test build (build/host) keeps ASan and UBSan for the tests.
RELEASE_DIR := $(BUILD)/release
RELEASE_BIN := $(RELEASE_DIR)/host/bin
release:
	$(MAKE) BUILD=$(RELEASE_DIR) SANITIZE= HOST_OPT=-O2 \
	    HARDEN="-D_FORTIFY_SOURCE=2 -fstack-protector-strong" HARDEN_LD="-Wl,-z,relro,-z,now" \
	    $(RELEASE_BIN)/provision $(RELEASE_BIN)/hsm-bridge $(RELEASE_BIN)/sim \
	    $(RELEASE_DIR)/pic/host/lib/libprovision.so

PREFIX ?= /usr/local
install: release
	install -D -m 0755 $(RELEASE_BIN)/provision $(DESTDIR)$(PREFIX)/bin/provision
	install -D -m 0755 $(RELEASE_BIN)/hsm-bridge $(DESTDIR)$(PREFIX)/sbin/hsm-bridge
	install -D -m 0644 docs/provision.1 $(DESTDIR)$(PREFIX)/share/man/man1/provision.1
	install -D -m 0644 docs/hsm-bridge.8 $(DESTDIR)$(PREFIX)/share/man/man8/hsm-bridge.8

C_SOURCES = $(wildcard $(shell git ls-files -co --exclude-standard -- '*.c' '*.h' 2>/dev/null))
format:
	clang-format -i $(C_SOURCES)
format-check:
	@bad=$$(for f in $(C_SOURCES); do clang-format --dry-run -Werror "$$f" >/dev/null 2>&1 || echo "$$f"; done); \
	if [ -n "$$bad" ]; then echo "format-check: not formatted (run 'make format'):"; echo "$$bad"; exit 1; fi; \
	echo "format-check: $(words $(C_SOURCES)) files formatted"

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
