/* image_fixture.h - what the boot-image loader tests share: guest RAM, an
 * image buffer to craft a kernel in, the loader's config and result, the
 * errors it logged, and builders for crafted ELF headers and temp files.
 * Static helpers for test_bzimage.c, test_pvh.c, test_multiboot.c and
 * test_elf64.c.
 *
 * Contract: fx_new() returns a zeroed fixture with ram bytes of guest RAM
 * and img_size bytes of image (f->len starts at 0), or NULL when memory runs
 * out; from then until fx_teardown() every log_err() message lands in f->err
 * (the last one) and counts in f->nr_err. The ELF builders fill only the ELF
 * header fields every crafted image shares (identification, ET_EXEC, the
 * machine, the entry, program headers right after the ELF header); the
 * caller zeroes the image first and writes the program headers itself.
 * fx_tmp_file() and fx_same_ram() fail the running test instead of
 * returning an error.
 */
#ifndef MVM_TESTS_IMAGE_FIXTURE_H
#define MVM_TESTS_IMAGE_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot/boot.h"
#include "core/memory.h"
#include "util/log.h"

#define FX_PATH_LEN 64 /* room for a "/tmp/mvm-test-...-XXXXXX" template */

struct fixture {
	struct gmem m;
	struct boot_cfg cfg;
	struct boot_entry out;
	char err[1024];        /* the last error logged */
	int nr_err;            /* errors logged since fx_new() */
	size_t len;            /* bytes of img the test's image uses */
	uint8_t img[];
};

/* A loader's signature (bzimage_load, pvh_load, ...). */
typedef int fx_loader(const struct gmem *m, const struct boot_src *kernel,
		      const struct boot_src *initrd, const struct boot_cfg *cfg,
		      struct boot_entry *out);

static inline void fx_log_sink(enum log_level level, const char *msg, void *ctx)
{
	struct fixture *f = ctx;

	if (level == LOG_ERR) {
		snprintf(f->err, sizeof(f->err), "%s", msg);
		f->nr_err++;
	}
}

static inline struct fixture *fx_new(uint64_t ram, size_t img_size)
{
	struct fixture *f = calloc(1, sizeof(*f) + img_size);

	if (!f)
		return NULL;
	if (gmem_init(&f->m, ram)) {
		free(f);
		return NULL;
	}
	log_set_sink(fx_log_sink, f);
	return f;
}

/* A cmocka teardown for a fixture from fx_new(). */
static inline int fx_teardown(void **state)
{
	struct fixture *f = *state;

	log_set_sink(NULL, NULL);
	gmem_free(&f->m);
	free(f);
	return 0;
}

/* Run load on buffer sources: the kernel labelled kname, the initrd (when
 * initrd_len is not 0) labelled iname. */
static inline int fx_load_buf(struct fixture *f, fx_loader *load, const char *kname,
			      const uint8_t *img, size_t len, const char *iname,
			      const uint8_t *initrd, size_t initrd_len)
{
	struct boot_src k, i;

	boot_src_buf(&k, "kernel", kname, img, len);
	boot_src_buf(&i, "initrd", iname, initrd, initrd_len);
	return load(&f->m, &k, initrd_len ? &i : NULL, &f->cfg, &f->out);
}

/* An x86-64 ET_EXEC ELF header with phnum program headers after it. */
static inline Elf64_Ehdr *fx_elf64(uint8_t *img, uint64_t entry, int phnum)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;

	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = entry;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = phnum;
	return eh;
}

static inline Elf64_Phdr *fx_phdr64(uint8_t *img, int i)
{
	return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)) + i;
}

/* An i386 ET_EXEC ELF header with phnum program headers after it. */
static inline Elf32_Ehdr *fx_elf32(uint8_t *img, uint32_t entry, int phnum)
{
	Elf32_Ehdr *eh = (Elf32_Ehdr *)img;

	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS32;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_386;
	eh->e_version = EV_CURRENT;
	eh->e_entry = entry;
	eh->e_phoff = sizeof(Elf32_Ehdr);
	eh->e_ehsize = sizeof(Elf32_Ehdr);
	eh->e_phentsize = sizeof(Elf32_Phdr);
	eh->e_phnum = phnum;
	return eh;
}

static inline Elf32_Phdr *fx_phdr32(uint8_t *img, int i)
{
	return (Elf32_Phdr *)(img + sizeof(Elf32_Ehdr)) + i;
}

/* Write buf to a new file made from tmpl (ending in XXXXXX) into path;
 * returns path. The caller unlinks it. */
static inline const char *fx_tmp_file(char path[FX_PATH_LEN], const char *tmpl,
				      const void *buf, size_t len)
{
	int fd;

	assert_true(strlen(tmpl) < FX_PATH_LEN);
	strcpy(path, tmpl);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
	return path;
}

/* Whether any page of [p, p + len) is in memory: a page never touched
 * in either mapping is zero in both, and need not be read. */
static inline int fx_touched(const uint8_t *p, size_t len)
{
	unsigned char vec[512]; /* FX_CHUNK / 4 KiB */
	size_t pages = (len + 4095) / 4096;

	if (mincore((void *)p, len, vec) != 0)
		return 1; /* cannot tell: compare */
	for (size_t i = 0; i < pages; i++)
		if (vec[i] & 1)
			return 1;
	return 0;
}

/* Every RAM region of a holds the same bytes in b (same layout). On a
 * difference b is freed (so ASan reports no leak) and the test fails,
 * naming the first differing address. Chunks untouched in both are
 * skipped: reading all of a 4 GiB guest faults in a million zero pages
 * (over a minute of the unit run on a PVM host). */
#define FX_CHUNK (2u << 20)
static inline void fx_same_ram(const struct gmem *a, struct gmem *b)
{
	for (int r = 0; r < a->nr_regions; r++) {
		const struct gmem_region *reg = &a->regions[r];
		const uint8_t *pa = gmem_ptr(a, reg->gpa, reg->size);
		const uint8_t *pb = gmem_ptr(b, reg->gpa, reg->size);
		uint64_t i;
		uint8_t va, vb;

		assert_non_null(pa);
		assert_non_null(pb);
		for (uint64_t off = 0; off < reg->size; off += FX_CHUNK) {
			size_t len = reg->size - off < FX_CHUNK ? reg->size - off : FX_CHUNK;

			if (!fx_touched(pa + off, len) && !fx_touched(pb + off, len))
				continue;
			if (memcmp(pa + off, pb + off, len) == 0)
				continue;
			i = off;
			while (pa[i] == pb[i])
				i++;
			va = pa[i];
			vb = pb[i];
			gmem_free(b);
			fail_msg("guest RAM differs at 0x%llx (buffer 0x%02x, file 0x%02x)",
				 (unsigned long long)(reg->gpa + i), va, vb);
		}
	}
}

#endif
