/* aml.c - AML byte encoder: names, integers, packages, devices, methods, _CRS. */
#include "boot/acpi/aml.h"

#include <errno.h>
#include <string.h>

/* AML opcodes (ACPI 6.5 20.3). */
#define AML_ZERO_OP        0x00
#define AML_ONE_OP         0x01
#define AML_NAME_OP        0x08
#define AML_BYTE_PREFIX    0x0a
#define AML_WORD_PREFIX    0x0b
#define AML_DWORD_PREFIX   0x0c
#define AML_STRING_PREFIX  0x0d
#define AML_QWORD_PREFIX   0x0e
#define AML_SCOPE_OP       0x10
#define AML_BUFFER_OP      0x11
#define AML_PACKAGE_OP     0x12
#define AML_METHOD_OP      0x14
#define AML_DUAL_NAME      0x2e
#define AML_MULTI_NAME     0x2f
#define AML_EXT_OP         0x5b
#define AML_DEVICE_OP      0x82 /* after AML_EXT_OP */
#define AML_ROOT_CHAR      0x5c
#define AML_PARENT_CHAR    0x5e
#define AML_RETURN_OP      0xa4
#define AML_ONES_OP        0xff

/* Resource descriptor tags (ACPI 6.5 6.4). */
#define RT_IRQ_NOFLAGS     0x22 /* small, type 4, length 2 */
#define RT_IO              0x47 /* small, type 8, length 7 */
#define RT_END_TAG         0x79 /* small, type 15, length 1 */
#define RT_MEM32_FIXED     0x86 /* large, type 6 */
#define RT_EXT_IRQ         0x89 /* large, type 9 */

static void fail(struct aml_buf *b, int err)
{
	if (!b->err)
		b->err = err;
}

void aml_init(struct aml_buf *b, void *mem, size_t cap)
{
	b->data = mem;
	b->len = 0;
	b->cap = mem ? cap : 0;
	b->err = 0;
}

int aml_finish(const struct aml_buf *b)
{
	return b->err;
}

void aml_bytes(struct aml_buf *b, const void *p, size_t n)
{
	if (b->err)
		return;
	if (n > b->cap - b->len) {
		fail(b, -ENOSPC);
		return;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

void aml_byte(struct aml_buf *b, uint8_t v)
{
	aml_bytes(b, &v, 1);
}

static void put_le(struct aml_buf *b, uint64_t v, int n)
{
	uint8_t tmp[8];

	for (int i = 0; i < n; i++)
		tmp[i] = (uint8_t)(v >> (8 * i));
	aml_bytes(b, tmp, (size_t)n);
}

int aml_pkglen_encode(uint32_t value, uint8_t out[4])
{
	if (value <= 0x3f) {
		out[0] = (uint8_t)value;
		return 1;
	}
	if (value > AML_PKGLEN_MAX)
		return -EINVAL;
	/* Multi-byte form: bits 7-6 of the lead byte count the bytes that
	 * follow, its low nibble holds bits 0-3, each next byte 8 more bits. */
	int extra = value <= 0xfff ? 1 : value <= 0xfffff ? 2 : 3;

	out[0] = (uint8_t)((extra << 6) | (value & 0x0f));
	for (int i = 1; i <= extra; i++)
		out[i] = (uint8_t)(value >> (4 + 8 * (i - 1)));
	return extra + 1;
}

int aml_eisaid_encode(const char *id, uint32_t *out)
{
	uint32_t v = 0;

	if (!id || strlen(id) != 7)
		return -EINVAL;
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return -EINVAL;
	}
	uint16_t vendor = (uint16_t)(((id[0] - 'A' + 1) << 10) |
				     ((id[1] - 'A' + 1) << 5) | (id[2] - 'A' + 1));
	uint8_t bytes[4] = { (uint8_t)(vendor >> 8), (uint8_t)vendor, 0, 0 };

	for (int i = 0; i < 4; i++) {
		char c = id[3 + i];
		int nib;

		if (c >= '0' && c <= '9')
			nib = c - '0';
		else if (c >= 'A' && c <= 'F')
			nib = c - 'A' + 10;
		else
			return -EINVAL;
		bytes[2 + i / 2] |= (uint8_t)(nib << ((i % 2) ? 0 : 4));
	}
	/* The four bytes are stored in this order in the AML DWord, which is
	 * little-endian: the value reads back as bytes[3..0]. */
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | bytes[i];
	*out = v;
	return 0;
}

void aml_integer(struct aml_buf *b, uint64_t v)
{
	if (v == 0) {
		aml_byte(b, AML_ZERO_OP);
	} else if (v == 1) {
		aml_byte(b, AML_ONE_OP);
	} else if (v == UINT64_MAX) {
		aml_byte(b, AML_ONES_OP);
	} else if (v <= 0xff) {
		aml_byte(b, AML_BYTE_PREFIX);
		put_le(b, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(b, AML_WORD_PREFIX);
		put_le(b, v, 2);
	} else if (v <= 0xffffffffu) {
		aml_byte(b, AML_DWORD_PREFIX);
		put_le(b, v, 4);
	} else {
		aml_byte(b, AML_QWORD_PREFIX);
		put_le(b, v, 8);
	}
}

void aml_string(struct aml_buf *b, const char *s)
{
	if (b->err)
		return;
	if (!s) {
		fail(b, -EINVAL);
		return;
	}
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p > 0x7f) {
			fail(b, -EINVAL);
			return;
		}
	}
	aml_byte(b, AML_STRING_PREFIX);
	aml_bytes(b, s, strlen(s) + 1);
}

