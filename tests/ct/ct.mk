# tests/ct/: the constant-time check (ctgrind method, docs/crypto.md). lib/'s portable code that
# handles secrets and tests/ct/ct_check.c are built without sanitizers (memcheck and ASan do not
# mix) and with PV_CT_CHECK (PV_DECLASSIFY becomes a valgrind request), once at the device's -Os
# and once at -O2, where a compiler may turn masks into branches; run_ct_check.sh runs each under
# valgrind, plus the self-test that proves a leak is caught.
CT_DIR      := $(BUILD)/ct
CT_OPTS     := Os O2
CT_CFLAGS    = -std=c11 -D_DEFAULT_SOURCE -g $(HOST_WARN) -DPV_CT_CHECK -Ilib -Itests -MMD -MP
CT_LIB_SRCS := $(filter lib/crypto/% lib/noise/% lib/keyslot/%,$(LIB_PORTABLE_SRCS))

define CT_BUILD
$(CT_DIR)/$(1)/%.o: %.c
	@mkdir -p $$(@D)
	$$(CC) $$(CT_CFLAGS) -$(1) -c $$< -o $$@
$(CT_DIR)/$(1)/ct_check: $(patsubst %.c,$(CT_DIR)/$(1)/%.o,tests/ct/ct_check.c $(CT_LIB_SRCS))
	$$(CC) $$^ -o $$@
$(CT_DIR)/$(1)/ct_selftest: $(patsubst %.c,$(CT_DIR)/$(1)/%.o,tests/ct/ct_selftest.c $(CT_LIB_SRCS))
	$$(CC) $$^ -o $$@
endef
$(foreach o,$(CT_OPTS),$(eval $(call CT_BUILD,$(o))))

CT_PROGRAMS := $(foreach o,$(CT_OPTS),$(CT_DIR)/$(o)/ct_check $(CT_DIR)/$(o)/ct_selftest)
.PHONY: ct-check
ct-check: $(CT_PROGRAMS)
	tests/ct/run_ct_check.sh $(addprefix $(CT_DIR)/,$(CT_OPTS))
