# sim/: the virtual STM32F427 (a host program on Unicorn). sim/main.c is the CLI; everything else
# is the chip and its front ends, also linked into the sim tests (tests/unit/test_sim_*.c).
SIM_SRCS      := $(sort $(wildcard sim/*.c))
SIM_CORE_OBJS := $(patsubst %.c,$(HOSTDIR)/%.o,$(filter-out sim/main.c,$(SIM_SRCS)))
SIM_BIN       := $(HOSTDIR)/bin/sim
SIM_LIBS      := -lunicorn -lm
# Unicorn 2.0.1 calls these through its PLT; the sim's own (sim/unicorn_store_fix.c) replace them.
SIM_LIBS      += -Wl,--export-dynamic-symbol=page_collection_lock_arm \
                 -Wl,--export-dynamic-symbol=page_collection_unlock_arm

# The state file's checksum uses lib/crypto's SHA-256.
SIM_LIB_OBJS  := $(HOSTDIR)/lib/crypto/sha256.o $(HOSTDIR)/lib/crypto/wipe.o

$(SIM_BIN): $(HOSTDIR)/sim/main.o $(SIM_CORE_OBJS) $(SIM_LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) $^ $(SIM_LIBS) -o $@

# Sim tests also get the chip and the Cortex-M4 test programs they load.
$(HOSTDIR)/tests/test_sim_%: $(HOSTDIR)/tests/unit/test_sim_%.o $(SIM_CORE_OBJS) $(HOST_LIB_OBJS) $(TEST_COMMON_OBJS) | $(ARM_TEST_PROGRAMS)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) $(filter %.o,$^) $(SIM_LIBS) $(TEST_LIBS) -o $@

HOST_PROGRAMS += $(if $(wildcard sim/main.c),$(SIM_BIN))
