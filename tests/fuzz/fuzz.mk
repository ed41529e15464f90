# tests/fuzz/: libFuzzer harnesses (clang), one tests/fuzz/fuzz_<name>.c each, for every parser
# that reads bytes from outside its process (docs/fuzzing.md). `make fuzz` runs a campaign per
# harness (tests/fuzz/campaign.sh): FUZZ_RUNS inputs each (10^7, the goal) unless FUZZ_SECONDS
# ends it first (0: no limit); FUZZ_ONLY='name ...' picks harnesses, run in that order, FUZZ_JOBS
# at once (default: one per core), each as FUZZ_WORKERS processes on its corpus (default 1; for a
# slow harness, FUZZ_JOBS=1 FUZZ_WORKERS=2 gives it both cores); an input running over
# FUZZ_TIMEOUT seconds is a finding, in the campaigns and the smoke run. It prints executions, execs/s,
# coverage and findings per harness and keeps them in $(FUZZ_DIR)/report.txt. `make test` runs a
# short smoke (FUZZ_SMOKE_RUNS inputs or FUZZ_SMOKE_SECONDS, whichever ends first) that also
# replays every checked-in input under tests/fuzz/corpus/<name>/ (the seeds and each crash found,
# as a regression test). A harness with a tests/fuzz/<name>.dict gets it as libFuzzer's -dict, one
# with a tests/fuzz/<name>.options the libFuzzer flags listed there.
FUZZ_DIR        := $(BUILD)/fuzz
FUZZ_CC         := clang
FUZZ_SAN        := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS     := -std=c11 -D_DEFAULT_SOURCE -g -O2 -Ilib -Itests $(FUZZ_SAN) \
                   -fsanitize=fuzzer-no-link -MMD -MP $(PV_VERSION_DEF)
FUZZ_SRCS       := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZERS         := $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,$(FUZZ_SRCS))
FUZZ_O           = $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(1))
FUZZ_LIB_OBJS   := $(call FUZZ_O,$(LIB_PORTABLE_SRCS) $(LIB_HOST_SRCS))
FUZZ_SECONDS    ?= 3600
FUZZ_RUNS       ?= 10000000
FUZZ_ONLY       ?=
FUZZ_JOBS       ?= $(shell nproc)
FUZZ_WORKERS    ?= 1
FUZZ_TIMEOUT    ?= 60
FUZZ_SMOKE_RUNS ?= 20000
FUZZ_SMOKE_SECONDS ?= 2

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_XCFLAGS) -c $< -o $@

# The trusted side's library and the station's core as archives (a harness links the members it
# uses), built like the tests' objects but for libFuzzer.
FUZZ_BRIDGE_A   := $(FUZZ_DIR)/libpv-bridge.a
FUZZ_PROV_A     := $(FUZZ_DIR)/libpv-prov.a
FUZZ_HOST_LIBS  := -lcyaml -lyaml -ljansson -lsqlite3 -lpq -lcurl -lusb-1.0 -levent -lssl
$(FUZZ_BRIDGE_A): $(call FUZZ_O,$(filter-out $(BRIDGE_SERVER_SRCS),$(BRIDGE_SRCS)))
	rm -f $@ && ar rcs $@ $^
$(FUZZ_PROV_A): $(call FUZZ_O,$(filter-out provisioner/main.c,$(PROV_SRCS)))
	rm -f $@ && ar rcs $@ $^
$(FUZZ_DIR)/obj/hsm-bridge/%.o: FUZZ_XCFLAGS = -I/usr/include/postgresql $(P11_CFLAGS)
# lib/crypto is constant-time code: where it reads and writes does not depend on the bytes it is
# given, so UBSan's pointer-overflow and alignment checks (two thirds of its time under fuzzing,
# fuzz_x25519 4183 -> 13051 inputs/s) can find nothing the unit tests under full UBSan miss;
# ASan and the arithmetic checks stay.
$(FUZZ_DIR)/obj/lib/crypto/%.o: FUZZ_XCFLAGS = -fno-sanitize=pointer-overflow,alignment
$(FUZZ_DIR)/obj/provisioner/dap_transport_usb.o: FUZZ_XCFLAGS = $(shell pkg-config --cflags libusb-1.0)

