# bench/: benchmarks that print figures. Not part of `make test`.
BENCH_TARGETS ?=
bench: $(BENCH_TARGETS)
