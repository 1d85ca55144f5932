/* What every fuzz target shares: libFuzzer's entry point (also called by
 * replay.c) and the check that stops on a broken invariant. */
#ifndef PERSH_FUZZ_H
#define PERSH_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant that only a bug breaks: stop with the line that failed. */
#define FZ_CHECK(x) do {                                                    \
	if (!(x)) {                                                         \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x); \
		abort();                                                    \
	}                                                                   \
} while (0)

#endif
