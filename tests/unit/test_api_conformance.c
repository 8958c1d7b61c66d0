/* test_api_conformance.c - every row of tests/api/conformance.tsv through the HTTP parser and
 * api_route(), before InstanceStart: the status each answer has, against the table's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/fc_config.h"
#include "api/server.h"
#include "util/log.h"

#define TABLE "tests/api/conformance.tsv"
#define LINE_MAX_LEN 2048

struct row {
	int line;
	int fc, mvm;
	char *method, *path, *body, *want, *note;
};

struct conf {
	char dir[64], file[96], missing[96];
	struct vm_config cfg;
	struct api_vmm vmm;
	int rows, scenarios, ext, no, failures;
};

static void quiet(enum log_level l, const char *m, void *c)
{
}

/* InstanceStart and snapshot loads cannot happen without KVM: the table's rows for them are
 * refused before these are reached, and these make sure of it. */
static int fake_start(struct api_vmm *a, char *err, size_t errlen)
{
	snprintf(err, errlen, "the unit test has no VM to start");
	return -ENODEV;
}

static int fake_restore(struct api_vmm *a, const struct api_snapshot_load *req, char *err,
			size_t errlen)
{
	snprintf(err, errlen, "the unit test has no VM to restore");
	return -ENOENT;
}

static FILE *open_table(void)
{
	const char *root = getenv("MVM_ROOT");
	char path[512];
	FILE *f = fopen(TABLE, "r");

	if (!f && root) {
		snprintf(path, sizeof(path), "%s/" TABLE, root);
		f = fopen(path, "r");
	}
	return f;
}

/* Replace every @FILE@, @DIR@ and @MISSING@ of s into out. */
static void expand(const struct conf *c, const char *s, char *out, size_t len)
{
	static const char *const keys[] = { "@FILE@", "@DIR@", "@MISSING@" };
	const char *vals[] = { c->file, c->dir, c->missing };
	size_t n = 0;

	while (*s && n + 1 < len) {
		size_t i;

		for (i = 0; i < 3; i++)
			if (!strncmp(s, keys[i], strlen(keys[i])))
				break;
		if (i < 3) {
			n += (size_t)snprintf(out + n, len - n, "%s", vals[i]);
			s += strlen(keys[i]);
		} else {
			out[n++] = *s++;
		}
	}
	out[n < len ? n : len - 1] = 0;
}

static void new_scenario(struct conf *c)
{
	vm_config_release(&c->cfg);
	fc_config_defaults(&c->cfg);
	memset(&c->vmm, 0, sizeof(c->vmm));
	c->vmm.cfg = &c->cfg;
	c->vmm.start = fake_start;
	c->vmm.restore = fake_restore;
	c->scenarios++;
}

/* Split a table line into its seven fields, in place; false if it has not seven. */
static bool split(char *line, char *f[7])
{
	int n = 1;

	f[0] = line;
	for (char *p = line; *p; p++)
		if (*p == '\t') {
			*p = 0;
			if (n == 7)
				return false;
			f[n++] = p + 1;
		}
	return n == 7;
}

