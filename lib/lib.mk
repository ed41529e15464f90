# lib/: portable C shared by device and host. crypto/ and noise/ build for both; host/ holds the
# host-only pieces (the OpenSSL provider).
LIB_PORTABLE_SRCS := $(sort $(wildcard lib/crypto/*.c lib/noise/*.c))
LIB_HOST_SRCS     := $(sort $(wildcard lib/host/*.c))

HOST_LIB_OBJS := $(patsubst %.c,$(HOSTDIR)/%.o,$(LIB_PORTABLE_SRCS) $(LIB_HOST_SRCS))
ARM_LIB_OBJS  := $(patsubst %.c,$(ARMDIR)/%.o,$(LIB_PORTABLE_SRCS))

$(HOSTDIR)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -c $< -o $@

$(ARMDIR)/%.o: %.c
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_CFLAGS) -c $< -o $@

# Budget images: link only what the RAM stub (resp. Ed25519 verify) pulls in, then measure.
ARM_LINK := $(ARM_CC) $(ARM_ARCH) -Os --specs=nano.specs -nostartfiles -Wl,--gc-sections
$(ARMDIR)/budget/%.elf: tools/budget/%.c $(ARM_LIB_OBJS)
	@mkdir -p $(@D)
	$(ARM_CC) $(ARM_CFLAGS) -c $< -o $(@:.elf=.o)
	$(ARM_LINK) -Wl,-e,budget_entry -Wl,-Map,$(@:.elf=.map) $(@:.elf=.o) $(ARM_LIB_OBJS) -lgcc -o $@

BUDGETS := stub_crypto ed25519_verify
$(ARMDIR)/size-report.txt: $(ARM_LIB_OBJS) $(BUDGETS:%=$(ARMDIR)/budget/%.elf) tools/size_report.sh
	tools/size_report.sh $(ARMDIR) $(ARM_LIB_OBJS) | tee $@