void aml_eisaid(struct aml_buf *b, const char *id)
{
	uint32_t v;

	if (b->err)
		return;
	if (aml_eisaid_encode(id, &v)) {
		fail(b, -EINVAL);
		return;
	}
	/* Always a DWord, as iasl does, so the value reads as an EISAID. */
	aml_byte(b, AML_DWORD_PREFIX);
	put_le(b, v, 4);
}

static int seg_char_ok(char c, int first)
{
	if ((c >= 'A' && c <= 'Z') || c == '_')
		return 1;
	return !first && c >= '0' && c <= '9';
}

void aml_name_string(struct aml_buf *b, const char *path)
{
	uint8_t segs[255][4];
	int nsegs = 0;
	const char *p = path;

	if (b->err)
		return;
	if (!path) {
		fail(b, -EINVAL);
		return;
	}
	/* Check the whole path before emitting any of it. */
	size_t prefix = 0;

	if (*p == '\\') {
		p++;
		prefix = 1;
	} else {
		while (*p == '^') {
			p++;
			prefix++;
		}
	}
	while (*p) {
		int n = 0;

		if (nsegs == 255) {
			fail(b, -EINVAL);
			return;
		}
		while (*p && *p != '.') {
			if (n == 4 || !seg_char_ok(*p, n == 0)) {
				fail(b, -EINVAL);
				return;
			}
			segs[nsegs][n++] = (uint8_t)*p++;
		}
		if (n == 0 || (*p == '.' && !p[1])) {
			fail(b, -EINVAL);
			return;
		}
		while (n < 4)
			segs[nsegs][n++] = '_';
		nsegs++;
		if (*p == '.')
			p++;
	}
	if (nsegs == 0 && prefix == 0) {
		fail(b, -EINVAL);
		return;
	}
	if (path[0] == '\\')
		aml_byte(b, AML_ROOT_CHAR);
	else
		for (size_t i = 0; i < prefix; i++)
			aml_byte(b, AML_PARENT_CHAR);
	if (nsegs == 0) {
		aml_byte(b, 0x00); /* NullName */
		return;
	}
	if (nsegs == 2) {
		aml_byte(b, AML_DUAL_NAME);
	} else if (nsegs > 2) {
		aml_byte(b, AML_MULTI_NAME);
		aml_byte(b, (uint8_t)nsegs);
	}
	aml_bytes(b, segs, (size_t)nsegs * 4);
}

void aml_name(struct aml_buf *b, const char *path)
{
	aml_byte(b, AML_NAME_OP);
	aml_name_string(b, path);
}

void aml_return(struct aml_buf *b)
{
	aml_byte(b, AML_RETURN_OP);
}

