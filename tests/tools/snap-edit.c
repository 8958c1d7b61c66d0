/* snap-edit.c - make the bad snapshot state files a restore must refuse
 * (tests/linux/snapshot-cases.sh), each a well-formed file whose checksums
 * are right, so the refusal comes from the check being tested and not from
 * a CRC that no longer matches.
 *
 * Usage: snap-edit IN OUT EDIT
 *   vendor NAME      the header's CPU vendor becomes NAME (12 bytes, e.g. GenuineIntel)
 *   add-section NAME a section NAME (a few bytes) is added after the others
 *   cpuid-extra      every vCPU's CPUID leaf 7 (subleaf 0) claims every EBX and ECX
 *                    feature bit, which no host offers
 * Reads IN with mvm's own reader (so IN must be valid) and writes OUT with its
 * writer, copying everything else unchanged. Exit status 0, or 1 with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/vcpu_state.h"
#include "snap/format.h"

static int fail(const char *what, const char *msg)
{
	fprintf(stderr, "snap-edit: %s: %s\n", what, msg);
	return 1;
}

/* Leaf 7's features claimed in full in a copy of one vCPU's state. */
static int claim_all_leaf7(struct vcpu_state *st)
{
	for (uint32_t i = 0; i < st->cpuid_nent && i < VCPU_STATE_MAX_CPUID; i++) {
		struct kvm_cpuid_entry2 *e = &st->cpuid[i];

		if (e->function == 0x7 && e->index == 0) {
			e->ebx = 0xffffffffu;
			e->ecx = 0xffffffffu;
			return 0;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct snap_header_info info = { 0 };
	struct snap_reader r;
	struct snap_writer w;
	const char *edit;
	char err[512];
	int ncpuid = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: snap-edit IN OUT vendor NAME | add-section NAME | cpuid-extra\n");
		return 2;
	}
	edit = argv[3];
	if (strcmp(edit, "vendor") && strcmp(edit, "add-section") && strcmp(edit, "cpuid-extra"))
		return fail(edit, "not an edit this tool makes");
	if ((!strcmp(edit, "vendor") || !strcmp(edit, "add-section")) && argc != 5)
		return fail(edit, "needs one argument");
	if (snap_reader_open(&r, argv[1], err, sizeof(err)))
		return fail(argv[1], err);
	info.flags = r.hdr.flags;
	info.mvm_version = r.hdr.mvm_version;
	memcpy(info.cpu_vendor, r.hdr.cpu_vendor, SNAP_VENDOR_LEN);
	if (!strcmp(edit, "vendor")) {
		if (strlen(argv[4]) != SNAP_VENDOR_LEN)
			return fail(argv[4], "a vendor is 12 bytes");
		memcpy(info.cpu_vendor, argv[4], SNAP_VENDOR_LEN);
	}
	if (snap_writer_open(&w, argv[2], &info))
		return fail(argv[2], snap_writer_msg(&w));
	for (uint32_t i = 0; i < r.nsec; i++) {
		const struct snap_section *s = &r.sec[i];
		const void *data = s->data;
		struct vcpu_state *st = NULL;

		if (!strcmp(edit, "cpuid-extra") && !strncmp(s->name, "vcpu", 4) &&
		    s->len == sizeof(*st)) {
			st = malloc(sizeof(*st));
			if (!st)
				return fail(s->name, "out of memory");
			memcpy(st, s->data, sizeof(*st));
			if (claim_all_leaf7(st))
				return fail(s->name, "no CPUID leaf 7 in this vCPU's state");
			data = st;
			ncpuid++;
		}
		snap_write_section(&w, s->name, s->version, data, s->len);
		free(st);
	}
	if (!strcmp(edit, "add-section"))
		snap_write_section(&w, argv[4], 1, "unknown", 8);
	if (!strcmp(edit, "cpuid-extra") && !ncpuid) {
		snap_writer_abort(&w);
		return fail(argv[1], "no vCPU section of the expected size");
	}
	if (snap_writer_commit(&w)) {
		snap_writer_abort(&w);
		return fail(argv[2], snap_writer_msg(&w));
	}
	snap_reader_close(&r);
	return 0;
}
