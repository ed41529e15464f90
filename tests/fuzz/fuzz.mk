# tests/fuzz/: libFuzzer harnesses (clang). `make fuzz` runs each for FUZZ_SECONDS; `make test`
# runs a short smoke (FUZZ_SMOKE_RUNS inputs each) so the harnesses can never rot.
FUZZ_DIR        := $(BUILD)/fuzz
FUZZ_CC         := clang
FUZZ_CFLAGS     := -std=c11 -D_DEFAULT_SOURCE -g -O1 -Ilib -Itests \
                   -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_SRCS       := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZERS         := $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,$(FUZZ_SRCS))
FUZZ_LIB_SRCS    = $(LIB_PORTABLE_SRCS) $(LIB_HOST_SRCS)
FUZZ_SECONDS    ?= 300
FUZZ_SMOKE_RUNS ?= 20000

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_SRCS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $< $(FUZZ_LIB_SRCS) -lcrypto -o $@

.PHONY: fuzz-smoke
fuzz: $(FUZZERS)
	@for f in $(FUZZERS); do mkdir -p $(FUZZ_DIR)/corpus/$$(basename $$f); \
	    echo "fuzz: $$f for $(FUZZ_SECONDS) s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ_DIR)/corpus/$$(basename $$f) || exit 1; done
fuzz-smoke: $(FUZZERS)
	@for f in $(FUZZERS); do \
	    $$f -runs=$(FUZZ_SMOKE_RUNS) -seed=1 >$$f.log 2>&1 || { cat $$f.log; echo "fuzz-smoke: $$f FAILED"; exit 1; }; \
	    echo "fuzz-smoke: $$(basename $$f) $(FUZZ_SMOKE_RUNS) inputs, no finding"; done
