# firmware/: the secure bootloader and the demo application (docs/image-format.md).
# Builds into build/arm/firmware/: bootloader.elf/.bin (budget 24 KB of flash, checked here and
# by the linker script), the demo application in two versions, as an attack and as the per-device
# data reader, each signed into an image with a TEST key generated into build/ at build time (never
# a product key).

FW_DIR    := $(ARMDIR)/firmware
FW_BUDGET := 24576

# PKCS#11 header for hsm-bridge/p11_*.c (Debian libp11-kit-dev).
P11_CFLAGS := $(shell pkg-config --cflags p11-kit-1 2>/dev/null || echo -I/usr/include/p11-kit-1)
$(HOSTDIR)/hsm-bridge/p11_%.o: HOST_CFLAGS += $(P11_CFLAGS)

# ---- bootloader ----
FW_BOOT_SRCS := $(sort $(wildcard firmware/*.c))
FW_BOOT_OBJS := $(patsubst firmware/%.c,$(FW_DIR)/boot/%.o,$(FW_BOOT_SRCS))
# The flash and RNG drivers, compiled here so the bootloader links them on its own.
FW_HAL_OBJS  := $(FW_DIR)/hal/flash_stm32f4.o $(FW_DIR)/hal/rng_stm32f4.o
FW_LINK      := $(ARM_CC) $(ARM_ARCH) -Os -nostartfiles -nostdlib -Wl,--gc-sections
# lib/ for the bootloader: SHA-256 with the Cortex-M4 assembly block function (lib/lib.mk), which
# brings validating a 256 KB application under 50 ms (make bench-boot).
FW_LIB_OBJS  := $(filter-out $(ARMDIR)/lib/crypto/sha256.o,$(ARM_LIB_OBJS)) $(ARM_SHA256_CM4_OBJS)

$(FW_DIR)/boot/%.o: firmware/%.c
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_CFLAGS) -Ifirmware -c $< -o $@

$(FW_DIR)/hal/%.o: lib/hal/%.c
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_CFLAGS) -c $< -o $@

$(FW_DIR)/bootloader.elf: $(FW_BOOT_OBJS) $(FW_HAL_OBJS) $(FW_LIB_OBJS) firmware/bootloader.ld
	$(FW_LINK) -T firmware/bootloader.ld -Wl,-Map,$(@:.elf=.map) \
	    $(FW_BOOT_OBJS) $(FW_HAL_OBJS) $(FW_LIB_OBJS) -lgcc -o $@

$(FW_DIR)/%.bin: $(FW_DIR)/%.elf
	arm-none-eabi-objcopy -O binary $< $@

# ---- demo application: v1, v2, the counter attack and the per-device data reader, each its own
# objects ----
FW_APP_VARIANTS := app_v1 app_v2 app_attack app_devdata
FW_APP_VERSION_app_v1     := 1.0.0
FW_APP_VERSION_app_v2     := 2.0.0
FW_APP_VERSION_app_attack := 3.0.0
FW_APP_VERSION_app_devdata := 1.0.0
FW_APP_ATTACK_app_v1      := 0
FW_APP_ATTACK_app_v2      := 0
FW_APP_ATTACK_app_attack  := 1
FW_APP_ATTACK_app_devdata := 0
# app_devdata also checks and prints the per-device data record (firmware/app/pv_device_data.h).
FW_APP_DEVDATA_app_devdata := 1
FW_APP_ELFS := $(FW_APP_VARIANTS:%=$(FW_DIR)/%.elf)

define FW_APP_RULES
$(FW_DIR)/$(1)/%.o: firmware/app/%.c
	@mkdir -p $$(@D)
	$$(ARM_CC) $$(ARM_CFLAGS) -DAPP_VERSION='"$(FW_APP_VERSION_$(1))"' \
	    -DAPP_ATTACK=$(FW_APP_ATTACK_$(1)) -DAPP_DEVICE_DATA=$(or $(FW_APP_DEVDATA_$(1)),0) \
	    -c $$< -o $$@
# The start-up code is the bootloader's own (firmware/startup.c: same vectors, .data, .bss).
# lib/ gives the per-device data check (lib/devdata, Ed25519); --gc-sections keeps what it uses.
$(FW_DIR)/$(1).elf: $(FW_DIR)/$(1)/app_main.o $(FW_DIR)/boot/startup.o firmware/app/app.ld \
                    $(ARM_LIB_OBJS)
	$$(FW_LINK) -T firmware/app/app.ld $$(filter %.o,$$^) -lgcc -o $$@
$(FW_DIR)/$(1).img: $(FW_DIR)/$(1).bin $(FW_DIR)/keys/test-signer.pem $(PROV_BIN)
	$(PROV_BIN) image sign --key $(FW_DIR)/keys/test-signer.pem \
	    --image-version $(FW_APP_VERSION_$(1)) --in $$< --out $$@
endef
$(foreach v,$(FW_APP_VARIANTS),$(eval $(call FW_APP_RULES,$(v))))

# Sizes whenever an image relinks; over budget fails the build.
$(FW_DIR)/size.txt: $(FW_DIR)/bootloader.bin $(FW_DIR)/bootloader.elf $(FW_APP_ELFS) \
                    firmware/size_report.sh
	set -o pipefail; firmware/size_report.sh $(FW_BUDGET) $(FW_DIR)/bootloader.bin \
	    $(FW_DIR)/bootloader.elf $(FW_DIR)/bootloader.map $(FW_APP_ELFS) | tee $@.new
	mv $@.new $@

# The TEST signing key: generated per build tree, used for the demo images and the tests only.
$(FW_DIR)/keys/test-signer.pem:
	@mkdir -p $(@D)
	openssl genpkey -algorithm ed25519 -out $@

# The update path's flash writer alone, asked to write where it must not (test_update_device).
$(FW_DIR)/writer_probe.elf: tests/arm/writer_probe.c tests/arm/startup.c tests/arm/flash.ld \
                            $(FW_DIR)/boot/app_writer.o $(FW_HAL_OBJS) $(ARM_LIB_OBJS)
	$(ARM_CC) $(ARM_CFLAGS) -Ifirmware -Itests/arm -nostartfiles -nostdlib -Wl,--gc-sections \
	    -T tests/arm/flash.ld tests/arm/startup.c $< $(filter %.o,$^) -lgcc -o $@

FW_IMAGES := $(FW_DIR)/bootloader.elf $(FW_DIR)/bootloader.bin $(FW_DIR)/size.txt \
             $(FW_APP_VARIANTS:%=$(FW_DIR)/%.img) $(FW_DIR)/writer_probe.bin
DEVICE_IMAGES += $(FW_IMAGES)

.PHONY: firmware
firmware: $(FW_IMAGES)
