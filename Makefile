# gnf — build with `make`, test with `make test`.  Outputs go to build/<variant>/.
#   make                 release build: build/release/gnf, libgnf.a
#   make asan            ASan + UBSan build: build/asan/gnf
#   make shared          build/release/libgnf.so.0.1 (part of make): what python/gnf loads
#   make test            builds both, runs all unit tests (both builds) and the CLI tests
#   make bench           builds and runs the benchmarks (bench/README.md)
#   make scalar          build/scalar: no AVX2 kernels compiled in (proves the portable fallback)
#   make fuzz            libFuzzer harnesses of the readers (fuzz/), each run FUZZ_SECONDS (60)
#   make fuzz-ci         the same, 20 s each (what .ci/run calls); see fuzz/run.sh
#   make mpi (MPI=1)     build/mpi/gnf: the CLI with data-parallel fit over MPI (mpicc, Debian
#                        libopenmpi-dev), linked with build/release/libgnf.a (no MPI in libgnf)
CC ?= cc
ifeq ($(CC),cc)
CC = gcc
endif
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
       -Wformat=2 -Wvla -Wundef -Werror
BASE_CFLAGS = -std=c11 -D_DEFAULT_SOURCE -Iinclude -Isrc $(WARN) -g -fno-strict-aliasing
LIBS = -lpng -ljpeg -lcjson -lz -lm -lpthread

