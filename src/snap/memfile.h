/* memfile.h - guest RAM to a sparse memory file and back: full and diff saves, lazy load, merge.
 *
 * Contract: a memory file is guest RAM byte for byte; the caller decides
 * where each RAM region lives in it (file_off) and how large it is. Pages
 * are SNAP_PAGE (4 KiB) everywhere: every offset, length and host address
 * passed here is a multiple of it.
 *
 * Full save (dirty == NULL): pages that are all zero are not written and
 * stay holes. Diff save: only the pages whose bit is set in DIRTY are
 * written (a uint64_t word per 64 pages, bit i of word w = page 64*w + i of
 * the region), zero or not: in a diff a hole means "unchanged since the
 * base", data means "this page", so a dirty page that became zero must be
 * there as data. A diff file has the full file's size. snap_mem_save()
 * writes a new file under a temporary name and renames it on success, so
 * the holes are real and a failed save leaves nothing under PATH.
 *
 * Load: snap_mem_open() checks the file's size against what the snapshot
 * says; snap_mem_map() maps a range of it MAP_PRIVATE | MAP_FIXED over the
 * caller's existing mapping (its guest RAM), so pages are read on first
 * touch and the guest's writes stay in the process, never in the file. The
 * new mapping replaces the old one and whatever madvise() it had.
 *
 * Merge: snap_mem_merge() copies the data extents of a diff (found with
 * SEEK_DATA/SEEK_HOLE) into its base, in place. It refuses files of
 * different sizes and a file system whose holes it cannot see (a diff
 * whose holes were filled, e.g. by a copy that is not sparse-aware, looks
 * like a full image and would overwrite the whole base: keep diffs where
 * they were written, or copy them with `cp --sparse=always`).
 *
 * Errors: 0 or -errno; ERR (if given) names the file and what is wrong. A
 * file of the wrong size or kind is the user's (err_usage); I/O failures
 * are the host's (err_host).
 */
#ifndef MVM_SNAP_MEMFILE_H
#define MVM_SNAP_MEMFILE_H

#include <stddef.h>
#include <stdint.h>

#define SNAP_PAGE 4096u

struct snap_mem_stats {
	uint64_t bytes_written;   /* payload bytes written to the file */
	uint64_t pages_written;
	uint64_t pages_skipped;   /* zero pages (full) or clean pages (diff) left as holes */
};

struct snap_mem_region {
	const void *host;         /* page-aligned */
	size_t len;               /* a multiple of SNAP_PAGE */
	uint64_t file_off;        /* page-aligned; the region's place in the file */
	const uint64_t *dirty;    /* NULL: full save; else one bit per page of this region */
};

/* Write one region into FD at FILE_OFF (the file's range must be holes: a
 * fresh file). Adds to ST when given. */
int snap_mem_write(int fd, const struct snap_mem_region *r, struct snap_mem_stats *st);

/* A new memory file of FILE_SIZE bytes holding the N regions (which must
 * not overlap and must fit), created 0600 beside PATH and renamed to it. */
int snap_mem_save(const char *path, uint64_t file_size, const struct snap_mem_region *regions,
		  size_t n, struct snap_mem_stats *st, char *err, size_t errlen);

/* Open PATH read-only for snap_mem_map(): a regular file of exactly
 * EXPECTED_SIZE bytes. Returns the fd or -errno. */
int snap_mem_open(const char *path, uint64_t expected_size, char *err, size_t errlen);

/* Map [FILE_OFF, FILE_OFF + LEN) of FD over [HOST, HOST + LEN), private and fixed. */
int snap_mem_map(int fd, uint64_t file_off, void *host, size_t len, char *err, size_t errlen);

/* Copy every data page of DIFF into BASE (same size). ST counts what was copied. */
int snap_mem_merge(const char *base, const char *diff, struct snap_mem_stats *st,
		   char *err, size_t errlen);

#endif
