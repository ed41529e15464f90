# bench/: benchmarks that print figures. Not part of `make test`.
BENCH_TARGETS ?=

# OpenOCD 0.12.0 programs a 64 KB image into a non-sanitized sim over remote_bitbang
# (flash write_image erase + verify_image): wall time, KB/s, chars per byte, transactions, MIPS.
BENCH_TARGETS += bench-sim
.PHONY: bench-sim
bench-sim:
	bench/sim_openocd.sh


# The bootloader validating a 256 KB application on the virtual chip at 168 MHz: instructions,
# cycles and device time per step, from the sim's counters (goal: at most 50 ms).
BENCH_TARGETS += bench-boot
BOOT_BENCH := $(HOSTDIR)/bench/boot_validate
$(BOOT_BENCH): bench/boot_validate.c tests/unit/sim_process.h tests/unit/rsp_client.h $(HOST_LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -Itests/unit $< $(HOST_LIB_OBJS) $(HOST_LDFLAGS) -lcrypto -o $@
.PHONY: bench-boot
bench-boot:
	bench/boot_validate.sh

# The bootloader's update mode installing a 128 KB application over USART1 on the virtual chip:
# per phase instructions, cycles, device and flash time, wall time; link bytes per image byte.
BENCH_TARGETS += bench-update
UPDATE_BENCH := $(HOSTDIR)/bench/update_device
$(UPDATE_BENCH): bench/update_device.c tests/unit/sim_process.h tests/unit/rsp_client.h $(HOST_LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -Itests/unit $< $(HOST_LIB_OBJS) $(HOST_LDFLAGS) -lcrypto -o $@
.PHONY: bench-update
bench-update:
	bench/update_device.sh

# The RAM stub (stub-loader/): X25519 and handshake instructions on the device, and for a 32 KB
# install the bytes over the debug port against the payload, the round trips, and the share of
# device time in flash erase/program; all from the sim's counters (bench/stub_bench.c).
BENCH_X25519_ELF := $(ARMDIR)/bench/x25519_once.elf
BENCH_X25519_BIN := $(ARMDIR)/bench/x25519_once.bin
STUB_BENCH_BIN   := $(HOSTDIR)/bin/stub_bench
$(ARMDIR)/bench/x25519_once.o: bench/x25519_once.c
	@mkdir -p $(@D)
	$(ARM_CC) $(STUB_CFLAGS) -c $< -o $@
$(BENCH_X25519_ELF): $(ARMDIR)/bench/x25519_once.o $(STUB_DIR)/obj/lib/crypto/x25519.o \
                     $(STUB_DIR)/obj/lib/crypto/fe25519.o $(STUB_DIR)/obj/lib/crypto/wipe.o \
                     $(STUB_DIR)/obj/lib/device/mem.o stub-loader/sram.ld
	$(ARM_CC) $(ARM_ARCH) -Os -flto -nostartfiles -nostdlib -Wl,--gc-sections \
	    -T stub-loader/sram.ld -Wl,--defsym=STUB_STACK=2048 $(filter %.o,$^) -lgcc -o $@
$(BENCH_X25519_BIN): $(BENCH_X25519_ELF)
	$(ARM_OBJCOPY) -O binary $< $@
$(STUB_BENCH_BIN): $(HOSTDIR)/bench/stub_bench.o $(HOST_LIB_OBJS) $(HOSTDIR)/provisioner/probe_gdb.o \
                   $(HOSTDIR)/provisioner/gdb_reply.o \
                   $(HOSTDIR)/provisioner/probe_util.o $(HOSTDIR)/provisioner/relay_mailbox.o \
                   $(HOSTDIR)/provisioner/install_inproc.o $(HOSTDIR)/hsm-bridge/install_frames.o \
                   $(patsubst %.c,$(HOSTDIR)/%.o,$(wildcard hsm-bridge/session_*.c))
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) $^ -lcrypto -o $@

BENCH_TARGETS += bench-stub
.PHONY: bench-stub
bench-stub: $(STUB_BENCH_BIN) $(SIM_BIN) $(STUB_BIN) $(BENCH_X25519_BIN)
	$(STUB_BENCH_BIN) $(SIM_BIN) $(STUB_BIN) $(BENCH_X25519_BIN)

# `provision run` per device through OpenOCD on the virtual chip, by phase, against OpenOCD alone
# programming the same images unencrypted, both on the sim's --realtime datasheet flash timings;
# flash operations and round trips per device (bench/provision_bench.sh, non-sanitized build).
# The demo's bootloader and application, then with the application padded to 128 KB (a
# production-size image: the stub's upload is a fixed cost per device), on factory-fresh chips,
# and the 128 KB case again on used chips (every sector to be erased). A round takes 10-25 s of
# wall time (the erases really wait), hence few devices per run.
BENCH_TARGETS += bench-provision
.PHONY: bench-provision
bench-provision:
	bench/provision_bench.sh 3
	bench/provision_bench.sh 2 128
	bench/provision_bench.sh 2 128 used

# `hsm-bridge serve` driven by emulated stations and chips (bench/emu_stub.c: the stub's portable
# core on a fake STM32F427 per thread, the station's bridge client in front): sessions per second
# of one bridge with SQLite and with PostgreSQL, the bridge's time per session, and the time per
# device through a loopback delay proxy (bench/delay_proxy.c) at 0, 20 and 100 ms round trip
# (bench/bridge_bench.sh, non-sanitized build).
EMU_STUB_OBJS   := $(HOSTDIR)/bench/emu_stub.o $(STUB_HOST_OBJS)
BRIDGE_LOAD_BIN := $(HOSTDIR)/bin/bridge_load
DELAY_PROXY_BIN := $(HOSTDIR)/bin/delay_proxy
$(BRIDGE_LOAD_BIN): $(HOSTDIR)/bench/bridge_load.o $(EMU_STUB_OBJS) $(PROV_CORE_OBJS) $(BRIDGE_OBJS) \
                    $(HOST_LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) $^ $(PROV_LIBS) -o $@
$(DELAY_PROXY_BIN): $(HOSTDIR)/bench/delay_proxy.o
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) $^ -o $@
# The quota race test (tests/unit/test_bridge_quota.c) drives its bridges with the same emulation.
$(HOSTDIR)/tests/test_bridge_quota: $(EMU_STUB_OBJS)

