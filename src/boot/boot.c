/* boot.c - kernel/initrd file reading, format detection and shared loader helpers. */
#include "boot/boot.h"
#include "core/layout.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BOOT_PAGE_MASK 0xfffULL
#define MIB            (1ULL << 20)

/* Whole file into a malloc'd buffer. The size cap is guest RAM: anything
 * larger can never be loaded, and refusing early avoids a huge allocation. */
static int boot_read_file(const char *path, const char *what, uint64_t cap,
			  uint8_t **buf, size_t *len)
{
	struct stat st;
	uint8_t *p = NULL;
	size_t done = 0;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		log_err("%s %s: cannot open: %s", what, path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		log_err("%s %s: cannot stat: %s", what, path, strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("%s %s: not a regular file", what, path);
		ret = -EINVAL;
		goto out;
	}
	if (st.st_size == 0) {
		log_err("%s %s: file is empty", what, path);
		ret = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > cap) {
		log_err("%s %s (%llu MiB) is larger than guest RAM (%llu MiB); give --mem more",
			what, path, (unsigned long long)((st.st_size + MIB - 1) / MIB),
			(unsigned long long)(cap / MIB));
		ret = -EINVAL;
		goto out;
	}
	p = malloc(st.st_size);
	if (!p) {
		ret = -ENOMEM;
		log_err("%s %s: cannot allocate %lld bytes to read it", what, path,
			(long long)st.st_size);
		goto out;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, p + done, st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			log_err("%s %s: read failed: %s", what, path, strerror(-ret));
			goto out;
		}
		if (n == 0) {
			log_err("%s %s: file shrank while being read (%zu of %lld bytes)",
				what, path, done, (long long)st.st_size);
			ret = -EIO;
			goto out;
		}
		done += n;
	}
	*buf = p;
	*len = done;
	p = NULL;
out:
	free(p);
	close(fd);
	return ret;
}

static int boot_is_bzimage(const uint8_t *img, size_t len)
{
	return len >= 0x206 && memcmp(img + 0x202, "HdrS", 4) == 0;
}

static int boot_is_elf(const uint8_t *img, size_t len)
{
	return len >= 4 && memcmp(img, "\x7f" "ELF", 4) == 0;
}

int boot_load(const struct gmem *m, const struct boot_cfg *cfg, struct boot_entry *out)
{
	uint8_t *kernel = NULL, *initrd = NULL;
	size_t kernel_len = 0, initrd_len = 0;
	int ret;

	if (!cfg->kernel_path || !cfg->cmdline) {
		log_err("boot: no kernel path or command line given");
		return -EINVAL;
	}
	ret = boot_read_file(cfg->kernel_path, "kernel", m->ram_size, &kernel, &kernel_len);
	if (ret)
		return ret;
	if (cfg->initrd_path) {
		ret = boot_read_file(cfg->initrd_path, "initrd", m->ram_size, &initrd,
				     &initrd_len);
		if (ret)
			goto out;
	}

	if (boot_is_bzimage(kernel, kernel_len)) {
		ret = bzimage_load(m, kernel, kernel_len, cfg->kernel_path, initrd, initrd_len,
				   cfg, out);
	} else if (boot_is_elf(kernel, kernel_len)) {
		ret = pvh_load(m, kernel, kernel_len, cfg->kernel_path, initrd, initrd_len,
			       cfg, out);
	} else {
		log_err("%s: not a bzImage or ELF vmlinux (no HdrS magic at 0x202, no ELF magic)",
			cfg->kernel_path);
		ret = -EINVAL;
	}
out:
	free(kernel);
	free(initrd);
	return ret;
}

static void boot_fmt_size(char *buf, size_t n, uint64_t bytes)
{
	if (bytes >= MIB)
		snprintf(buf, n, "%llu MiB", (unsigned long long)((bytes + MIB - 1) / MIB));
	else
		snprintf(buf, n, "%llu bytes", (unsigned long long)bytes);
}

int boot_place_initrd(const struct gmem *m, const struct boot_cfg *cfg, size_t len,
		      uint64_t floor, uint64_t top, const char *limit_name, uint64_t limit,
		      uint64_t *gpa)
{
	const char *name = cfg->initrd_path ? cfg->initrd_path : "initrd";
	uint64_t low_end = gmem_low_end(m), addr;
	char size[32];

	if (top > low_end)
		top = low_end;
	/* Round the start down, never the end up: the end must stay <= top. */
	if (len <= top && ((top - len) & ~BOOT_PAGE_MASK) >= floor) {
		addr = (top - len) & ~BOOT_PAGE_MASK;
		if (gmem_ptr(m, addr, len)) {
			*gpa = addr;
			return 0;
		}
	}
	boot_fmt_size(size, sizeof(size), len);
	log_err("%s (%s) does not fit below %s 0x%llx and above the kernel's end 0x%llx in "
		"%llu MiB of RAM; give --mem more", name, size, limit_name,
		(unsigned long long)limit, (unsigned long long)floor,
		(unsigned long long)(m->ram_size / MIB));
	return -EINVAL;
}

int boot_check_cmdline(const struct boot_cfg *cfg, const char *name, uint64_t max_len,
		       const char *limit_name)
{
	size_t len = strlen(cfg->cmdline);

	if (len > max_len) {
		log_err("%s: command line is %zu bytes, longer than %s %llu", name, len,
			limit_name, (unsigned long long)max_len);
		return -EINVAL;
	}
	if (len + 1 > LAYOUT_CMDLINE_MAX) {
		log_err("%s: command line is %zu bytes, longer than mvm's limit of %llu",
			name, len, (unsigned long long)(LAYOUT_CMDLINE_MAX - 1));
		return -EINVAL;
	}
	return 0;
}

int boot_write_cmdline(const struct gmem *m, const struct boot_cfg *cfg)
{
	int ret = gmem_write(m, LAYOUT_CMDLINE, cfg->cmdline, strlen(cfg->cmdline) + 1);

	if (ret)
		log_err("boot: cannot write the command line at 0x%llx",
			(unsigned long long)LAYOUT_CMDLINE);
	return ret;
}
