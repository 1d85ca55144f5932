/* Fuzzes the INI configuration: load, validate, dump, and the dump loaded back. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"


/* The file config_load reads: a memfd, named by its /proc path, so that
 * nothing is written to disk. */
static int fz_fd = -1;
static char fz_path[64];

/* Make the file hold exactly len bytes of data. */
static void
fz_put(const void *data, size_t len)
{
	if (fz_fd == -1) {
		if ((fz_fd = memfd_create("persh-fuzz-config", MFD_CLOEXEC)) == -1)
			abort();
		snprintf(fz_path, sizeof fz_path, "/proc/self/fd/%d", fz_fd);
	}
	if (ftruncate(fz_fd, 0) == -1 ||
	    (len > 0 && pwrite(fz_fd, data, len, 0) != (ssize_t)len))
		abort();
}

/* A failed load or check says why, in one line that fits the buffer. */
static void
fz_error_line(const char *err, size_t cap)
{
	FZ_CHECK(memchr(err, '\0', cap) != NULL && err[0] != '\0');
	FZ_CHECK(strchr(err, '\n') == NULL);
}

/* config_dump into a malloc'd string. */
static char *
fz_dump(const struct config *cfg, size_t *len)
{
	char *s = NULL;
	FILE *fp = open_memstream(&s, len);

	if (fp == NULL)
		abort();
	config_dump(cfg, fp);
	if (fclose(fp) != 0)
		abort();
	return s;
}

/* The value parsers on the input as one string: what parses formats to
 * something that parses to the same value. */
static void
fz_values(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size), buf[64], host[256];
	uint64_t bytes, bytes2;
	int64_t ms, ms2;
	unsigned port;
	int key, key2;

	if (s == NULL)
		abort();
	if (config_parse_duration(s, &ms) == 0) {
		FZ_CHECK(ms >= 0 || ms == CONFIG_NEVER);
		config_format_duration(ms, buf, sizeof buf);
		FZ_CHECK(config_parse_duration(buf, &ms2) == 0 && ms2 == ms);
	}
	if (config_parse_size(s, &bytes) == 0) {
		config_format_size(bytes, buf, sizeof buf);
		FZ_CHECK(config_parse_size(buf, &bytes2) == 0 && bytes2 == bytes);
	}
	if (config_parse_key(s, &key) == 0) {
		FZ_CHECK(key == -1 || (key >= 0 && key <= 0x7f));
		config_format_key(key, buf, sizeof buf);
		FZ_CHECK(config_parse_key(buf, &key2) == 0 && key2 == key);
	}
	if (config_parse_addr(s, host, sizeof host, &port) == 0)
		FZ_CHECK(port >= 1 && port <= 65535 && host[0] != '\0' && strlen(host) < sizeof host);
	free(s);
}

/* One input: the file, whose dump must load back to the same dump; and
 * the same bytes as one value for each value parser. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = config_new(), *again;
	char err[512], *d1, *d2;
	size_t n1, n2;

	fz_values(data, size);
	fz_put(data, size);
	memset(err, 'x', sizeof err);
	if (config_load(cfg, fz_path, err, sizeof err) == -1) {
		fz_error_line(err, sizeof err);
		config_free(cfg);
		return 0;
	}
	/* What loaded passed the same checks. */
	FZ_CHECK(config_validate(cfg, err, sizeof err) == 0);

	/* The dump reads back to the same configuration: its own dump. */
	d1 = fz_dump(cfg, &n1);
	fz_put(d1, n1);
	again = config_new();
	if (config_load(again, fz_path, err, sizeof err) == -1) {
		fprintf(stderr, "the dump does not load: %s\n%s", err, d1);
		abort();
	}
	d2 = fz_dump(again, &n2);
	FZ_CHECK(n1 == n2 && memcmp(d1, d2, n1) == 0);
	free(d1);
	free(d2);
	config_free(again);
	config_free(cfg);
	return 0;
}
