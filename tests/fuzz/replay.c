/* A main for the fuzz targets without libFuzzer: runs LLVMFuzzerTestOneInput
 * once on each file named, and on each file in each directory named, so
 * that the committed corpus and its crash regressions run with any
 * compiler in every pass of the test suite. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Run the target on one file; -1 if it cannot be read. */
static int
replay_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	FILE *fp;
	size_t n;

	if ((fp = fopen(path, "rb")) == NULL || fstat(fileno(fp), &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (fp != NULL)
			fclose(fp);
		return -1;
	}
	/* Exactly the input's size, so that ASan sees a read past its end. */
	n = (size_t)st.st_size;
	if ((buf = malloc(n > 0 ? n : 1)) == NULL)
		abort();
	if (fread(buf, 1, n, fp) != n) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(buf);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	/* Named before it runs: a crash report then says which input. */
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

/* Order directory entries by name, for runs that repeat exactly. */
static int
replay_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Skip dot files (an editor's, or git's). */
static int
replay_visible(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Run the target on every regular file of a directory; the count, or -1. */
static int
replay_dir(const char *dir)
{
	struct dirent **names;
	char path[4096];
	struct stat st;
	int n, ran = 0, failed = 0;

	if ((n = scandir(dir, &names, replay_visible, replay_cmp)) == -1) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path) == -1)
				failed = 1;
			else
				ran++;
		}
		free(names[i]);
	}
	free(names);
	return failed ? -1 : ran;
}

/* Replay every input named; fail on an unreadable one or on none at all,
 * so that a wrong path cannot pass as an empty corpus. */
int
main(int argc, char **argv)
{
	struct stat st;
	int total = 0, n;

	for (int i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			n = replay_dir(argv[i]);
		else
			n = replay_file(argv[i]) == 0 ? 1 : -1;
		if (n == -1)
			return 1;
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "replay: no inputs\n");
		return 1;
	}
	fprintf(stderr, "replay: %d inputs, no crash\n", total);
	return 0;
}
