/* aml.h - a small builder for ACPI Machine Language (DSDT/SSDT bodies).
 *
 * Contract: an aml_buf writes into memory the caller owns (cap bytes) and
 * never past it. Errors are sticky: the first failure (-ENOSPC when the
 * buffer is full, -EINVAL for a malformed name, ID or value) is kept in
 * b->err, every later call becomes a no-op, and aml_finish() returns it. So
 * a caller emits a whole tree and checks once at the end.
 *
 * Objects with a PkgLength (Scope, Device, Method, Package, Buffer) are
 * opened with aml_*_open(), which returns a mark, filled with their
 * contents, and closed with aml_close(b, mark). Closing picks the shortest
 * PkgLength form (1-4 bytes) and shifts the contents to fit it, so opens
 * and closes must nest like brackets.
 *
 * Resource templates (the bytes of a _CRS buffer) are built in their own
 * aml_buf with the aml_rt_* calls, ended with aml_rt_end() (which appends
 * the End Tag and its checksum), then emitted with aml_buffer().
 *
 * Names are ASL-style paths: "\\_SB", "_HID", "^PCI0.S08", "\\_SB.COM1";
 * a segment shorter than 4 characters is padded with '_'. DSDTs using this
 * builder must have revision >= 2: integers are 64-bit (aml_integer may
 * emit OnesOp for UINT64_MAX).
 */
#ifndef MVM_BOOT_ACPI_AML_H
#define MVM_BOOT_ACPI_AML_H

#include <stddef.h>
#include <stdint.h>

struct aml_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int err;        /* 0 or the first -errno */
};

/* Largest value a 4-byte PkgLength can hold (28 bits). */
#define AML_PKGLEN_MAX 0x0fffffffu

/* Extended Interrupt descriptor flags (ACPI 6.5 6.4.3.6). */
#define AML_IRQ_CONSUMER    0x01
#define AML_IRQ_EDGE        0x02 /* else level */
#define AML_IRQ_ACTIVE_LOW  0x04 /* else active high */
#define AML_IRQ_SHARED      0x08 /* else exclusive */

void aml_init(struct aml_buf *b, void *mem, size_t cap);
/* b->err, or 0; the bytes are data[0..len). */
int aml_finish(const struct aml_buf *b);

/* Encode value as a PkgLength in the fewest bytes. Returns the byte count
 * (1-4), or -EINVAL when value > AML_PKGLEN_MAX. The value is what the
 * PkgLength field holds, i.e. it already counts the PkgLength's own bytes. */
int aml_pkglen_encode(uint32_t value, uint8_t out[4]);

/* EISA ID "PNP0501" -> its 32-bit compressed form (0x0105D041). 0 or
 * -EINVAL when id is not three letters A-Z and four hex digits. */
int aml_eisaid_encode(const char *id, uint32_t *out);

/* Raw bytes; the escape hatch for opcodes this builder lacks. */
void aml_bytes(struct aml_buf *b, const void *p, size_t n);
void aml_byte(struct aml_buf *b, uint8_t v);

/* Data objects. */
void aml_integer(struct aml_buf *b, uint64_t v);       /* shortest form */
void aml_string(struct aml_buf *b, const char *s);     /* ASCII 0x01-0x7f */
void aml_eisaid(struct aml_buf *b, const char *id);    /* as an integer */
void aml_buffer(struct aml_buf *b, const void *p, size_t n);
void aml_name_string(struct aml_buf *b, const char *path);

/* Name(path, <data object the caller emits next>). */
void aml_name(struct aml_buf *b, const char *path);
/* Return(<term the caller emits next>). */
void aml_return(struct aml_buf *b);

/* Nested objects: open, emit contents, aml_close(b, mark). */
size_t aml_scope_open(struct aml_buf *b, const char *path);
size_t aml_device_open(struct aml_buf *b, const char *path);
size_t aml_method_open(struct aml_buf *b, const char *path, int nargs, int serialized);
size_t aml_package_open(struct aml_buf *b, unsigned nelems);   /* 0-255 */
void aml_close(struct aml_buf *b, size_t mark);

/* Resource template descriptors (ACPI 6.5 6.4), into a separate aml_buf. */
void aml_rt_io(struct aml_buf *rt, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
void aml_rt_irq_noflags(struct aml_buf *rt, unsigned irq);     /* 0-15, edge high */
void aml_rt_mem32_fixed(struct aml_buf *rt, int writable, uint32_t base, uint32_t len);
void aml_rt_ext_irq(struct aml_buf *rt, uint8_t flags, uint32_t gsi);
void aml_rt_end(struct aml_buf *rt);   /* End Tag; sum of all bytes == 0 */

#endif
