/* A session's output ring: the most recent bytes, numbered by 64-bit offsets.
 *
 * Offsets never wrap (2^64 bytes is centuries of output at PTY speed), so a
 * client's position is a plain number and "is it still here" is one compare. */
#include "ring.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct ring {
	uint8_t *buf;
	size_t cap;
	uint64_t head;
};

/* An empty ring holding at most capacity bytes. */
struct ring *
ring_create(size_t capacity)
{
	struct ring *r = xcalloc(1, sizeof *r);

	r->cap = capacity ? capacity : 1;
	r->buf = xmalloc(r->cap);
	return r;
}

/* Release the ring. */
void
ring_free(struct ring *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	free(r);
}

/* Bytes the ring can hold. */
size_t
ring_capacity(const struct ring *r)
{
	return r->cap;
}

/* Offset of the next byte to be written. */
uint64_t
ring_head(const struct ring *r)
{
	return r->head;
}

/* Oldest offset still held. */
uint64_t
ring_tail(const struct ring *r)
{
	return r->head > r->cap ? r->head - r->cap : 0;
}

/* Contiguous space at the head for a direct read(). */
uint8_t *
ring_reserve(struct ring *r, size_t *len)
{
	size_t pos = (size_t)(r->head % r->cap);

	*len = r->cap - pos;
	return r->buf + pos;
}

/* Account for n bytes written at ring_reserve's pointer. */
void
ring_commit(struct ring *r, size_t n)
{
	r->head += n;
}

/* Copy bytes in, overwriting the oldest; only the last cap bytes matter. */
void
ring_append(struct ring *r, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (len > r->cap) {
		r->head += len - r->cap;
		p += len - r->cap;
		len = r->cap;
	}
	while (len > 0) {
		size_t room;
		uint8_t *dst = ring_reserve(r, &room);
		size_t n = len < room ? len : room;

		memcpy(dst, p, n);
		ring_commit(r, n);
		p += n;
		len -= n;
	}
}

/* The contiguous run of bytes held from off. */
const uint8_t *
ring_peek(const struct ring *r, uint64_t off, size_t *len)
{
	size_t pos, run;

	if (off < ring_tail(r) || off >= r->head) {
		*len = 0;
		return NULL;
	}
	pos = (size_t)(off % r->cap);
	run = r->cap - pos;
	if (run > r->head - off)
		run = (size_t)(r->head - off);
	*len = run;
	return r->buf + pos;
}