void aml_close(struct aml_buf *b, size_t mark)
{
	uint8_t enc[4];

	if (b->err)
		return;
	if (mark > b->len) {
		fail(b, -EINVAL);
		return;
	}
	size_t content = b->len - mark;
	int k;

	/* The PkgLength counts its own bytes, so the size of the encoding and
	 * the value it encodes depend on each other: try the forms in order. */
	for (k = 1; k <= 4; k++) {
		static const uint32_t lim[5] = { 0, 0x3f, 0xfff, 0xfffff, AML_PKGLEN_MAX };

		if (content <= lim[k] - (uint32_t)k)
			break;
	}
	if (k > 4) {
		fail(b, -ENOSPC);
		return;
	}
	if ((size_t)k > b->cap - b->len) {
		fail(b, -ENOSPC);
		return;
	}
	if (aml_pkglen_encode((uint32_t)(content + (size_t)k), enc) != k) {
		fail(b, -EINVAL);
		return;
	}
	memmove(b->data + mark + k, b->data + mark, content);
	memcpy(b->data + mark, enc, (size_t)k);
	b->len += (size_t)k;
}

size_t aml_scope_open(struct aml_buf *b, const char *path)
{
	aml_byte(b, AML_SCOPE_OP);
	size_t mark = b->len;

	aml_name_string(b, path);
	return mark;
}

size_t aml_device_open(struct aml_buf *b, const char *path)
{
	aml_byte(b, AML_EXT_OP);
	aml_byte(b, AML_DEVICE_OP);
	size_t mark = b->len;

	aml_name_string(b, path);
	return mark;
}

size_t aml_method_open(struct aml_buf *b, const char *path, int nargs, int serialized)
{
	aml_byte(b, AML_METHOD_OP);
	size_t mark = b->len;

	if (nargs < 0 || nargs > 7)
		fail(b, -EINVAL);
	aml_name_string(b, path);
	aml_byte(b, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
	return mark;
}

size_t aml_package_open(struct aml_buf *b, unsigned nelems)
{
	aml_byte(b, AML_PACKAGE_OP);
	size_t mark = b->len;

	if (nelems > 255)
		fail(b, -EINVAL);
	aml_byte(b, (uint8_t)nelems);
	return mark;
}

void aml_buffer(struct aml_buf *b, const void *p, size_t n)
{
	aml_byte(b, AML_BUFFER_OP);
	size_t mark = b->len;

	aml_integer(b, n);
	aml_bytes(b, p, n);
	aml_close(b, mark);
}

void aml_rt_io(struct aml_buf *rt, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	aml_byte(rt, RT_IO);
	aml_byte(rt, 0x01); /* decodes 16 address bits */
	put_le(rt, min, 2);
	put_le(rt, max, 2);
	aml_byte(rt, align);
	aml_byte(rt, len);
}

void aml_rt_irq_noflags(struct aml_buf *rt, unsigned irq)
{
	if (irq > 15) {
		fail(rt, -EINVAL);
		return;
	}
	aml_byte(rt, RT_IRQ_NOFLAGS);
	put_le(rt, 1u << irq, 2);
}

void aml_rt_mem32_fixed(struct aml_buf *rt, int writable, uint32_t base, uint32_t len)
{
	aml_byte(rt, RT_MEM32_FIXED);
	put_le(rt, 9, 2); /* bytes after the length field */
	aml_byte(rt, writable ? 0x01 : 0x00);
	put_le(rt, base, 4);
	put_le(rt, len, 4);
}

void aml_rt_ext_irq(struct aml_buf *rt, uint8_t flags, uint32_t gsi)
{
	aml_byte(rt, RT_EXT_IRQ);
	put_le(rt, 6, 2); /* flags, count, one DWord */
	aml_byte(rt, flags & 0x1f);
	aml_byte(rt, 1);
	put_le(rt, gsi, 4);
}

void aml_rt_end(struct aml_buf *rt)
{
	uint8_t sum = RT_END_TAG;

	if (rt->err)
		return;
	for (size_t i = 0; i < rt->len; i++)
		sum = (uint8_t)(sum + rt->data[i]);
	aml_byte(rt, RT_END_TAG);
	aml_byte(rt, (uint8_t)(0x100 - sum));
}
