# hsm-bridge/: the trusted side. Its library (bridge, session, keystore, ledger, recipes) is
# linked by `hsm-bridge` and, for the in-process mode, by `provision`; the server (server_*.c,
# the HTTP and TLS layer) and main.c (the CLI) only by `hsm-bridge`.
BRIDGE_SRCS        := $(sort $(wildcard hsm-bridge/*.c))
BRIDGE_SERVER_SRCS := $(filter hsm-bridge/main.c hsm-bridge/server_%.c hsm-bridge/cmd_%.c,$(BRIDGE_SRCS))
BRIDGE_OBJS        := $(patsubst %.c,$(HOSTDIR)/%.o,$(filter-out $(BRIDGE_SERVER_SRCS),$(BRIDGE_SRCS)))
BRIDGE_SERVER_OBJS := $(patsubst %.c,$(HOSTDIR)/%.o,$(BRIDGE_SERVER_SRCS))
BRIDGE_BIN         := $(HOSTDIR)/bin/hsm-bridge
BRIDGE_LIBS        := -levent -levent_openssl -lssl -lcrypto -ljansson -lcyaml -lyaml -lsqlite3

$(BRIDGE_BIN): $(BRIDGE_SERVER_OBJS) $(BRIDGE_OBJS) $(HOST_LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) $^ $(BRIDGE_LIBS) -o $@

HOST_PROGRAMS += $(if $(wildcard hsm-bridge/main.c),$(BRIDGE_BIN))

# The ledger's PostgreSQL store (ledger_store_pg.c): libpq. Everything linking BRIDGE_OBJS needs
# -lpq (provision: PROV_LIBS, the tests: TEST_LIBS).
$(HOSTDIR)/hsm-bridge/ledger_store_pg.o: HOST_CFLAGS += -I/usr/include/postgresql
BRIDGE_LIBS += -lpq

# The server's test runs the built hsm-bridge and provision (token, sealed image) against the
# demo recipe's stub and bootloader; the test links the station client (libcurl).
$(HOSTDIR)/tests/test_bridge_server: | $(BRIDGE_BIN) $(PROV_BIN) $(DEVICE_IMAGES)

# The operator's page (server_operator_page.c) holds hsm-bridge/operator/* as they are (.incbin).
$(HOSTDIR)/hsm-bridge/server_operator_page.o: $(wildcard hsm-bridge/operator/*)
