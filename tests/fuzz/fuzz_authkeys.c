/* Fuzzes the authorized_keys reader (authkeys_load, authkeys_count). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "authkeys.h"
#include "fuzz.h"


/* The file lives in a private directory: authkeys_load refuses one that
 * others can write to, as /tmp is. */
static char fz_dir[64], fz_path[96];

/* Remove the directory when the fuzzer exits. */
static void
fz_cleanup(void)
{
	unlink(fz_path);
	rmdir(fz_dir);
}

/* Write the input as the file, mode 0600. */
static void
fz_put(const uint8_t *data, size_t size)
{
	int fd;

	if (fz_dir[0] == '\0') {
		const char *tmp = getenv("TMPDIR");

		snprintf(fz_dir, sizeof fz_dir, "%s/persh-fuzz-XXXXXX",
		    tmp != NULL && *tmp != '\0' && strlen(tmp) < 40 ? tmp : "/tmp");
		if (mkdtemp(fz_dir) == NULL)
			abort();
		snprintf(fz_path, sizeof fz_path, "%s/authorized_keys", fz_dir);
		atexit(fz_cleanup);
	}
	fd = open(fz_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || (size > 0 && write(fd, data, size) != (ssize_t)size) || close(fd) == -1)
		abort();
}

/* Load the input as the file; the number of keys read. */
static size_t
fz_load(const uint8_t *data, size_t size)
{
	struct authkeys *ak;
	char err[256];
	size_t n;

	fz_put(data, size);
	if ((ak = authkeys_load(fz_path, err, sizeof err)) == NULL) {
		fprintf(stderr, "authkeys_load: %s\n", err);
		abort();
	}
	n = authkeys_count(ak);
	FZ_CHECK(authkeys_match(ak, NULL) == 0);
	authkeys_free(ak);
	return n;
}

/* One input: the whole file, then each of its lines alone (a few lines
 * only: each costs a load). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t keys, lines = 1, sum = 0;
	const uint8_t *p, *end = data + size, *nl;

	keys = fz_load(data, size);
	/* At most one key a line, and none from nothing. */
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	FZ_CHECK(keys <= lines && keys <= AUTHKEYS_MAX);
	FZ_CHECK(size > 0 || keys == 0);

	/* Nothing carries from one line to the next (a few lines only: each
	 * costs a load). */
	if (lines > 16 || lines == 1)
		return 0;
	for (p = data; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		sum += fz_load(p, (size_t)(nl - p));
	}
	FZ_CHECK(sum == keys);
	return 0;
}
