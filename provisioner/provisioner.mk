# provisioner/: `provision`, the station CLI. main.c is the thin CLI; every other file is the
# library core (probe backends, commands), also linked into the tests.
PROV_SRCS      := $(sort $(wildcard provisioner/*.c))
PROV_CORE_OBJS := $(patsubst %.c,$(HOSTDIR)/%.o,$(filter-out provisioner/main.c,$(PROV_SRCS)))
PROV_BIN       := $(HOSTDIR)/bin/provision
PROV_LIBS      := -lcrypto

$(PROV_BIN): $(HOSTDIR)/provisioner/main.o $(PROV_CORE_OBJS) $(BRIDGE_OBJS) $(HOST_LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) $^ $(PROV_LIBS) -o $@

HOST_PROGRAMS += $(if $(wildcard provisioner/main.c),$(PROV_BIN))

# The same CLI with the test hooks compiled in (run_flow.c: PV_TEST_HOOKS, a station crash at a
# chosen point), for test_provision_run only; the provision above has none.
PROV_HOOKS_BIN := $(HOSTDIR)/tests/provision-hooks
$(HOSTDIR)/tests/hooks/run_flow.o: provisioner/run_flow.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -DPV_TEST_HOOKS -c $< -o $@
$(PROV_HOOKS_BIN): $(HOSTDIR)/provisioner/main.o $(HOSTDIR)/tests/hooks/run_flow.o \
                   $(filter-out %/run_flow.o,$(PROV_CORE_OBJS)) $(BRIDGE_OBJS) $(HOST_LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) $^ $(PROV_LIBS) -o $@

# Recipes (recipe*.c: libcyaml + libyaml), the ledger (hsm-bridge/ledger_store_*.c: SQLite, libpq) and
# JSON output (jansson). The unit tests link the same objects, so their link line gets the same
# libraries (a pattern-specific append to tests.mk's TEST_LIBS).
PROV_LIBS += -lcyaml -lyaml -lsqlite3 -ljansson -lpq
$(HOSTDIR)/tests/test_%: TEST_LIBS += -lcyaml -lyaml -lsqlite3
# These tests also run the built CLI.
$(HOSTDIR)/tests/test_recipe $(HOSTDIR)/tests/test_ledger: | $(PROV_BIN)

# CMSIS-DAP probes on USB (provisioner/dap_transport_usb.c: libusb-1.0).
PROV_LIBS += -lusb-1.0
$(HOSTDIR)/provisioner/dap_transport_usb.o: HOST_CFLAGS += $(shell pkg-config --cflags libusb-1.0)
# The probe backends' test drives real sim processes.
$(HOSTDIR)/tests/test_probe_backends: | $(HOSTDIR)/bin/sim
# `provision run` end to end: the CLI, the sim and the device images.
$(HOSTDIR)/tests/test_provision_run: | $(PROV_BIN) $(PROV_HOOKS_BIN) $(HOSTDIR)/bin/sim $(DEVICE_IMAGES)
# The keystore's test runs `provision keys` too.
$(HOSTDIR)/tests/test_keystore: | $(PROV_BIN)
# The bridge client (provisioner/bridge_client.c: libcurl over OpenSSL, mutual TLS).
PROV_LIBS += -lcurl
$(HOSTDIR)/tests/test_%: TEST_LIBS += -lcurl
# `make demo` as a test (two processes, the bridge and a station): every program it runs.
$(HOSTDIR)/tests/test_bridge_demo: | $(PROV_BIN) $(BRIDGE_BIN) $(HOSTDIR)/bin/sim $(DEVICE_IMAGES)
# The bridge end to end as attacks (test_bridge_run.c, tests/unit/bridge_harness.h): the CLIs,
# the hooks build of provision, the sim and the device images.
$(HOSTDIR)/tests/test_bridge_run: | $(PROV_BIN) $(PROV_HOOKS_BIN) $(BRIDGE_BIN) $(HOSTDIR)/bin/sim $(DEVICE_IMAGES)
$(HOSTDIR)/tests/test_bridge_faults: | $(PROV_BIN) $(PROV_HOOKS_BIN) $(BRIDGE_BIN) $(HOSTDIR)/bin/sim $(DEVICE_IMAGES)

# libprovision as a shared library for line software (docs/libprovision.md): the run's code
# without the CLI, exporting only the pv_prov_ API (libprovision.map). Its objects need -fPIC and
# no sanitizers (a sanitized .so cannot load into an unsanitized host such as python3), so a
# sub-make builds them in their own tree, $(BUILD)/pic, with release flags.
LIBPROV_SRCS := $(filter-out provisioner/main.c provisioner/cmd_%.c provisioner/commands.c \
                             provisioner/run_output.c,$(PROV_SRCS))
LIBPROV_SO   := $(HOSTDIR)/lib/libprovision.so
LIBPROV_PIC  := $(BUILD)/pic/host/lib/libprovision.so
$(LIBPROV_SO).1: $(patsubst %.c,$(HOSTDIR)/%.o,$(LIBPROV_SRCS)) $(BRIDGE_OBJS) $(HOST_LIB_OBJS) \
                 provisioner/libprovision.map
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libprovision.so.1 -Wl,--version-script=provisioner/libprovision.map \
	    -Wl,-z,defs $(HOST_LDFLAGS) $(filter %.o,$^) $(PROV_LIBS) -o $@
$(LIBPROV_SO): $(LIBPROV_SO).1
	ln -sfn libprovision.so.1 $@
.PHONY: libprovision-pic
$(LIBPROV_PIC): libprovision-pic
libprovision-pic:
	$(MAKE) BUILD=$(BUILD)/pic SANITIZE= HOST_OPT="-O2 -fPIC" $(LIBPROV_PIC)
HOST_PROGRAMS += $(LIBPROV_PIC)
