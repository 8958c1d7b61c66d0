# mvm build: one binary, unit tests (cmocka), and an ASan/UBSan variant of both.
CC      ?= cc
CFLAGS  ?= -O2 -g
# Flags mvm always needs, kept apart so `make CFLAGS=...` (the asan target) keeps them.
MVM_CFLAGS := -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror=implicit-function-declaration \
              -D_GNU_SOURCE -Isrc -MMD -MP
# liburing (virtio-blk I/O), libslirp (user networking), json-c (config file and API).
LDLIBS  += -lpthread -luring -lslirp -ljson-c

BUILD   ?= build
SRCS    := $(sort $(wildcard src/*.c src/*/*.c src/*/*/*.c))
LIBSRCS := $(filter-out src/main.c,$(SRCS))
OBJS    := $(SRCS:%.c=$(BUILD)/%.o)
LIBOBJS := $(LIBSRCS:%.c=$(BUILD)/%.o)
TESTS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(sort $(wildcard tests/unit/test_*.c)))

.PHONY: all unit unit-asan asan asan-tests clean
all: $(BUILD)/mvm

$(BUILD)/mvm: $(OBJS)
	$(CC) $(MVM_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(MVM_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(MVM_CFLAGS) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(LIBOBJS) $(LDLIBS) -lcmocka

# Build and run every unit test binary; scripts/test.sh aggregates the results.
unit: $(TESTS)
	@fail=0; for t in $(TESTS); do $$t || fail=1; done; exit $$fail

# Same tree built with sanitizers into build-asan/.
asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" all asan-tests

asan-tests: $(TESTS)

# Run the sanitizer build of the unit tests (any report aborts the test).
unit-asan: asan
	@fail=0; for t in $(patsubst $(BUILD)/%,build-asan/%,$(TESTS)); do $$t || fail=1; done; exit $$fail

clean:
	rm -rf build build-asan

-include $(OBJS:.o=.d)
