# mvm build: one binary, unit tests (cmocka), and an ASan/UBSan variant of both.
CC      ?= cc
CFLAGS  ?= -O2 -g
# Flags mvm always needs, kept apart so `make CFLAGS=...` (the asan target) keeps them.
MVM_CFLAGS := -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror=implicit-function-declaration \
              -D_GNU_SOURCE -Isrc -MMD -MP
# liburing (virtio-blk I/O), json-c (config file and API),
# zlib (CRC32 of the snapshot file's sections).
# libseccomp (the per-thread syscall allow-lists, src/util/sandbox.c).
# libxxhash (XXH64, the migration stream's checksum, src/snap/stream.c).
# libslirp is not linked: src/util/slirp_lib.c dlopens it for --net user (-ldl).
LDLIBS  += -lpthread -luring -ljson-c -lz -lseccomp -lxxhash -ldl

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

# A test binary also depends on the test headers it includes (tests/unit/*.h).
-include $(TESTS:=.d)

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

# ---- tiny-guest SDK (guest/) and its guests: freestanding static ELF64 ET_EXEC, host gcc ----
# $(BUILD)/guest/DIR/NAME.elf is built from guest/DIR/NAME.c plus the SDK; more guests
# (tests/adversarial, bench) link the same way: $(GUEST_CC) $(GUEST_CFLAGS) ... $(GUEST_LDFLAGS).
GUEST_CC      ?= gcc
GUEST_CFLAGS  := -std=gnu11 -O2 -g -Wall -Wextra -ffreestanding -fno-builtin-printf -fno-pic -fno-pie \
                 -fno-stack-protector -fno-tree-loop-distribute-patterns -mno-red-zone -mcmodel=small \
                 -fcf-protection=none -fno-asynchronous-unwind-tables -Iguest/include -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,guest/link.ld -Wl,--build-id=none \
                 -Wl,-z,noexecstack -Wl,-z,max-page-size=4096
