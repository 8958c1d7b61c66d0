/* cmdline.c - key=value lookup in the command line mvm passes in the boot info. */
#include "mvm_guest.h"

int mvm_cmdline_get(const struct mvm_bootinfo *bi, const char *key, char *buf, size_t size)
{
	const char *p = (const char *)(uintptr_t)bi->cmdline;
	size_t klen = strlen(key);

	if (!p || !size)
		return -1;
	while (*p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			size_t n = 0;

			p += klen + 1;
			while (p[n] && p[n] != ' ' && n + 1 < size) {
				buf[n] = p[n];
				n++;
			}
			buf[n] = '\0';
			return 0;
		}
		while (*p && *p != ' ')
			p++;
	}
	return -1;
}

uint64_t mvm_cmdline_u64(const struct mvm_bootinfo *bi, const char *key, uint64_t def)
{
	char v[32], *p = v;
	unsigned base = 10;
	uint64_t n = 0;

	if (mvm_cmdline_get(bi, key, v, sizeof(v)) || !*v)
		return def;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (!*p)
		return def;
	for (; *p; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && (*p | 0x20) >= 'a' && (*p | 0x20) <= 'f')
			d = (*p | 0x20) - 'a' + 10;
		else
			return def;
		n = n * base + d;
	}
	return n;
}
