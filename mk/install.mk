# mk/install.mk - `make install`: mvm, its man pages and bash completion, and the tiny-guest SDK
# (headers, libmvm-guest.a, the link script, mvm-guest.pc) so a guest builds outside this tree.
# Included by the Makefile. The usual GNU variables: PREFIX, BINDIR, LIBDIR, INCLUDEDIR, MANDIR,
# DESTDIR (staged installs, packaging). Debian's rules set PREFIX=/usr and a multiarch LIBDIR.
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
DATADIR      ?= $(PREFIX)/share
MANDIR       ?= $(DATADIR)/man
BASHCOMPDIR  ?= $(DATADIR)/bash-completion/completions
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL      ?= install

# One version for the binary and the SDK: main.c's MVM_VERSION.
MVM_PKG_VERSION := $(shell sed -n 's/^\#define MVM_VERSION "\(.*\)"/\1/p' src/main.c)

# The SDK as a library: guest/lib/*.c and start.S (the entry, _start, which calls mvm_main).
SDK_LIB := $(BUILD)/guest/libmvm-guest.a
SDK_HEADERS := guest/include/mvm_guest.h guest/include/mvm/abi.h guest/include/mvm/virtio_mmio.h

# What a guest needs from GUEST_CFLAGS and GUEST_LDFLAGS (Makefile), minus this tree's own
# paths, warnings, optimization and dependency files: the same flags, so they cannot drift.
comma := ,
SDK_PC_CFLAGS := $(filter-out -std=% -O% -g -Wall -Wextra -I% -MMD -MP,$(GUEST_CFLAGS))
SDK_PC_LIBS   := $(filter-out -Wl$(comma)-T$(comma)%,$(GUEST_LDFLAGS))
# Paths in the .pc file relative to ${prefix} where they lie under it, so that
# `pkg-config --define-variable=prefix=DIR` finds a tree staged under DESTDIR.
pc_rel = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

.PHONY: sdk install uninstall
sdk: $(SDK_LIB)

$(SDK_LIB): $(GUEST_SDK_OBJS)
	rm -f $@
	ar rcs $@ $^

install: $(BUILD)/mvm $(SDK_LIB)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(INCLUDEDIR)/mvm-guest/mvm \
		$(DESTDIR)$(LIBDIR)/mvm-guest $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 0755 $(BUILD)/mvm $(DESTDIR)$(BINDIR)/mvm
	$(INSTALL) -m 0644 docs/man/mvm.1 $(DESTDIR)$(MANDIR)/man1/mvm.1
	$(INSTALL) -m 0644 docs/man/mvm-config.5 $(DESTDIR)$(MANDIR)/man5/mvm-config.5
	$(INSTALL) -m 0644 scripts/completion/mvm.bash $(DESTDIR)$(BASHCOMPDIR)/mvm
	$(INSTALL) -m 0644 guest/include/mvm_guest.h $(DESTDIR)$(INCLUDEDIR)/mvm-guest/
	$(INSTALL) -m 0644 guest/include/mvm/abi.h guest/include/mvm/virtio_mmio.h \
		$(DESTDIR)$(INCLUDEDIR)/mvm-guest/mvm/
	$(INSTALL) -m 0644 $(SDK_LIB) $(DESTDIR)$(LIBDIR)/libmvm-guest.a
	$(INSTALL) -m 0644 guest/link.ld $(DESTDIR)$(LIBDIR)/mvm-guest/link.ld
	{ echo 'prefix=$(PREFIX)'; \
	  echo 'includedir=$(call pc_rel,$(INCLUDEDIR))'; \
	  echo 'libdir=$(call pc_rel,$(LIBDIR))'; \
	  echo 'ldscript=$${libdir}/mvm-guest/link.ld'; \
	  echo; \
	  echo 'Name: mvm-guest'; \
	  echo 'Description: SDK for tiny mvm guests (static ELF64 programs for mvm run --kernel)'; \
	  echo 'Version: $(MVM_PKG_VERSION)'; \
	  echo 'Cflags: -I$${includedir}/mvm-guest $(SDK_PC_CFLAGS)'; \
	  echo 'Libs: $(SDK_PC_LIBS) -Wl,-T,$${ldscript} -L$${libdir} -lmvm-guest'; \
	} > $(DESTDIR)$(PKGCONFIGDIR)/mvm-guest.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/mvm-guest.pc

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mvm $(DESTDIR)$(MANDIR)/man1/mvm.1 \
		$(DESTDIR)$(MANDIR)/man5/mvm-config.5 $(DESTDIR)$(BASHCOMPDIR)/mvm \
		$(DESTDIR)$(LIBDIR)/libmvm-guest.a $(DESTDIR)$(LIBDIR)/mvm-guest/link.ld \
		$(DESTDIR)$(PKGCONFIGDIR)/mvm-guest.pc \
		$(addprefix $(DESTDIR)$(INCLUDEDIR)/mvm-guest/,mvm_guest.h mvm/abi.h mvm/virtio_mmio.h)
	-rmdir $(DESTDIR)$(LIBDIR)/mvm-guest $(DESTDIR)$(INCLUDEDIR)/mvm-guest/mvm \
		$(DESTDIR)$(INCLUDEDIR)/mvm-guest 2>/dev/null
