# The manual pages' generated parts (tools/gen_man.c from the programs' own tables, lib/host/cli.h):
# `make man` rewrites them, `make man-check` (part of `make test`) fails on a stale page.
GEN_MAN   := $(HOSTDIR)/bin/gen-man
MAN_PAGES := provision:docs/provision.1 hsm-bridge:docs/hsm-bridge.8
# Both programs' tables: provision's core, and hsm-bridge's commands without its main().
MAN_TABLE_OBJS := $(PROV_CORE_OBJS) $(BRIDGE_OBJS) $(filter-out %/main.o,$(BRIDGE_SERVER_OBJS)) \
                  $(HOST_LIB_OBJS)

$(GEN_MAN): $(HOSTDIR)/tools/gen_man.o $(MAN_TABLE_OBJS)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) $^ $(PROV_LIBS) $(BRIDGE_LIBS) -o $@

HOST_PROGRAMS += $(GEN_MAN)

.PHONY: man man-check
man: $(GEN_MAN)
	@for m in $(MAN_PAGES); do $(GEN_MAN) --write $${m%%:*} $${m#*:} || exit 1; done
man-check: $(GEN_MAN)
	@for m in $(MAN_PAGES); do $(GEN_MAN) --check $${m%%:*} $${m#*:} || exit 1; done; \
	echo "man-check: $(words $(MAN_PAGES)) manual pages up to date"
# The test of the tables links both programs' tables and runs the built programs too.
$(HOSTDIR)/tests/test_cli_docs: $(filter-out %/main.o,$(BRIDGE_SERVER_OBJS)) | $(PROV_BIN) $(BRIDGE_BIN)
$(HOSTDIR)/tests/test_cli_docs: TEST_LIBS += $(BRIDGE_LIBS)
