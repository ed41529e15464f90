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
