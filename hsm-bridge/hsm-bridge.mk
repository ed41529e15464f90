# hsm-bridge/: the trusted side as a library (session driver, keystore, ledger); `provision` links
# it in-process, the networked bridge will wrap the same code.
BRIDGE_SRCS := $(sort $(wildcard hsm-bridge/*.c))
BRIDGE_OBJS := $(patsubst %.c,$(HOSTDIR)/%.o,$(BRIDGE_SRCS))