static void run_row(struct conf *c, const struct row *r)
{
	char body[LINE_MAX_LEN], want[LINE_MAX_LEN], raw[LINE_MAX_LEN * 2];
	struct api_response resp = { 0 };
	struct http_request req;
	size_t blen = 0;
	int n;

	if (strcmp(r->body, "-")) {
		expand(c, r->body, body, sizeof(body));
		blen = strlen(body);
	}
	if (blen)
		n = snprintf(raw, sizeof(raw), "%s %s HTTP/1.1\r\nHost: localhost\r\n"
			     "Content-Length: %zu\r\n\r\n%s", r->method, r->path, blen, body);
	else
		n = snprintf(raw, sizeof(raw), "%s %s HTTP/1.1\r\nHost: localhost\r\n\r\n",
			     r->method, r->path);
	assert_true(n > 0 && (size_t)n < sizeof(raw));
	memset(&req, 0, sizeof(req));
	if (http_parse_request(raw, (size_t)n, &req)) {
		print_error("%s:%d: %s %s: the HTTP parser refused it: %s\n", TABLE, r->line,
			    r->method, r->path, req.error ? req.error : "?");
		c->failures++;
		return;
	}
	api_route(&c->vmm, &req, &resp);
	if (resp.status != r->mvm) {
		print_error("%s:%d: %s %s %s: got %d, the table says %d (%s)\n   answer: %s\n", TABLE,
			    r->line, r->method, r->path, r->body, resp.status, r->mvm, r->note,
			    resp.body ? resp.body : "(none)");
		c->failures++;
	} else if (resp.status >= 400 && (!resp.body || !strstr(resp.body, "\"fault_message\""))) {
		print_error("%s:%d: %s %s: %d without a fault_message\n", TABLE, r->line, r->method,
			    r->path, resp.status);
		c->failures++;
	} else if (strcmp(r->want, "-")) {
		expand(c, r->want, want, sizeof(want));
		if (!resp.body || !strstr(resp.body, want)) {
			print_error("%s:%d: %s %s %s: the answer lacks '%s'\n   answer: %s\n", TABLE,
				    r->line, r->method, r->path, r->body, want,
				    resp.body ? resp.body : "(none)");
			c->failures++;
		}
	}
	free(resp.body);
	c->rows++;
}

/* A difference from Firecracker must say which kind it is. */
static void check_difference(struct conf *c, const struct row *r)
{
	if (r->fc == r->mvm)
		return;
	if (!strncmp(r->note, "ext:", 4) && r->mvm < 300 && r->fc >= 400) {
		c->ext++;
		return;
	}
	if (!strncmp(r->note, "no:", 3) && r->mvm >= 400 && r->fc < 300) {
		c->no++;
		return;
	}
	print_error("%s:%d: mvm %d where Firecracker answers %d, and the note does not say why "
		    "(\"ext: ...\" for more accepted, \"no: ...\" for a missing feature)\n", TABLE,
		    r->line, r->mvm, r->fc);
	c->failures++;
}

static void test_conformance_table(void **state)
{
	struct conf *c = calloc(1, sizeof(*c));
	char line[LINE_MAX_LEN], *f[7];
	FILE *t = open_table();
	int lineno = 0;

	assert_non_null(c);
	if (!t)
		fail_msg("cannot open %s (run from the tree's root, or set MVM_ROOT)", TABLE);
	snprintf(c->dir, sizeof(c->dir), "/tmp/mvm-conf-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->file, sizeof(c->file), "%s/file.img", c->dir);
	snprintf(c->missing, sizeof(c->missing), "%s/no-such-file", c->dir);
	FILE *img = fopen(c->file, "w");

	assert_non_null(img);
	fputs("not a kernel, but a regular file that exists\n", img);
	fclose(img);
	log_set_sink(quiet, NULL);
	fc_config_defaults(&c->cfg);
	while (fgets(line, sizeof(line), t)) {
		struct row r = { .line = ++lineno };
		size_t len = strlen(line);

		if (len && line[len - 1] == '\n')
			line[--len] = 0;
		if (!len || line[0] == '#')
			continue;
		if (line[0] == '=') {
			new_scenario(c);
			continue;
		}
		if (!split(line, f)) {
			print_error("%s:%d: not seven tab-separated fields\n", TABLE, lineno);
			c->failures++;
			continue;
		}
		r.fc = atoi(f[0]);
		r.mvm = atoi(f[1]);
		r.method = f[2], r.path = f[3], r.body = f[4], r.want = f[5], r.note = f[6];
		check_difference(c, &r);
		run_row(c, &r);
	}
	fclose(t);
	log_set_sink(NULL, NULL);
	print_message("%d rows in %d scenarios; %d extensions, %d missing features, %d failures\n",
		      c->rows, c->scenarios, c->ext, c->no, c->failures);
	unlink(c->file);
	rmdir(c->dir);
	vm_config_release(&c->cfg);
	assert_true(c->rows > 100);
	assert_int_equal(c->failures, 0);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conformance_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
