/* A session's output ring: the most recent bytes, numbered by 64-bit offsets.
 *
 * Offsets never wrap (2^64 bytes is centuries of output at PTY speed), so a
 * client's position is a plain number and "is it still here" is one compare.
 *
 * The buffer grows by doubling until it reaches the capacity, and only then
 * starts to wrap: an idle session that printed a prompt holds a few hundred
 * bytes, not a megabyte of touched pages. Until it wraps, a byte's offset is
 * its index in the buffer. */
#include "ring.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* First allocation; doubles from there. */
#define RING_START 512

struct ring {
	uint8_t *buf;
	size_t cap;   /* most bytes held */
	size_t alloc; /* bytes allocated: < cap only while the ring has never wrapped */
	uint64_t head;
};

/* An empty ring holding at most capacity bytes. */
struct ring *
ring_create(size_t capacity)
{
	struct ring *r = xcalloc(1, sizeof *r);

	r->cap = capacity ? capacity : 1;
	r->alloc = r->cap < RING_START ? r->cap : RING_START;
	r->buf = xmalloc(r->alloc);
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

/* Grow the buffer to size bytes (at most the capacity). */
static void
ring_grow(struct ring *r, size_t size)
{
	uint8_t *p = realloc(r->buf, size);

	if (p == NULL)
		abort();
	r->buf = p;
	r->alloc = size;
}

/* Contiguous space at the head for a direct read(). */
uint8_t *
ring_reserve(struct ring *r, size_t *len)
{
	size_t pos;

	if (r->alloc < r->cap) {
		if (r->head == r->alloc)
			ring_grow(r, r->alloc * 2 < r->cap ? r->alloc * 2 : r->cap);
		*len = r->alloc - (size_t)r->head;
		return r->buf + r->head;
	}
	pos = (size_t)(r->head % r->cap);
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
		/* Only the last cap bytes survive: the ring is full from now on. */
		if (r->alloc < r->cap)
			ring_grow(r, r->cap);
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
	if (r->alloc < r->cap) {
		*len = (size_t)(r->head - off);
		return r->buf + off;
	}
	pos = (size_t)(off % r->cap);
	run = r->cap - pos;
	if (run > r->head - off)
		run = (size_t)(r->head - off);
	*len = run;
	return r->buf + pos;
}
