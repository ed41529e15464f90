# bench/: benchmarks that print figures. Not part of `make test`.
BENCH_TARGETS ?=

# OpenOCD 0.12.0 programs a 64 KB image into a non-sanitized sim over remote_bitbang
# (flash write_image erase + verify_image): wall time, KB/s, chars per byte, transactions, MIPS.
BENCH_TARGETS += bench-sim
.PHONY: bench-sim
bench-sim:
	bench/sim_openocd.sh

bench: $(BENCH_TARGETS)
