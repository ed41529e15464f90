# tests/: every tests/unit/test_*.c is one cmocka program linked against the host lib objects,
# the vector loader and OpenSSL (the differential peer).
TEST_COMMON_OBJS := $(patsubst %.c,$(HOSTDIR)/%.o,$(sort $(wildcard tests/common/*.c)))
UNIT_TEST_SRCS   := $(sort $(wildcard tests/unit/test_*.c))
HOST_TESTS       := $(patsubst tests/unit/%.c,$(HOSTDIR)/tests/%,$(UNIT_TEST_SRCS))
TEST_LIBS        := -lcmocka -ljansson -lcrypto
TEST_LIBS        += -lusb-1.0 # provisioner/dap_transport_usb.c
TEST_LIBS        += -lpq      # hsm-bridge/ledger_store_pg.c (libpq)
# test_ledger talks to its PostgreSQL server directly too (raw SQL, as an attacker would).
$(HOSTDIR)/tests/unit/test_ledger.o: HOST_CFLAGS += -I/usr/include/postgresql
# The PIN policy (test_pin_policy.c, through tests/unit/bridge_harness.h): the built CLIs and a
# real `hsm-bridge serve` whose /proc/PID/environ is read.
$(HOSTDIR)/tests/test_pin_policy: | $(PROV_BIN) $(PROV_HOOKS_BIN) $(BRIDGE_BIN) $(DEVICE_IMAGES)
# Checkpoints signed in the token (test_ledger_checkpoint.c, through bridge_harness.h).
$(HOSTDIR)/tests/test_ledger_checkpoint: | $(PROV_BIN) $(PROV_HOOKS_BIN) $(BRIDGE_BIN) $(DEVICE_IMAGES)
# Names at input and text on output (test_text_safety.c, through bridge_harness.h).
$(HOSTDIR)/tests/test_text_safety: | $(PROV_BIN) $(PROV_HOOKS_BIN) $(BRIDGE_BIN) $(DEVICE_IMAGES)
# Per-device data end to end (test_device_data_run.c, through bridge_harness.h).
$(HOSTDIR)/tests/test_device_data_run: | $(PROV_BIN) $(PROV_HOOKS_BIN) $(BRIDGE_BIN) $(DEVICE_IMAGES)

# Tests also link the provisioner's core and the trusted side (both libraries with thin CLIs).
$(HOSTDIR)/tests/test_%: $(HOSTDIR)/tests/unit/test_%.o $(HOST_LIB_OBJS) $(TEST_COMMON_OBJS) $(PROV_CORE_OBJS) $(BRIDGE_OBJS)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) $^ $(TEST_LIBS) -o $@
# The quota race (test_bridge_quota): eight built hsm-bridge processes on one PostgreSQL, driven by
# the emulated stub of bench/ (its objects are added in bench/bench.mk); it reads the ledger's
# tables with libpq too.
$(HOSTDIR)/tests/unit/test_bridge_quota.o: HOST_CFLAGS += -I/usr/include/postgresql
$(HOSTDIR)/tests/test_bridge_quota: | $(BRIDGE_BIN) $(PROV_BIN) $(PROV_HOOKS_BIN) $(HOSTDIR)/bin/sim \
    $(ARMDIR)/stub-loader/stub.bin $(ARMDIR)/firmware/bootloader.bin $(ARMDIR)/firmware/app_v1.bin
# test_update_frame compares the frame CRC with zlib's crc32.
$(HOSTDIR)/tests/test_update_frame: TEST_LIBS += -lz
# The update sweep: a power cut at every flash operation of an update, each followed by a rerun
# (make test runs a sample of them).
.PHONY: soak-update
soak-update: all
	PV_UPDATE_SWEEP=all $(HOSTDIR)/tests/test_update_device
# The update service's tests run the built hsm-bridge (release add) and provision (keys, image
# sign) and sign the built app_v2.
$(HOSTDIR)/tests/test_update_session: | $(BRIDGE_BIN) $(PROV_BIN) $(DEVICE_IMAGES)
# The power cut sweep (test_power_sweep) drives the built hsm-bridge, provision and sim.
$(HOSTDIR)/tests/test_power_sweep: | $(BRIDGE_BIN) $(PROV_BIN) $(PROV_HOOKS_BIN) $(HOSTDIR)/bin/sim \
    $(ARMDIR)/stub-loader/stub.bin $(ARMDIR)/firmware/bootloader.bin $(ARMDIR)/firmware/app_v1.bin
$(HOSTDIR)/tests/test_update_run: | $(BRIDGE_BIN) $(PROV_BIN) $(HOSTDIR)/bin/sim $(DEVICE_IMAGES)
# The operator's view (test_operator_view.c, through bridge_harness.h): a real bridge, a station
# provisioning virtual chips, and Debian's chromium headless reading the page.
$(HOSTDIR)/tests/test_operator_view: | $(PROV_BIN) $(PROV_HOOKS_BIN) $(BRIDGE_BIN) $(HOSTDIR)/bin/sim \
    $(DEVICE_IMAGES)
# The bootloader's SHA-256 (build/arm/tests/sha256_probe.bin, tests/arm/arm.mk) under Unicorn,
# with the sim's fix for Unicorn 2.0.1's slow stores (sim/unicorn_store_fix.c, SIM_LIBS).
$(HOSTDIR)/tests/test_sha256_cm4: $(HOSTDIR)/sim/unicorn_store_fix.o | $(ARMDIR)/tests/sha256_probe.bin
$(HOSTDIR)/tests/test_sha256_cm4: TEST_LIBS += $(SIM_LIBS)
# libprovision as line software uses it (test_line_api.c, through bridge_harness.h): the C API in
# process, the Python binding on the unsanitized shared library, `provision run --json` against
# docs/schema/run-result.schema.json.
$(HOSTDIR)/tests/test_line_api: | $(PROV_BIN) $(BRIDGE_BIN) $(HOSTDIR)/bin/sim $(DEVICE_IMAGES) \
    $(LIBPROV_PIC)
# A run through a tunneled GDB server (test_probe_tunnel): the built provision, sim and the delay
# proxy of bench/.
$(HOSTDIR)/tests/test_probe_tunnel: | $(PROV_BIN) $(HOSTDIR)/bin/sim $(HOSTDIR)/bin/delay_proxy \
    $(ARMDIR)/stub-loader/stub.bin $(ARMDIR)/firmware/bootloader.bin