# Each harness links its own object, lib/ and what it names below (objects, archives, libraries).
$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $(filter %.o,$^) \
	    -Wl,--start-group $(filter %.a,$^) -Wl,--end-group $(FUZZ_LIBS) -lcrypto -o $@

# The bridge's request bodies and plan query (hsm-bridge/server_parse.c).
$(FUZZ_DIR)/fuzz_bridge_request: $(call FUZZ_O,hsm-bridge/server_parse.c)
$(FUZZ_DIR)/fuzz_bridge_request: FUZZ_LIBS = -levent -ljansson
# The station's bridge client: frame stream and JSON answers (provisioner/bridge_client_parse.c).
$(FUZZ_DIR)/fuzz_bridge_client: $(call FUZZ_O,provisioner/bridge_client_parse.c)
$(FUZZ_DIR)/fuzz_bridge_client: FUZZ_LIBS = -ljansson
# `ledger verify` and checkpoints on a database as its rows come (the harness is the store).
$(FUZZ_DIR)/fuzz_ledger_verify: $(FUZZ_BRIDGE_A)
$(FUZZ_DIR)/fuzz_ledger_verify: FUZZ_LIBS = $(FUZZ_HOST_LIBS)
# MES values from the station and the MES's files (hsm-bridge/devdata_mes.c).
$(FUZZ_DIR)/fuzz_mes: $(FUZZ_BRIDGE_A)
$(FUZZ_DIR)/fuzz_mes: FUZZ_LIBS = $(FUZZ_HOST_LIBS)
# A station's certificate signing request, as the station CA checks it (hsm-bridge/station_ca.c).
$(FUZZ_DIR)/fuzz_station_csr: $(FUZZ_BRIDGE_A)
$(FUZZ_DIR)/fuzz_station_csr: FUZZ_LIBS = $(FUZZ_HOST_LIBS)
# Files sealed at rest (hsm-bridge/seal_format.c).
$(FUZZ_DIR)/fuzz_sealed: $(call FUZZ_O,hsm-bridge/seal_format.c)
# The station's config (provisioner/station_config.c) and the bridge's (hsm-bridge/bridge_config.c),
# read from a file; recipes on bytes (hsm-bridge/recipe.c).
$(FUZZ_DIR)/fuzz_station_config: $(FUZZ_PROV_A) $(FUZZ_BRIDGE_A)
$(FUZZ_DIR)/fuzz_bridge_config $(FUZZ_DIR)/fuzz_recipe: $(FUZZ_BRIDGE_A)
$(FUZZ_DIR)/fuzz_station_config $(FUZZ_DIR)/fuzz_bridge_config $(FUZZ_DIR)/fuzz_recipe: \
    FUZZ_LIBS = $(FUZZ_HOST_LIBS)

