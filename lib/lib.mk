# lib/: portable C shared by device and host. crypto/, noise/, keyslot/, devdata/, image/ and proto/ build
# for both; host/ holds the host-only pieces (the OpenSSL provider); hal/ and device/ are
# device-only (chip drivers and the minimal runtime), except hal/stm32f4_sectors.c, the sector
# map the host's recipe checks and install planning share with the flash driver.
LIB_PORTABLE_SRCS := $(sort $(wildcard lib/crypto/*.c lib/noise/*.c lib/keyslot/*.c lib/devdata/*.c lib/image/*.c lib/proto/*.c)) \
                     lib/hal/stm32f4_sectors.c
LIB_HOST_SRCS     := $(sort $(wildcard lib/host/*.c))

HOST_LIB_OBJS := $(patsubst %.c,$(HOSTDIR)/%.o,$(LIB_PORTABLE_SRCS) $(LIB_HOST_SRCS))
# lib/device/ holds the minimal runtime device images link instead of newlib's (mem*).
LIB_DEVICE_SRCS := $(sort $(wildcard lib/device/*.c))
ARM_LIB_OBJS  := $(patsubst %.c,$(ARMDIR)/%.o,$(LIB_PORTABLE_SRCS) $(LIB_DEVICE_SRCS))

$(ARMDIR)/lib/device/%.o: lib/device/%.c
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_CFLAGS) -fno-tree-loop-distribute-patterns -c $< -o $@

$(HOSTDIR)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -c $< -o $@

$(ARMDIR)/%.o: %.c
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_CFLAGS) -c $< -o $@

# Budget images: link only what the RAM stub (resp. Ed25519 verify) pulls in, then measure.
ARM_LINK := $(ARM_CC) $(ARM_ARCH) -Os --specs=nano.specs -nostartfiles -Wl,--gc-sections
$(ARMDIR)/budget/%.o: tools/budget/%.c
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_CFLAGS) -c $< -o $@
$(ARMDIR)/budget/stub_crypto.elf: $(ARMDIR)/budget/stub_crypto.o $(ARMDIR)/budget/stub_set.o $(ARM_LIB_OBJS)
	$(ARM_LINK) -Wl,-e,budget_entry -Wl,-Map,$(@:.elf=.map) $^ -lgcc -o $@
# The Ed25519 probe also calls the stub set, so the difference is what Ed25519 adds.
$(ARMDIR)/budget/ed25519_verify.elf: $(ARMDIR)/budget/ed25519_verify.o $(ARMDIR)/budget/stub_set.o $(ARM_LIB_OBJS)
	$(ARM_LINK) -Wl,-e,budget_entry -Wl,-Map,$(@:.elf=.map) $^ -lgcc -o $@

BUDGETS := stub_crypto ed25519_verify
$(ARMDIR)/size-report.txt: $(ARM_LIB_OBJS) $(BUDGETS:%=$(ARMDIR)/budget/%.elf) tools/size_report.sh
	set -o pipefail; tools/size_report.sh $(ARMDIR) $(ARM_LIB_OBJS) | tee $@

# SHA-256 with the Cortex-M4 assembly block function (lib/crypto/sha256_cm4.S) in place of the C
# one (sha256.c built with PV_SHA256_CM4): what the bootloader links, for its validation time.
# The RAM stub and the other device images keep the smaller portable C.
ARM_SHA256_CM4_OBJS := $(ARMDIR)/lib/crypto/cm4/sha256.o $(ARMDIR)/lib/crypto/cm4/sha256_cm4.o
$(ARMDIR)/lib/crypto/cm4/sha256.o: lib/crypto/sha256.c
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_CFLAGS) -DPV_SHA256_CM4 -c $< -o $@
$(ARMDIR)/lib/crypto/cm4/sha256_cm4.o: lib/crypto/sha256_cm4.S
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_ARCH) -c $< -o $@
