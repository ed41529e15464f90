# tests/ct/: the constant-time check (ctgrind method, docs/crypto.md). lib/'s portable code that
# handles secrets and tests/ct/ are built without sanitizers (memcheck and ASan do not mix) and
# with PV_CT_CHECK (PV_DECLASSIFY becomes a valgrind request), by GCC (the device's compiler) and
# by clang, each at the device's -Os and at -O2: compilers differ in which masks they turn back
# into branches or selected addresses. run_ct_check.sh runs each build under valgrind, and the
# self-test that proves a leak is caught. clang writes DWARF 4, which valgrind 3.19 reads.
CT_DIR      := $(BUILD)/ct
CT_VARIANTS := gcc-Os gcc-O2 clang-Os clang-O2
CT_CFLAGS    = -std=c11 -D_DEFAULT_SOURCE -g -gdwarf-4 $(HOST_WARN) -DPV_CT_CHECK -Ilib -Itests -MMD -MP
CT_LIB_SRCS := $(filter lib/crypto/% lib/noise/% lib/keyslot/%,$(LIB_PORTABLE_SRCS))

# $(1): variant directory, $(2): compiler, $(3): optimisation level
define CT_BUILD
$(CT_DIR)/$(1)/%.o: %.c
	@mkdir -p $$(@D)
	$(2) $$(CT_CFLAGS) -$(3) -c $$< -o $$@
$(CT_DIR)/$(1)/ct_check: $(patsubst %.c,$(CT_DIR)/$(1)/%.o,tests/ct/ct_check.c $(CT_LIB_SRCS))
	$(2) $$^ -o $$@
$(CT_DIR)/$(1)/ct_selftest: $(patsubst %.c,$(CT_DIR)/$(1)/%.o,tests/ct/ct_selftest.c $(CT_LIB_SRCS))
	$(2) $$^ -o $$@
endef
$(foreach v,$(CT_VARIANTS),$(eval $(call CT_BUILD,$(v),$(word 1,$(subst -, ,$(v))),$(word 2,$(subst -, ,$(v))))))

CT_PROGRAMS := $(foreach v,$(CT_VARIANTS),$(CT_DIR)/$(v)/ct_check $(CT_DIR)/$(v)/ct_selftest)
.PHONY: ct-check
ct-check: $(CT_PROGRAMS)
	tests/ct/run_ct_check.sh $(addprefix $(CT_DIR)/,$(CT_VARIANTS))
