# dllm: one entry point.
#   make            bin/dllm-server and bin/dllm-cli
#   make test       every test suite (unit, sanitizers, reference numerics, clients)
#   make run        the server on the default model
#   make bench      the benchmarks
#   make CUDA=1     adds the CUDA backend (nvcc, cuBLAS)
#   make deps       installs the Debian packages and npm packages (as root)
#
# Sources are found by folder, so a new file in a room needs no Makefile edit.

CC      ?= cc
# Builds run on every core.
NPROC   := $(shell nproc 2>/dev/null || echo 2)
MAKEFLAGS += -j$(NPROC)
CUDA    ?= 0
CUDA_HOME ?= /usr/local/cuda
NVCC    ?= $(CUDA_HOME)/bin/nvcc
CUDA_ARCH ?= sm_90a
PKGS    := libmicrohttpd libcjson libuv openblas

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -I. $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -lm -pthread
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

ENGINE_SRC := $(wildcard engine/*.c engine/*/*.c)
LIB_SRC    := $(ENGINE_SRC) $(wildcard api/*.c config/*.c) $(filter-out server/main.c,$(wildcard server/*.c))
# The browser page, embedded in the binary at build time (tools/embed.sh).
PAGE_C     := build/gen/page_html.c
LIB_SRC    += $(PAGE_C)
CUDA_SRC   := $(wildcard engine/cuda/*.cu)
UNIT_SRC   := $(wildcard tests/unit/*.c)
BENCH_SRC  := $(wildcard tests/bench/bench_*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)

ifeq ($(CUDA),1)
BUILD   := build/cuda
CFLAGS  += -DDLLM_CUDA -I$(CUDA_HOME)/include
LDLIBS  += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart -lstdc++
CUDA_OBJ := $(CUDA_SRC:%.cu=$(BUILD)/obj/%.o)
else
BUILD   := build/cpu
CUDA_OBJ :=
endif

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(CUDA_OBJ)
ASAN_OBJ := $(LIB_SRC:%.c=build/asan/obj/%.o)

.PHONY: all test unit run bench deps clean fuzz test-long
all: bin/dllm-server bin/dllm-cli

bin/dllm-server: $(BUILD)/obj/server/main.o $(LIB_OBJ)
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

bin/dllm-cli: $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard cli/*.c)) $(LIB_OBJ)
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(PAGE_C): server/page.html tools/embed.sh
	@mkdir -p $(dir $@)
	sh tools/embed.sh server/page.html dllm_page_html > $@.$$$$ && mv $@.$$$$ $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) -O2 -std=c++17 -arch=$(CUDA_ARCH) -I. -DDLLM_CUDA -MMD -MP -Xcompiler -Wall,-Wextra,-Werror -c -o $@ $<

build/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -O1 -MMD -MP -c -o $@ $<

# The unit runner finds every `void test_*(void)` in tests/unit and calls it.
$(BUILD)/unit_list.h: $(UNIT_SRC)
	@mkdir -p $(dir $@)
	sh tests/unit/list.sh $(UNIT_SRC) > $@
build/asan/unit_list.h: $(BUILD)/unit_list.h
	@mkdir -p $(dir $@)
	cp $< $@

bin/unit-tests: $(UNIT_SRC) $(LIB_OBJ) $(BUILD)/unit_list.h
	@mkdir -p bin
	$(CC) $(CFLAGS) -I$(BUILD) -o $@ $(UNIT_SRC) $(LIB_OBJ) $(LDLIBS)

bin/unit-tests-asan: $(UNIT_SRC) $(ASAN_OBJ) build/asan/unit_list.h
	@mkdir -p bin
	$(CC) $(CFLAGS) $(SAN_FLAGS) -O1 -Ibuild/asan -o $@ $(UNIT_SRC) $(ASAN_OBJ) $(LDLIBS)

bin/dllm-server-asan: build/asan/obj/server/main.o $(ASAN_OBJ)
	@mkdir -p bin
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

bin/dllm-cli-asan: $(patsubst %.c,build/asan/obj/%.o,$(wildcard cli/*.c)) $(ASAN_OBJ)
	@mkdir -p bin
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

# CPU against CUDA on the same models; tests/suite_cuda.sh builds it with
# CUDA=1 where a GPU is (without CUDA it only prints a skip).
bin/test-cuda: tests/cuda/test_cuda.c $(LIB_OBJ)
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

bin/bench_%: tests/bench/bench_%.c $(LIB_OBJ)
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# libFuzzer targets: clang, every library file, ASan + UBSan.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -I. $(PKG_CFLAGS) -fsanitize=address,undefined
FUZZ_OBJ := $(LIB_SRC:%.c=build/fuzz/obj/%.o)
build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
bin/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	@mkdir -p bin
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

unit: bin/unit-tests bin/unit-tests-asan

TEST_BINS := all unit bin/dllm-server-asan bin/dllm-cli-asan $(FUZZ_SRC:tests/fuzz/fuzz_%.c=bin/fuzz_%)
test: $(TEST_BINS)
	bash tests/run.sh

# The long forms: load at concurrency 256, fuzzing for minutes.
test-long: $(TEST_BINS)
	DLLM_TEST_LONG=1 DLLM_FUZZ_SECONDS=300 bash tests/run.sh

run: all
	./bin/dllm-server --config config/dllm.json

bench: all $(BENCH_SRC:tests/bench/bench_%.c=bin/bench_%)
	bash tests/bench/run.sh

deps:
	bash tools/install-deps.sh

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