SRC = $(sort $(wildcard src/core/*.c src/field/*.c src/optim/*.c src/io/*.c src/geom/*.c src/tasks/*.c))
VARIANT ?= release
ifeq ($(VARIANT),scalar)
SCALAR = 1
endif
ifeq ($(SCALAR),1)
SRC := $(filter-out %_avx2.c,$(SRC))
BASE_CFLAGS += -DGNF_NO_AVX2
endif
TEST_SRC = $(sort $(wildcard tests/*.c))
# the fuzz harnesses: linked into the test binary too (tests/test_fuzz.c replays regressions)
FUZZ_SRC = $(sort $(wildcard fuzz/fuzz_*.c)) fuzz/common.c
FUZZ_CLI = tools/cli/query.c tools/cli/common.c tools/cli/options.c
BENCH_SRC = $(sort $(wildcard bench/*.c))
CLI_SRC = $(sort $(wildcard tools/cli/*.c))

ifneq ($(filter $(VARIANT),release scalar),)
OPT = -O2
else ifeq ($(VARIANT),asan)
OPT = -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else ifeq ($(VARIANT),fuzz)
OPT = -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
      -DGNF_FUZZ_LIBFUZZER
endif
B = build/$(VARIANT)
CFLAGS_ALL = $(BASE_CFLAGS) $(OPT) $(CFLAGS)

OBJ = $(SRC:%.c=$(B)/%.o)
TEST_OBJ = $(TEST_SRC:%.c=$(B)/%.o) $(FUZZ_SRC:%.c=$(B)/%.o) $(FUZZ_CLI:%.c=$(B)/%.o)

.PHONY: all release asan scalar test bench clean demo fuzz fuzz-ci fuzz-build fuzz-seeds
.PHONY: mpi
all: release
release:
	@$(MAKE) --no-print-directory VARIANT=release build/release/gnf build/release/gnf_tests build/release/gnf_bench
asan:
	@$(MAKE) --no-print-directory VARIANT=asan build/asan/gnf build/asan/gnf_tests
scalar:
	@$(MAKE) --no-print-directory VARIANT=scalar build/scalar/gnf build/scalar/gnf_tests

AVX2_FLAGS = -mavx2 -mfma -mf16c
$(B)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(AVX2_FLAGS) -MMD -c $< -o $@
$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -c $< -o $@

$(B)/libgnf.a: $(OBJ)
	@rm -f $@
	ar rcs $@ $^
$(B)/gnf: $(CLI_SRC:%.c=$(B)/%.o) $(B)/gen/web_assets.o $(B)/libgnf.a
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LIBS)
# the browser viewer (web/) inside the binary, for gnf view / gnf export-web (tools/cli/web.c)
WEB_FILES = $(sort $(wildcard web/*.html web/*.js web/*.css))
$(B)/gen/web_assets.c: $(WEB_FILES) tools/embed_web.sh
	@mkdir -p $(dir $@)
	sh tools/embed_web.sh $@ $(WEB_FILES)
$(B)/gen/web_assets.o: $(B)/gen/web_assets.c tools/cli/web_assets.h
	$(CC) $(CFLAGS_ALL) -Itools/cli -c $< -o $@
$(B)/gnf_tests: $(TEST_OBJ) $(B)/libgnf.a
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LIBS)
$(B)/gnf_bench: $(BENCH_SRC:%.c=$(B)/%.o) $(B)/libgnf.a
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LIBS)
# bench/run.sh's previous build: this tree's bench/*.c compiled against another tree's headers
# and library, make PREV_TREE=DIR DIR/build/bench-current/gnf_bench (DIR/build/release/libgnf.a
# built there first, by DIR's own Makefile)
ifdef PREV_TREE
PB = $(PREV_TREE)/build/bench-current
PREV_CFLAGS = -I$(PREV_TREE)/include -I$(PREV_TREE)/src $(CFLAGS_ALL)
$(PB)/gnf_bench: $(BENCH_SRC:bench/%.c=$(PB)/%.o) $(PREV_TREE)/build/release/libgnf.a
	$(CC) $(PREV_CFLAGS) $^ -o $@ $(LIBS)
$(PB)/%_avx2.o: bench/%_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(PREV_CFLAGS) $(AVX2_FLAGS) -c $< -o $@
$(PB)/%.o: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PREV_CFLAGS) -c $< -o $@
endif
# the SDF ground-truth pool for bench/torch_vs_gnf.sh (not built by default)
$(B)/gnf_sdf_pool: $(B)/bench/pool/sdf_pool.o $(B)/libgnf.a
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LIBS)

# ---- the shared library libgnf.so (the Python package, python/gnf, loads it with ctypes) ----
# build/release/libgnf.so.MAJOR.MINOR with the soname libgnf.so.MAJOR and the links libgnf.so.MAJOR
# and libgnf.so.  The library's sources are compiled a second time as position-independent code
# (build/<variant>/pic/; the static library and the gnf binary stay as they are) and linked with a
# version script, libgnf.map, generated from the preprocessed include/gnf.h: it exports exactly the
# functions the public header declares and hides every other symbol.
GNF_VERSION := $(shell sed -n 's/^\#define GNF_VERSION_STRING "\(.*\)"/\1/p' include/gnf.h)
SO_NAME = libgnf.so.$(word 1,$(subst ., ,$(GNF_VERSION)))
SO_FILE = $(SO_NAME).$(word 2,$(subst ., ,$(GNF_VERSION)))
PIC_OBJ = $(SRC:%.c=$(B)/pic/%.o)
.PHONY: shared
release: shared
shared:
	@$(MAKE) --no-print-directory VARIANT=release build/release/libgnf.so
$(B)/pic/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC $(AVX2_FLAGS) -MMD -c $< -o $@
$(B)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -MMD -c $< -o $@
$(B)/libgnf.map: include/gnf.h
	@mkdir -p $(dir $@)
	{ echo '{ global:'; $(CC) -E -P $(BASE_CFLAGS) include/gnf.h | grep -o 'gnf_[a-z0-9_]*[[:space:]]*(' | \
	  sed 's/[[:space:]]*($$/;/' | sort -u; echo 'local: *; };'; } > $@.tmp && mv $@.tmp $@
$(B)/$(SO_FILE): $(PIC_OBJ) $(B)/libgnf.map
	$(CC) $(CFLAGS_ALL) -shared -Wl,-soname,$(SO_NAME) -Wl,--version-script=$(B)/libgnf.map -Wl,-z,defs \
	  $(PIC_OBJ) -o $@ $(LIBS)
$(B)/libgnf.so: $(B)/$(SO_FILE)
	ln -sf $(SO_FILE) $(B)/$(SO_NAME)
	ln -sf $(SO_NAME) $@

# ---- fuzzing (fuzz/run.sh; clang with libFuzzer, else the step says it is skipped) ----
FUZZ_TARGETS = png jpeg obj ply stl off model scene query
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang-14
GNF_DATA ?= ../shared/data
# build/fuzz/fuzz_<reader>: the harness, the library and the CLI's query parser, all instrumented
$(B)/fuzz_%: $(B)/fuzz/fuzz_%.o $(B)/fuzz/common.o $(FUZZ_CLI:%.c=$(B)/%.o) $(B)/libgnf.a
	$(CC) $(CFLAGS_ALL) -fsanitize=fuzzer $^ -o $@ $(LIBS)
# the seed corpora, made from ../shared/data and small generated files (fuzz/make_seeds.c)
$(B)/gnf_fuzz_seeds: $(B)/fuzz/make_seeds.o $(B)/libgnf.a
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LIBS)
fuzz-build:
	@$(MAKE) --no-print-directory VARIANT=fuzz CC=$(FUZZ_CC) $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
fuzz-seeds:
	@$(MAKE) --no-print-directory VARIANT=release build/release/gnf_fuzz_seeds
	@rm -rf build/fuzz/seeds && mkdir -p build/fuzz/seeds
	build/release/gnf_fuzz_seeds build/fuzz/seeds $(GNF_DATA)
fuzz:
	@sh fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)
fuzz-ci:
	@sh fuzz/run.sh 20 $(FUZZ_TARGETS)

test: release asan scalar
	@sh tests/run_all.sh

# ---- data-parallel training over MPI (docs/CLUSTER.md); `make test` builds it when mpicc exists ----
MPICC ?= mpicc
MPI_CLI_OBJ = $(CLI_SRC:%.c=build/mpi/%.o)
mpi: release
	@$(MAKE) --no-print-directory build/mpi/gnf
build/mpi/%.o: %.c
	@mkdir -p $(dir $@)
	$(MPICC) $(BASE_CFLAGS) -O2 $(CFLAGS) -DGNF_MPI -MMD -c $< -o $@
build/mpi/gnf: $(MPI_CLI_OBJ) build/release/gen/web_assets.o build/release/libgnf.a
	$(MPICC) $(BASE_CFLAGS) -O2 $(CFLAGS) $^ -o $@ $(LIBS)
ifeq ($(MPI),1)
all: mpi
endif
ifneq ($(shell command -v $(MPICC) 2>/dev/null),)
test: mpi
endif

bench: release
	@sh bench/run.sh

demo: release
	@sh tools/quickstart.sh

clean:
	rm -rf build

-include $(wildcard build/*/*/*.d build/*/*/*/*.d)
-include $(wildcard build/*/pic/*/*/*.d)