.PHONY: fuzz-smoke
fuzz: $(FUZZERS)
	@FUZZ_DIR=$(FUZZ_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_JOBS=$(FUZZ_JOBS) \
	    FUZZ_WORKERS=$(FUZZ_WORKERS) FUZZ_TIMEOUT=$(FUZZ_TIMEOUT) \
	    FUZZ_COMMAND="make fuzz$(if $(FUZZ_ONLY), FUZZ_ONLY='$(FUZZ_ONLY)') FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_SECONDS=$(FUZZ_SECONDS)$(if $(filter-out 1,$(FUZZ_WORKERS)), FUZZ_WORKERS=$(FUZZ_WORKERS))" \
	    tests/fuzz/campaign.sh $(if $(FUZZ_ONLY),$(foreach n,$(FUZZ_ONLY),$(filter %/fuzz_$(n) %/$(n),$(FUZZERS))),$(FUZZERS))
fuzz-smoke: $(FUZZERS)
	@t0=$$(date +%s); for f in $(FUZZERS); do h=$$(basename $$f); \
	    rm -rf $(FUZZ_DIR)/smoke/$$h; mkdir -p $(FUZZ_DIR)/smoke/$$h; \
	    seeds=; [ -d tests/fuzz/corpus/$$h ] && seeds=tests/fuzz/corpus/$$h; \
	    dict=; [ -f tests/fuzz/$$h.dict ] && dict=-dict=tests/fuzz/$$h.dict; \
	    opts=; [ -f tests/fuzz/$$h.options ] && opts=$$(grep -v '^#' tests/fuzz/$$h.options); \
	    $$f -timeout=$(FUZZ_TIMEOUT) $$dict $$opts -runs=$(FUZZ_SMOKE_RUNS) -max_total_time=$(FUZZ_SMOKE_SECONDS) -seed=1 -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_DIR)/smoke/$$h- $(FUZZ_DIR)/smoke/$$h $$seeds >$$f.log 2>&1 || \
	        { cat $$f.log; echo "fuzz-smoke: $$h FAILED"; exit 1; }; \
	    echo "fuzz-smoke: $$h $$(grep -o 'stat::number_of_executed_units: [0-9]*' $$f.log | grep -o '[0-9]*$$' || echo '?') inputs$${seeds:+ (with $$(ls $$seeds | wc -l) checked-in)}, no finding"; \
	done; echo "fuzz-smoke: $(words $(FUZZERS)) harnesses in $$(( $$(date +%s) - t0 )) s"

# The RAM stub's core built for the host (as tests/unit/test_stub_proto.c does).
$(FUZZ_DIR)/fuzz_stub: $(call FUZZ_O,$(STUB_CORE_SRCS))

# The station's probe reply parsers (provisioner/gdb_reply.c, openocd_reply.c with the OpenOCD log
# reader of openocd_process.c, cmsisdap_reply.c).
$(FUZZ_DIR)/fuzz_gdb_reply: $(call FUZZ_O,provisioner/gdb_reply.c)
$(FUZZ_DIR)/fuzz_openocd_reply: $(call FUZZ_O,provisioner/openocd_reply.c \
    provisioner/openocd_process.c provisioner/probe_util.c)
$(FUZZ_DIR)/fuzz_cmsisdap_reply: $(call FUZZ_O,provisioner/cmsisdap_reply.c)
# The whole CMSIS-DAP backend above its transport (the harness is the transport).
$(FUZZ_DIR)/fuzz_cmsisdap_probe: $(call FUZZ_O,$(wildcard provisioner/cmsisdap_*.c) \
    provisioner/probe_cmsisdap.c provisioner/probe_util.c provisioner/dap_transport_tcp.c \
    provisioner/dap_transport_usb.c)
$(FUZZ_DIR)/fuzz_cmsisdap_probe: FUZZ_LIBS = -lusb-1.0

# The sim's front ends (GDB RSP, CMSIS-DAP, remote_bitbang JTAG) on a whole chip (Unicorn), built
# as the sim is (sim/sim.mk: the same libraries and exported symbols).
FUZZ_SIM_OBJS := $(call FUZZ_O,$(filter-out sim/main.c,$(SIM_SRCS)))
$(FUZZ_DIR)/fuzz_sim_rsp $(FUZZ_DIR)/fuzz_sim_dap $(FUZZ_DIR)/fuzz_sim_jtag: $(FUZZ_SIM_OBJS)
$(FUZZ_DIR)/fuzz_sim_rsp $(FUZZ_DIR)/fuzz_sim_dap $(FUZZ_DIR)/fuzz_sim_jtag: FUZZ_LIBS = $(SIM_LIBS)
# The JTAG front end works bit by bit (a TAP state machine clocked once per TCK edge): libFuzzer's
# comparison tracing there cost 70% of fuzz_sim_jtag's time and guides nothing the harness does
# not already spell out (whole IR and DR scans). Edge coverage stays; the DAP behind it keeps it all.
$(FUZZ_DIR)/obj/sim/jtag_tap.o $(FUZZ_DIR)/obj/sim/remote_bitbang.o \
    $(FUZZ_DIR)/obj/tests/fuzz/fuzz_sim_jtag.o: FUZZ_XCFLAGS = -fno-sanitize-coverage=trace-cmp