GUEST_SDK_OBJS := $(patsubst guest/%.c,$(BUILD)/guest/%.o,$(sort $(wildcard guest/lib/*.c))) \
                  $(BUILD)/guest/start.o
GUEST_ELFS    := $(BUILD)/guest/hello/hello.elf $(BUILD)/guest/tests/fault.elf $(BUILD)/guest/tests/gdb.elf \
                 $(BUILD)/guest/tests/status.elf $(BUILD)/guest/tests/profile.elf $(BUILD)/guest/tests/ticker.elf \
                 $(BUILD)/guest/bench/exits.elf
MVM_CFLAGS    += -Iguest/include

.PHONY: guests
.PRECIOUS: $(BUILD)/guest/%.o
guests: $(GUEST_ELFS)
all: guests

$(BUILD)/guest/%.o: guest/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(BUILD)/guest/start.o: guest/start.S
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(BUILD)/guest/%.elf: $(BUILD)/guest/%.o $(GUEST_SDK_OBJS) guest/link.ld
	$(GUEST_CC) $(GUEST_CFLAGS) -o $@ $(BUILD)/guest/$*.o $(GUEST_SDK_OBJS) $(GUEST_LDFLAGS)

# The hello demo linked into mvm: `mvm run` without --kernel boots it.
$(BUILD)/guest/embed.o: guest/embed.S $(BUILD)/guest/hello/hello.elf
	$(CC) -c -DHELLO_ELF='"$(BUILD)/guest/hello/hello.elf"' -o $@ $<
$(BUILD)/mvm: $(BUILD)/guest/embed.o

-include $(GUEST_SDK_OBJS:.o=.d) $(GUEST_ELFS:.elf=.d)
# ---- end of the tiny-guest SDK block ----

# ---- adversarial guests (tests/adversarial/, run by tests/adversarial/run.sh) ----
# $(BUILD)/guest/adversarial/NAME.elf from tests/adversarial/NAME.c, its lib/ helpers and the SDK.
ADV_SRCS := $(sort $(wildcard tests/adversarial/*.c))
ADV_LIB  := $(patsubst tests/adversarial/lib/%.c,$(BUILD)/guest/adversarial/lib/%.o,$(sort $(wildcard tests/adversarial/lib/*.c)))
ADV_ELFS := $(patsubst tests/adversarial/%.c,$(BUILD)/guest/adversarial/%.elf,$(ADV_SRCS))

.PHONY: adversarial
.PRECIOUS: $(BUILD)/guest/adversarial/%.o
adversarial: $(ADV_ELFS)
guests: adversarial

$(BUILD)/guest/adversarial/%.o: tests/adversarial/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -Itests/adversarial/lib -c -o $@ $<

$(BUILD)/guest/adversarial/%.elf: $(BUILD)/guest/adversarial/%.o $(ADV_LIB) $(GUEST_SDK_OBJS) guest/link.ld
	$(GUEST_CC) $(GUEST_CFLAGS) -o $@ $< $(ADV_LIB) $(GUEST_SDK_OBJS) $(GUEST_LDFLAGS)

-include $(ADV_LIB:.o=.d) $(ADV_ELFS:.elf=.d)
# ---- end of the adversarial guests block ----

-include $(OBJS:.o=.d)

# ---- KVM tests (tests/kvm/): need a /dev/kvm that runs guests; tests/linux/state-cases.sh runs
# them inside the test host. Each links mvm's objects like a unit test, without cmocka.
KVM_TEST_OBJS := $(BUILD)/tests/kvm/state_roundtrip.o $(BUILD)/tests/kvm/state_checks.o \
                 $(BUILD)/tests/kvm/state_guest.o
.PHONY: kvm-tests
kvm-tests: $(BUILD)/tests/kvm/state_roundtrip $(BUILD)/tests/tools/thread-hold \
           $(BUILD)/tests/tools/snap-edit
all: kvm-tests
asan-tests: kvm-tests

$(BUILD)/tests/kvm/%.o: tests/kvm/%.S
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<

$(BUILD)/tests/kvm/state_roundtrip: $(KVM_TEST_OBJS) $(LIBOBJS)
	$(CC) $(MVM_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# api-pause-stuck's helper: holds one mvm thread stopped (ptrace).
$(BUILD)/tests/tools/thread-hold: tests/tools/thread-hold.c
	@mkdir -p $(dir $@)
	$(CC) $(MVM_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

# The snapshot cases' maker of bad state files (valid checksums, one thing wrong).
$(BUILD)/tests/tools/snap-edit: tests/tools/snap-edit.c $(BUILD)/src/snap/format.o $(BUILD)/src/util/err.o
	@mkdir -p $(dir $@)
	$(CC) $(MVM_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lz

-include $(KVM_TEST_OBJS:.o=.d)
# ---- end of the KVM tests block ----

# ---- fuzz targets (tests/fuzz/): libFuzzer + ASan/UBSan, clang only; not part of `all` ----
# fuzz_http and fuzz_snap link only the parser they fuzz. The other targets (tests/fuzz/fuzz_*.c)
# link against $(BUILD)/fuzz/libmvm.a: every src/ object built by clang with the sanitizers and
# libFuzzer's coverage (the linker takes only the objects a target needs).
# The fake virtio driver (tests/unit/) does atomics on packed ring fields: clang makes those
# libatomic calls. Run one: $(BUILD)/fuzz/fuzz_vq tests/fuzz/corpus/vq ; all: tests/fuzz/run.sh
FUZZ_CC     ?= clang
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -Isrc -g -O1 -fsanitize=fuzzer,address,undefined
FUZZ_OBJ_CFLAGS := $(filter-out -MMD -MP,$(MVM_CFLAGS)) -MMD -MP -g -O1 -fsanitize=fuzzer-no-link $(FUZZ_SAN) \
                   -Wno-unknown-warning-option
FUZZ_LIB_TARGETS := $(patsubst tests/fuzz/%.c,%,$(filter-out tests/fuzz/fuzz_http.c tests/fuzz/fuzz_snap.c, \
                    $(sort $(wildcard tests/fuzz/fuzz_*.c))))
FUZZ_LIBOBJS := $(LIBSRCS:%.c=$(BUILD)/fuzz/obj/%.o)
.PHONY: fuzz fuzz-snap-seeds fuzz-stream-seeds
fuzz: $(BUILD)/fuzz/fuzz_http $(BUILD)/fuzz/fuzz_snap $(FUZZ_LIB_TARGETS:%=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/fuzz_http: tests/fuzz/fuzz_http.c src/api/http.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^

$(BUILD)/fuzz/fuzz_snap: tests/fuzz/fuzz_snap.c src/snap/format.c src/util/err.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ -lz

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_OBJ_CFLAGS) -c -o $@ $<

$(BUILD)/fuzz/libmvm.a: $(FUZZ_LIBOBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(BUILD)/fuzz/libmvm.a
	$(FUZZ_CC) $(FUZZ_OBJ_CFLAGS) -fsanitize=fuzzer -Itests/unit -Itests/fuzz -o $@ $< \
		-Wno-address-of-packed-member -Wno-atomic-alignment $(BUILD)/fuzz/libmvm.a $(LDLIBS) -latomic

-include $(FUZZ_LIBOBJS:.o=.d) $(FUZZ_LIB_TARGETS:%=$(BUILD)/fuzz/%.d)

# Rewrite the snapshot seeds with the real writer (after a format change).
fuzz-snap-seeds: tests/fuzz/fuzz_snap.c src/snap/format.c src/util/err.c
	@mkdir -p $(BUILD)/fuzz tests/fuzz/corpus/snap
	$(CC) $(MVM_CFLAGS) $(CFLAGS) -DFUZZ_SNAP_GEN_SEEDS -o $(BUILD)/fuzz/gen_snap_seeds $^ -lz
	$(BUILD)/fuzz/gen_snap_seeds tests/fuzz/corpus/snap

# Rewrite the migration stream's seeds with the real writer (after a stream format change).
fuzz-stream-seeds: tests/fuzz/fuzz_stream.c src/snap/stream.c
	@mkdir -p $(BUILD)/fuzz tests/fuzz/corpus/stream
	$(CC) $(MVM_CFLAGS) $(CFLAGS) -DFUZZ_STREAM_GEN_SEEDS -o $(BUILD)/fuzz/gen_stream_seeds $^ -lxxhash
	$(BUILD)/fuzz/gen_stream_seeds tests/fuzz/corpus/stream
# ---- end of the fuzz targets block ----

# ---- make install (mvm, man pages, bash completion, the guest SDK and its mvm-guest.pc) ----
include mk/install.mk
