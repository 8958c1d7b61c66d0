/* regs.c - the x86-64 register file as the client sees it: the target description, each
 * register's place in struct gdb_regs, and the x87 tag word's two forms. */
#include "gdb/stub.h"
#include "gdb/stub_priv.h"

#include <stddef.h>

#define R(field, size) { offsetof(struct gdb_regs, field), size }
#define R4(base) R(base[0], 8), R(base[1], 8), R(base[2], 8), R(base[3], 8)

const struct gdb_reg_slot gdb_reg_slots[GDB_NR_REGS] = {
	R4(gpr), R(gpr[4], 8), R(gpr[5], 8), R(gpr[6], 8), R(gpr[7], 8),
	R(gpr[8], 8), R(gpr[9], 8), R(gpr[10], 8), R(gpr[11], 8),
	R(gpr[12], 8), R(gpr[13], 8), R(gpr[14], 8), R(gpr[15], 8),
	R(rip, 8), R(eflags, 4),
	R(seg[0], 4), R(seg[1], 4), R(seg[2], 4), R(seg[3], 4), R(seg[4], 4), R(seg[5], 4),
	R(st[0], 10), R(st[1], 10), R(st[2], 10), R(st[3], 10),
	R(st[4], 10), R(st[5], 10), R(st[6], 10), R(st[7], 10),
	R(fctrl, 4), R(fstat, 4), R(ftag, 4), R(fiseg, 4),
	R(fioff, 4), R(foseg, 4), R(fooff, 4), R(fop, 4),
	R(xmm[0], 16), R(xmm[1], 16), R(xmm[2], 16), R(xmm[3], 16),
	R(xmm[4], 16), R(xmm[5], 16), R(xmm[6], 16), R(xmm[7], 16),
	R(xmm[8], 16), R(xmm[9], 16), R(xmm[10], 16), R(xmm[11], 16),
	R(xmm[12], 16), R(xmm[13], 16), R(xmm[14], 16), R(xmm[15], 16),
	R(mxcsr, 4), R(fs_base, 8), R(gs_base, 8),
	R(cr0, 8), R(cr2, 8), R(cr3, 8), R(cr4, 8), R(cr8, 8), R(efer, 8),
};

/* Register names: gdb checks the core and sse features' names to accept an amd64 target;
 * segments carries fs_base/gs_base; the control registers are mvm's own feature. */
const char gdb_stub_target_xml[] =
	"<?xml version=\"1.0\"?>\n"
	"<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
	"<target version=\"1.0\">\n"
	"<architecture>i386:x86-64</architecture>\n"
	"<feature name=\"org.gnu.gdb.i386.core\">\n"
	"<reg name=\"rax\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rbx\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rcx\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rdx\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rsi\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rdi\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rbp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
	"<reg name=\"rsp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
	"<reg name=\"r8\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r9\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r10\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r11\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r12\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r13\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r14\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r15\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>\n"
	"<reg name=\"eflags\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"cs\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"ss\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"ds\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"es\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"fs\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"gs\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st1\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st2\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st3\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st4\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st5\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st6\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st7\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"fctrl\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fstat\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"ftag\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fiseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fioff\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"foseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fooff\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fop\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"</feature>\n"
	"<feature name=\"org.gnu.gdb.i386.sse\">\n"
	"<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>\n"
	"<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>\n"
	"<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>\n"
	"<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>\n"
	"<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>\n"
	"<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>\n"
	"<union id=\"vec128\">\n"
	"<field name=\"v4_float\" type=\"v4f\"/>\n"
	"<field name=\"v2_double\" type=\"v2d\"/>\n"
	"<field name=\"v16_int8\" type=\"v16i8\"/>\n"
	"<field name=\"v8_int16\" type=\"v8i16\"/>\n"
	"<field name=\"v4_int32\" type=\"v4i32\"/>\n"
	"<field name=\"v2_int64\" type=\"v2i64\"/>\n"
	"<field name=\"uint128\" type=\"uint128\"/>\n"
	"</union>\n"
	"<reg name=\"xmm0\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm1\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm2\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm3\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm4\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm5\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm6\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm7\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm8\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm9\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm10\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm11\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm12\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm13\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm14\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm15\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"mxcsr\" bitsize=\"32\" type=\"int\" group=\"vector\"/>\n"
	"</feature>\n"
	"<feature name=\"org.gnu.gdb.i386.segments\">\n"
	"<reg name=\"fs_base\" bitsize=\"64\" type=\"int\"/>\n"
	"<reg name=\"gs_base\" bitsize=\"64\" type=\"int\"/>\n"
	"</feature>\n"
	"<feature name=\"org.mvm.gdb.x86.system\">\n"
	"<reg name=\"cr0\" bitsize=\"64\" type=\"int64\" group=\"system\"/>\n"
	"<reg name=\"cr2\" bitsize=\"64\" type=\"int64\" group=\"system\"/>\n"
	"<reg name=\"cr3\" bitsize=\"64\" type=\"int64\" group=\"system\"/>\n"
	"<reg name=\"cr4\" bitsize=\"64\" type=\"int64\" group=\"system\"/>\n"
	"<reg name=\"cr8\" bitsize=\"64\" type=\"int64\" group=\"system\"/>\n"
	"<reg name=\"efer\" bitsize=\"64\" type=\"int64\" group=\"system\"/>\n"
	"</feature>\n"
	"</target>\n";

/* Full tag of one register from its 80-bit value: 0 valid, 1 zero, 2 special. */
static unsigned ftag_of(const uint8_t v[10])
{
	unsigned exp = (unsigned)(v[9] & 0x7f) << 8 | v[8];
	bool mant_zero = true, integer = v[7] & 0x80;

	for (int i = 0; i < 8; i++)
		if (v[i])
			mant_zero = false;
	if (exp == 0x7fff)
		return 2;
	if (exp == 0)
		return mant_zero ? 1 : 2;
	return integer ? 0 : 2;
}

uint16_t gdb_ftag_full(uint8_t abridged, uint16_t fsw, const uint8_t st[8][10])
{
	unsigned top = (fsw >> 11) & 7;
	uint16_t full = 0;

	/* The tag word is per physical register; FXSAVE keeps st(i) = physical (top+i)&7. */
	for (unsigned p = 0; p < 8; p++) {
		unsigned tag = 3;

		if (abridged & (1u << p))
			tag = ftag_of(st[(p - top) & 7]);
		full |= (uint16_t)(tag << (2 * p));
	}
	return full;
}

uint8_t gdb_ftag_abridged(uint16_t full)
{
	uint8_t a = 0;

	for (unsigned p = 0; p < 8; p++)
		if (((full >> (2 * p)) & 3) != 3)
			a |= (uint8_t)(1u << p);
	return a;
}
