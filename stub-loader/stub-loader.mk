# stub-loader/: the RAM stub. Builds build/arm/stub-loader/stub.elf and stub.bin (linked for SRAM at
# 0x20000000), prints its text+rodata, bss, worst-case stack (from -fstack-usage call graphs) and
# SRAM footprint, and fails the build over the budgets: 8 KB text+rodata, 16 KB of SRAM in all.
# The portable core (session, transport, commands, entropy mixing) also builds for the host, where
# tests/unit/test_stub_proto.c runs it against a fake flash.
STUB_DIR      := $(ARMDIR)/stub-loader
ARM_OBJCOPY   ?= arm-none-eabi-objcopy
STUB_ELF      := $(STUB_DIR)/stub.elf
STUB_BIN      := $(STUB_DIR)/stub.bin
STUB_STACK    ?= 1280
STUB_CORE_SRCS := stub-loader/stub_session.c stub-loader/stub_transport.c \
                  stub-loader/stub_commands.c stub-loader/rng_mix.c
STUB_DEV_SRCS := $(STUB_CORE_SRCS) stub-loader/stub_main.c stub-loader/stub_platform_stm32f4.c
# The lib/ sources the stub links, compiled again here for a link-time-optimised image (LTO and
# --gc-sections keep only what the stub calls, inlined across files: the 8 KB budget needs it).
STUB_LIB_SRCS := $(sort $(wildcard lib/crypto/*.c lib/noise/*.c lib/keyslot/*.c lib/proto/*.c)) \
                 lib/hal/flash_stm32f4.c lib/hal/stm32f4_sectors.c lib/hal/rng_stm32f4.c
STUB_OBJS     := $(patsubst %.c,$(STUB_DIR)/obj/%.o,$(STUB_DEV_SRCS) $(STUB_LIB_SRCS)) \
                 $(STUB_DIR)/obj/lib/device/mem.o $(STUB_DIR)/obj/stub_entry.o
# Optimisations that cost size here, off (-150 bytes; X25519 ~3 % slower, measured; loop header
# copying and tail merging -16 bytes).
STUB_CFLAGS   := $(ARM_CFLAGS) -DSTUB_DEVICE -flto -fno-move-loop-invariants -fno-schedule-insns2 \
                 -fno-ipa-cp -fno-ipa-icf -fno-tree-ch -fno-tree-tail-merge
# Functions the Noise layer reaches through its provider table (indirect calls).
STUB_INDIRECT := pv_x25519 pv_dh_public pv_encrypt pv_decrypt pv_hash pv_hmac

# lib/hal for other device images (firmware/firmware.mk links these): built by lib.mk's
# $(ARMDIR)/%.o rule with the repository's device flags.
HAL_ARM_OBJS  := $(ARMDIR)/lib/hal/flash_stm32f4.o $(ARMDIR)/lib/hal/rng_stm32f4.o

$(STUB_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(ARM_CC) $(STUB_CFLAGS) -c $< -o $@

# mem* stay outside LTO, so the optimiser cannot turn their loops into calls to themselves.
$(STUB_DIR)/obj/lib/device/mem.o: lib/device/mem.c
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_CFLAGS) -fcallgraph-info=su -fno-tree-loop-distribute-patterns -c $< -o $@

$(STUB_DIR)/obj/stub_entry.o: stub-loader/stub_entry.S
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_ARCH) -c $< -o $@

# One LTO partition, so -fcallgraph-info writes the whole program's call graph (with the final
# stack frames) for stub_budget.sh.
$(STUB_ELF): $(STUB_OBJS) stub-loader/sram.ld
	rm -rf $(STUB_DIR)/ci && mkdir -p $(STUB_DIR)/ci
	$(ARM_CC) $(ARM_ARCH) -Os -flto -flto-partition=none -fcallgraph-info=su \
	    -dumpdir $(STUB_DIR)/ci/ -nostartfiles -nostdlib -Wl,--gc-sections -T stub-loader/sram.ld \
	    -Wl,--defsym=STUB_STACK=$(STUB_STACK) -Wl,-Map,$(@:.elf=.map) $(STUB_OBJS) -lgcc -o $@

# The image, then the size report and budget check (a failed check deletes the image).
$(STUB_BIN): $(STUB_ELF) stub-loader/stub_budget.sh
	$(ARM_OBJCOPY) -O binary $< $@
	set -o pipefail; stub-loader/stub_budget.sh $(STUB_ELF) $@ $(STUB_STACK) "$(STUB_INDIRECT)" \
	    $(STUB_DIR)/ci/*.ci $(STUB_DIR)/obj/lib/device/mem.ci | tee $(STUB_DIR)/budget.txt || \
	    { rm -f $@; exit 1; }

DEVICE_IMAGES += $(STUB_BIN)

# Host build of the portable core for the unit tests (lib.mk's $(HOSTDIR)/%.o rule).
STUB_HOST_OBJS := $(patsubst %.c,$(HOSTDIR)/%.o,$(STUB_CORE_SRCS))
$(HOSTDIR)/tests/test_stub_proto: $(STUB_HOST_OBJS)
# The sim test loads the real stub into the sim.
$(HOSTDIR)/tests/test_stub_sim: | $(STUB_BIN) $(SIM_BIN)

.PHONY: stub
stub: $(STUB_BIN)