BENCH_TARGETS += bench-bridge
.PHONY: bench-bridge
bench-bridge:
	bench/bridge_bench.sh

HOST_PROGRAMS += $(BRIDGE_LOAD_BIN) $(DELAY_PROXY_BIN)

# A firmware update of a 128 KB application on the virtual chip through hsm-bridge and
# `provision update` (the end-to-end test test_update_run, which prints the figures): wall time
# split into handshake, transfer and the device's checks, bytes on the link against image bytes,
# bridge round trips, and from the sim's counters the device's instructions, cycles, device time
# and flash time of the session (bench/update_bench.sh).
BENCH_TARGETS += bench-update-bridge
.PHONY: bench-update-bridge
bench-update-bridge: all
	bench/update_bench.sh $(HOSTDIR)/tests/test_update_run

# The benchmark programs are built by `make all` (so `make test` catches them breaking); only
# running them is left to `make bench`.
HOST_PROGRAMS += $(BOOT_BENCH) $(STUB_BENCH_BIN)

# Does the debug link work while the flash does? The 32 KB install per probe (GDB, CMSIS-DAP,
# OpenOCD) on a sim with flash taking device time only, then with --realtime (datasheet wall
# time): link time, flash time, and how much of the link time the flash time hides
# (bench/stub_overlap.c, non-sanitized build).
STUB_OVERLAP_BIN := $(HOSTDIR)/bin/stub_overlap
$(STUB_OVERLAP_BIN): $(HOSTDIR)/bench/stub_overlap.o $(PROV_CORE_OBJS) $(BRIDGE_OBJS) $(HOST_LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) $^ $(PROV_LIBS) -o $@
HOST_PROGRAMS += $(STUB_OVERLAP_BIN)

BENCH_TARGETS += bench-stub-overlap
.PHONY: bench-stub-overlap
bench-stub-overlap: $(STUB_BIN)
	$(MAKE) -s BUILD=build/bench SANITIZE= build/bench/host/bin/sim build/bench/host/bin/stub_overlap
	build/bench/host/bin/stub_overlap build/bench/host/bin/sim $(STUB_BIN)

# `provision run` per device through a tunneled GDB server: the sim's GDB front end behind
# bench/delay_proxy at 50 ms round trip; round trips per device as the proxy saw them and as the
# station counted them, their latency and the wall time, for the demo images and with a 128 KB
# application (bench/tunnel_bench.sh, non-sanitized build; goal: at most 40 round trips).
BENCH_TARGETS += bench-tunnel
.PHONY: bench-tunnel
bench-tunnel:
	bench/tunnel_bench.sh 3 50
	bench/tunnel_bench.sh 2 50 128

# Last: the prerequisites are expanded here, after every part appended its target.
bench: $(BENCH_TARGETS)

