/* format.h - the snapshot state file: a header, named and versioned sections, an end marker.
 *
 * Contract: this module knows bytes and files, nothing of KVM or devices.
 * Section payloads are opaque bytes that callers serialize themselves; the
 * module only frames them (name, version, length, CRC32). The byte layout,
 * the versioning rules and everything a reader refuses are in
 * docs/snapshot-format.md; every integer in the file is little-endian.
 *
 * Writing: snap_writer_open() creates a temporary file (mode 0600) beside
 * PATH; snap_write_section() appends one section; snap_writer_commit()
 * writes the end marker, fsyncs and renames the file to PATH (replacing
 * what was there), then fsyncs the folder. A writer that is not committed
 * is aborted with snap_writer_abort(), which removes the temporary file: a
 * failed save never leaves a file under PATH. A failed open leaves nothing
 * to abort (aborting anyway is harmless). After the first failure every
 * call returns the same error; snap_writer_msg() says what failed.
 *
 * Reading: snap_reader_open() reads the whole file (at most SNAP_MAX_FILE
 * bytes) and checks everything before returning 0: magic, format version,
 * flags, every length against the bytes there are, every section's CRC, no
 * duplicate names, the end marker and its CRC over the header and the
 * section table. On failure ERR (if given) holds one line naming the file
 * and, where there is one, the section. After a successful open the
 * section data stays valid until snap_reader_close(). snap_find() marks a
 * section as claimed; snap_reader_unclaimed() then names the first section
 * no caller asked for, so the caller can refuse (or ignore) sections it
 * does not know.
 *
 * Errors: functions return 0 or -errno. A malformed or missing file is the
 * user's (err_usage), a failed read or write the host's (err_host).
 */
#ifndef MVM_SNAP_FORMAT_H
#define MVM_SNAP_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC          "MVMSNAP"          /* 8 bytes with its NUL */
#define SNAP_END_MAGIC      "MVMEND\0"         /* 8 bytes with its NUL */
#define SNAP_FORMAT_VERSION 1u
#define SNAP_HEADER_SIZE    64u
#define SNAP_SECTION_HDR    32u
#define SNAP_END_SIZE       32u
#define SNAP_NAME_LEN       16u                /* name field; a 16-byte name has no NUL */
#define SNAP_VERSION_LEN    32u                /* mvm version field, NUL-padded, NUL-terminated */
#define SNAP_VENDOR_LEN     12u                /* CPUID leaf 0: EBX, EDX, ECX */
#define SNAP_ALIGN          8u                 /* payloads are padded with zeros to this */
#define SNAP_MAX_FILE       (64ull << 20)      /* a reader refuses larger state files */
#define SNAP_MAX_SECTIONS   1024u

/* Header flags. A reader refuses a bit it does not know. */
#define SNAP_F_DIFF         (1u << 0)          /* the memory file beside this one is a diff */
#define SNAP_F_KNOWN        (SNAP_F_DIFF)

/* What a writer puts in the header. */
struct snap_header_info {
	uint32_t flags;                        /* SNAP_F_* */
	const char *mvm_version;               /* at most SNAP_VERSION_LEN - 1 bytes */
	char cpu_vendor[SNAP_VENDOR_LEN];      /* from the caller: this module runs no CPUID */
};

/* What a reader found in the header. */
struct snap_header {
	uint32_t format_version;
	uint32_t flags;
	char mvm_version[SNAP_VERSION_LEN];                /* NUL-terminated */
	char cpu_vendor[SNAP_VENDOR_LEN + 1];              /* NUL-terminated copy */
};

struct snap_writer {
	int fd;              /* -1 for an in-memory writer */
	uint8_t *mem;        /* an in-memory writer's bytes (snap_writer_open_mem) */
	size_t mem_cap;
	bool in_memory;
	char *path;          /* the final name */
	char *tmp;           /* the temporary file, removed unless committed */
	uint64_t off;        /* bytes written so far */
	uint32_t table_crc;  /* CRC32 of the header and every section header so far */
	uint32_t nsec;
	char (*names)[SNAP_NAME_LEN];
	int error;           /* the first failure, sticky */
	char msg[320];
};

struct snap_section {
	char name[SNAP_NAME_LEN + 1];
	uint32_t version;
	const uint8_t *data;
	uint64_t len;
	uint64_t offset;     /* of the section header in the file */
	bool claimed;
};

struct snap_reader {
	char *path;          /* for messages */
	uint8_t *buf;        /* the file's bytes (owned when own_buf) */
	size_t size;
	bool own_buf;
	struct snap_header hdr;
	struct snap_section *sec;
	uint32_t nsec;
};

/* A section name: 1 to SNAP_NAME_LEN bytes of [A-Za-z0-9_.-]. */
bool snap_name_valid(const char *name);

int snap_writer_open(struct snap_writer *w, const char *path, const struct snap_header_info *info);
int snap_write_section(struct snap_writer *w, const char *name, uint32_t version,
		       const void *data, size_t len);
int snap_writer_commit(struct snap_writer *w);
/* The same file built in a heap buffer (NAME for messages): no path, no
 * syscall, no fsync. snap_writer_take() writes the end marker and hands out the whole
 * file's bytes (malloc'd, the caller frees them), ending the writer either
 * way; snap_reader_parse() reads them back. For a migration stream. */
int snap_writer_open_mem(struct snap_writer *w, const char *name,
			 const struct snap_header_info *info);
int snap_writer_take(struct snap_writer *w, uint8_t **buf, size_t *len);
void snap_writer_abort(struct snap_writer *w);
/* What the first failure was ("" if none). */
const char *snap_writer_msg(const struct snap_writer *w);

int snap_reader_open(struct snap_reader *r, const char *path, char *err, size_t errlen);
/* The same checks over LEN bytes in memory (borrowed: BUF must outlive R);
 * NAME stands for the file in messages. */
int snap_reader_parse(struct snap_reader *r, const void *buf, size_t len, const char *name,
		      char *err, size_t errlen);
void snap_reader_close(struct snap_reader *r);

/* The section called NAME: 0 with its version, data and length, or -ENOENT. */
int snap_find(struct snap_reader *r, const char *name, uint32_t *version,
	      const void **data, size_t *len);
/* The first section snap_find() was never asked for, or NULL. */
const struct snap_section *snap_reader_unclaimed(const struct snap_reader *r);

#endif
