/* One end of a resumable relay stream: unacknowledged bytes in a bounded
 * buffer, and the received count with its acknowledgements.
 *
 * The buffer is circular over [acked, end), so acknowledging is moving one
 * index. It starts small and doubles up to the capacity as the bytes in
 * flight grow: an idle interactive stream holds a few KiB, not the 8 MiB a
 * bulk transfer may fill, and stream_trim gives that back once it is all
 * acknowledged. Offsets are 64-bit and never wrap. */
#include "stream.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* First allocation: one full data frame, so reads are never tiny. */
#define STREAM_START 65536

struct stream {
	uint8_t *buf;
	size_t cap;   /* most bytes held */
	size_t alloc; /* bytes allocated, at most cap */
	size_t start; /* index of the byte at offset acked */
	uint64_t acked, next, end;
	uint64_t received, ack_sent;
	int source_closed, peer_closed;
};

/* A stream holding at most cap unacknowledged bytes. */
struct stream *
stream_new(size_t cap)
{
	struct stream *s = xcalloc(1, sizeof *s);

	s->cap = cap > 0 ? cap : 1;
	s->alloc = s->cap < STREAM_START ? s->cap : STREAM_START;
	s->buf = xmalloc(s->alloc);
	return s;
}

/* Release it. */
void
stream_free(struct stream *s)
{
	if (s == NULL)
		return;
	free(s->buf);
	free(s);
}

/* Oldest byte held: everything before it was acknowledged. */
uint64_t
stream_acked(const struct stream *s)
{
	return s->acked;
}

/* Next byte to go out on the current link. */
uint64_t
stream_next(const struct stream *s)
{
	return s->next;
}

/* Offset of the next byte from the source: how many it gave. */
uint64_t
stream_end(const struct stream *s)
{
	return s->end;
}

/* Bytes held. */
static size_t
stream_held(const struct stream *s)
{
	return (size_t)(s->end - s->acked);
}

/* Bytes the source may still add. */
size_t
stream_room(const struct stream *s)
{
	return s->source_closed ? 0 : s->cap - stream_held(s);
}

/* Reallocate to size bytes with the held bytes first. */
static void
stream_resize(struct stream *s, size_t size)
{
	size_t held = stream_held(s), first;
	uint8_t *p = xmalloc(size);

	first = s->alloc - s->start < held ? s->alloc - s->start : held;
	memcpy(p, s->buf + s->start, first);
	memcpy(p + first, s->buf, held - first);
	free(s->buf);
	s->buf = p;
	s->alloc = size;
	s->start = 0;
}

/* Contiguous room at the end, growing the buffer when it is full but the
 * capacity allows more. */
uint8_t *
stream_reserve(struct stream *s, size_t *len)
{
	size_t held = stream_held(s), idx;

	if (stream_room(s) == 0) {
		*len = 0;
		return NULL;
	}
	if (held == s->alloc)
		stream_resize(s, s->alloc * 2 < s->cap ? s->alloc * 2 : s->cap);
	idx = (s->start + held) % s->alloc;
	*len = idx >= s->start ? s->alloc - idx : s->start - idx;
	/* At idx == start with bytes held the buffer is full: handled above. */
	return s->buf + idx;
}

/* Take n bytes written at stream_reserve's pointer. */
void
stream_commit(struct stream *s, size_t n)
{
	s->end += n;
}

/* Copy in what fits. */
size_t
stream_append(struct stream *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0;

	while (done < len) {
		size_t room, n;
		uint8_t *dst = stream_reserve(s, &room);

		if (dst == NULL)
			break;
		n = len - done < room ? len - done : room;
		memcpy(dst, p + done, n);
		stream_commit(s, n);
		done += n;
	}
	return done;
}

/* The contiguous run of unsent bytes from next. */
const uint8_t *
stream_pending(const struct stream *s, size_t *len)
{
	size_t idx, run;

	if (s->next == s->end) {
		*len = 0;
		return NULL;
	}
	idx = (s->start + (size_t)(s->next - s->acked)) % s->alloc;
	run = s->alloc - idx;
	if (run > s->end - s->next)
		run = (size_t)(s->end - s->next);
	*len = run;
	return s->buf + idx;
}

/* n more bytes went out. */
void
stream_sent(struct stream *s, size_t n)
{
	if (n > s->end - s->next)
		n = (size_t)(s->end - s->next);
	s->next += n;
}

/* Drop everything before off (acked <= off <= end, checked by callers). */
static void
stream_drop(struct stream *s, uint64_t off)
{
	s->start = (s->start + (size_t)(off - s->acked)) % s->alloc;
	s->acked = off;
	if (s->acked == s->end)
		s->start = 0; /* empty: reads get the longest run */
}

/* The other end has every byte before off. Only bytes sent on this link
 * can be acknowledged on it: anything else is a broken or forged peer. */
int
stream_ack(struct stream *s, uint64_t off)
{
	if (off < s->acked || off > s->next)
		return -1;
	stream_drop(s, off);
	return 0;
}

/* A new link: resend everything from off, which the other end lacks. */
int
stream_rewind(struct stream *s, uint64_t off)
{
	if (off < s->acked || off > s->end)
		return -1;
	stream_drop(s, off);
	s->next = off;
	return 0;
}

/* Shrink back to the first allocation when nothing is held. */
void
stream_trim(struct stream *s)
{
	size_t small = s->cap < STREAM_START ? s->cap : STREAM_START;

	if (stream_held(s) == 0 && s->alloc > small)
		stream_resize(s, small);
}

/* No more bytes from the source. */
void
stream_close_source(struct stream *s)
{
	s->source_closed = 1;
}

/* The source has ended. */
int
stream_source_closed(const struct stream *s)
{
	return s->source_closed;
}

/* The end-of-stream mark may go out: every byte is sent. */
int
stream_eof_due(const struct stream *s)
{
	return s->source_closed && s->next == s->end;
}

/* Bytes received from the other end, in order. */
uint64_t
stream_received(const struct stream *s)
{
	return s->received;
}

/* n more bytes arrived. */
void
stream_receive(struct stream *s, size_t n)
{
	s->received += n;
}

/* Enough arrived since the last acknowledgement that one is owed now. */
int
stream_ack_due(const struct stream *s)
{
	return s->received - s->ack_sent >= STREAM_ACK_EVERY;
}

/* Something arrived since the last acknowledgement. */
int
stream_ack_new(const struct stream *s)
{
	return s->received != s->ack_sent;
}

/* The offset to acknowledge now. */
uint64_t
stream_ack_take(struct stream *s)
{
	s->ack_sent = s->received;
	return s->received;
}

/* The other end's source ended at off. */
int
stream_peer_eof(struct stream *s, uint64_t off)
{
	if (off != s->received)
		return -1;
	s->peer_closed = 1;
	return 0;
}

/* The other end's source has ended. */
int
stream_peer_closed(const struct stream *s)
{
	return s->peer_closed;
}

/* Both ways finished. */
int
stream_done(const struct stream *s)
{
	return s->source_closed && s->acked == s->end && s->peer_closed;
}
