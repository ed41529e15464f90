# tests/arm/: Cortex-M4 programs the simulator tests run on the virtual chip. Each builds into
# build/arm/tests/<name>.elf and .bin. Programs in ARM_FLASH_TESTS are linked for flash
# (0x08000000, boot after reset); those in ARM_SRAM_TESTS for SRAM (0x20000000, loaded by a
# debugger); ARM_ASM_TESTS are position-independent assembly snippets (an object file whose
# .text is the .bin).
ARM_FLASH_TESTS   := hello_usart fault systick crc_bench
ARM_SRAM_TESTS    := ram_loop
ARM_TEST_DIR      := $(ARMDIR)/tests
ARM_ASM_TESTS     := flash_stub
ARM_TEST_PROGRAMS := $(foreach n,$(ARM_FLASH_TESTS) $(ARM_SRAM_TESTS) $(ARM_ASM_TESTS),$(ARM_TEST_DIR)/$(n).elf $(ARM_TEST_DIR)/$(n).bin)
ARM_TEST_CFLAGS   := -std=c11 -Os -g $(ARM_ARCH) -ffunction-sections -fdata-sections -ffreestanding \
                     $(HOST_WARN) -Itests/arm
ARM_TEST_LDFLAGS  := -nostartfiles -nostdlib -Wl,--gc-sections
ARM_OBJCOPY       := arm-none-eabi-objcopy

$(foreach n,$(ARM_FLASH_TESTS),$(eval $(ARM_TEST_DIR)/$(n).elf: tests/arm/flash.ld))
$(foreach n,$(ARM_SRAM_TESTS),$(eval $(ARM_TEST_DIR)/$(n).elf: tests/arm/sram.ld))

$(ARM_TEST_DIR)/%.elf: tests/arm/%.c tests/arm/startup.c tests/arm/board.h lib/hal/stm32f4_regs.h \
                       lib/hal/stm32f4_usart1.h
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_TEST_CFLAGS) $(ARM_TEST_LDFLAGS) -T $(filter %.ld,$^) \
	    tests/arm/startup.c $< -lgcc -o $@

# Position-independent snippets (no start-up code): loaded by the tests where they like.
$(ARM_TEST_DIR)/%.elf: tests/arm/%.S
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_ARCH) -c $< -o $@

$(ARM_TEST_DIR)/%.bin: $(ARM_TEST_DIR)/%.elf
	$(ARM_OBJCOPY) -O binary $< $@

# The bootloader's SHA-256 (C front end, Cortex-M4 block function) with HMAC and HKDF on top,
# which test_sha256_cm4 runs under Unicorn against OpenSSL, the C version and the vectors.
ARM_TEST_PROGRAMS += $(ARM_TEST_DIR)/sha256_probe.elf $(ARM_TEST_DIR)/sha256_probe.bin
SHA256_PROBE_OBJS := $(ARM_SHA256_CM4_OBJS) $(ARMDIR)/lib/crypto/hmac.o \
                     $(ARMDIR)/lib/crypto/hkdf_sha256.o $(ARMDIR)/lib/crypto/wipe.o \
                     $(ARMDIR)/lib/device/mem.o
$(ARM_TEST_DIR)/sha256_probe.elf: tests/arm/sha256_probe.c tests/arm/sha256_probe.h \
                                  tests/arm/sha256_probe.ld $(SHA256_PROBE_OBJS)
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_TEST_CFLAGS) -Ilib $(ARM_TEST_LDFLAGS) -T tests/arm/sha256_probe.ld \
	    $< $(SHA256_PROBE_OBJS) -lgcc -o $@
