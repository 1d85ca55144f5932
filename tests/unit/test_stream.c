/* The relay stream's bookkeeping: offsets and acknowledgements at the
 * buffer's boundaries, replay from any acknowledged point, a full buffer
 * pushing back, the end-of-stream marks. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

/* Byte i of the test sequence: not periodic in any power of two, so a
 * byte from the wrong offset shows. */
static uint8_t
pattern(uint64_t i)
{
	return (uint8_t)((i * 7919 + i / 251) & 0xff);
}

/* Push len pattern bytes from offset end(s); returns how many went in. */
static size_t
push(struct stream *s, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	uint64_t base = stream_end(s);
	size_t n;

	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(base + i);
	n = stream_append(s, buf, len);
	free(buf);
	return n;
}

/* Take up to max pending bytes as the link would, checking each against
 * the pattern at its offset; returns how many. */
static size_t
drain(struct stream *s, size_t max)
{
	size_t total = 0;

	while (total < max) {
		size_t len;
		const uint8_t *p = stream_pending(s, &len);
		uint64_t off = stream_next(s);

		if (p == NULL)
			break;
		if (len > max - total)
			len = max - total;
		for (size_t i = 0; i < len; i++)
			cr_assert_eq(p[i], pattern(off + i), "byte at offset %llu",
			    (unsigned long long)(off + i));
		stream_sent(s, len);
		total += len;
	}
	return total;
}

Test(stream, empty)
{
	struct stream *s = stream_new(1000);
	size_t len = 99;

	cr_assert_eq(stream_acked(s), 0);
	cr_assert_eq(stream_next(s), 0);
	cr_assert_eq(stream_end(s), 0);
	cr_assert_eq(stream_room(s), 1000);
	cr_assert_null(stream_pending(s, &len));
	cr_assert_eq(len, 0);
	cr_assert_eq(stream_ack(s, 0), 0, "acknowledging nothing is fine");
	cr_assert_eq(stream_ack(s, 1), -1, "nothing was sent");
	cr_assert_eq(stream_rewind(s, 0), 0);
	cr_assert_eq(stream_rewind(s, 1), -1);
	cr_assert(!stream_done(s));
	stream_free(s);
	stream_free(NULL);
}

Test(stream, full_buffer_pushes_back)
{
	struct stream *s = stream_new(100000);
	size_t len;

	cr_assert_eq(push(s, 60000), 60000);
	cr_assert_eq(stream_room(s), 40000);
	/* Only what fits goes in: never dropped, never grown past cap. */
	cr_assert_eq(push(s, 50000), 40000);
	cr_assert_eq(stream_room(s), 0);
	cr_assert_eq(stream_end(s), 100000);
	cr_assert_null(stream_reserve(s, &len));
	cr_assert_eq(len, 0);
	cr_assert_eq(push(s, 1), 0);
	/* Sending frees nothing: the bytes are held until acknowledged. */
	cr_assert_eq(drain(s, 100000), 100000);
	cr_assert_eq(stream_room(s), 0);
	cr_assert_eq(stream_ack(s, 1), 0);
	cr_assert_eq(stream_room(s), 1);
	cr_assert_eq(push(s, 5), 1);
	cr_assert_eq(stream_ack(s, 100001), -1, "byte 100000 is not sent yet");
	cr_assert_eq(drain(s, 10), 1);
	cr_assert_eq(stream_ack(s, 100001), 0);
	cr_assert_eq(stream_room(s), 100000);
	cr_assert_eq(stream_acked(s), 100001);
	stream_free(s);
}

Test(stream, reserve_commit_in_place)
{
	struct stream *s = stream_new(200000);
	uint64_t total = 0;

	/* Fill through reserve/commit as a read() would, with odd sizes that
	 * cross every wrap and growth boundary, acknowledging as we go. */
	for (int round = 0; round < 400; round++) {
		size_t len, n;
		uint8_t *p = stream_reserve(s, &len);

		if (p != NULL) {
			n = len < 7777 ? len : 7777;
			for (size_t i = 0; i < n; i++)
				p[i] = pattern(total + i);
			stream_commit(s, n);
			total += n;
		}
		drain(s, 5000);
		cr_assert_eq(stream_ack(s, stream_next(s) - (stream_next(s) - stream_acked(s)) / 2),
		    0);
		cr_assert_leq(stream_end(s) - stream_acked(s), 200000);
	}
	cr_assert_eq(stream_end(s), total);
	drain(s, SIZE_MAX);
	cr_assert_eq(stream_next(s), total);
	stream_free(s);
}

Test(stream, ack_bounds)
{
	struct stream *s = stream_new(1 << 20);

	push(s, 1000);
	drain(s, 600);
	cr_assert_eq(stream_ack(s, 601), -1, "past what was sent");
	cr_assert_eq(stream_ack(s, 600), 0, "exactly what was sent");
	cr_assert_eq(stream_ack(s, 600), 0, "repeated");
	cr_assert_eq(stream_ack(s, 599), -1, "backwards");
	cr_assert_eq(stream_acked(s), 600);
	cr_assert_eq(stream_ack(s, UINT64_MAX), -1);
	stream_free(s);
}

Test(stream, replay_from_every_acked_point)
{
	const size_t cap = 70000, total = 65536 + 3000;

	/* For every point the other end may report, a rewind must send again
	 * exactly the bytes from there, whatever the buffer's layout. */
	for (uint64_t acked = 0; acked <= 5000; acked += 1237) {
		for (uint64_t at = acked; at <= total; at += 4111) {
			struct stream *s = stream_new(cap);
			size_t got;

			/* Wrap the circular buffer first. */
			push(s, 50000);
			drain(s, 50000);
			cr_assert_eq(stream_ack(s, 50000), 0);
			push(s, total);
			drain(s, 12345);
			cr_assert_eq(stream_ack(s, 50000 + acked), 0);
			cr_assert_eq(stream_rewind(s, 50000 + at), 0, "acked %llu at %llu",
			    (unsigned long long)acked, (unsigned long long)at);
			cr_assert_eq(stream_acked(s), 50000 + at);
			cr_assert_eq(stream_next(s), 50000 + at);
			got = drain(s, SIZE_MAX);
			cr_assert_eq(got, total - at);
			stream_free(s);
		}
	}
}

Test(stream, rewind_bounds_and_resend_twice)
{
	struct stream *s = stream_new(1 << 16);

	push(s, 1000);
	drain(s, 1000);
	cr_assert_eq(stream_ack(s, 300), 0);
	cr_assert_eq(stream_rewind(s, 299), -1, "before what is held");
	cr_assert_eq(stream_rewind(s, 1001), -1, "past the end");
	cr_assert_eq(stream_acked(s), 300, "a refused rewind changes nothing");
	cr_assert_eq(stream_next(s), 1000);
	/* A link that dies again before anything is acknowledged replays the
	 * same bytes again. */
	cr_assert_eq(stream_rewind(s, 400), 0);
	cr_assert_eq(drain(s, 100), 100);
	cr_assert_eq(stream_rewind(s, 400), 0);
	cr_assert_eq(drain(s, SIZE_MAX), 600);
	cr_assert_eq(stream_rewind(s, 1000), 0, "the other end has it all");
	cr_assert_eq(drain(s, SIZE_MAX), 0);
	stream_free(s);
}

Test(stream, growth_keeps_bytes_across_wrap)
{
	struct stream *s = stream_new(1 << 20);

	/* Wrap the first allocation, then make it grow while wrapped. */
	push(s, 60000);
	drain(s, 60000);
	stream_ack(s, 60000);
	push(s, 30000);
	cr_assert_eq(push(s, 200000), 200000);
	cr_assert_eq(drain(s, SIZE_MAX), 230000);
	cr_assert_eq(stream_rewind(s, 61000), 0);
	cr_assert_eq(drain(s, SIZE_MAX), 229000);
	/* Trimming happens only once all is acknowledged. */
	stream_trim(s);
	cr_assert_eq(stream_rewind(s, 290000), 0);
	stream_trim(s);
	cr_assert_eq(push(s, 100), 100);
	cr_assert_eq(drain(s, SIZE_MAX), 100);
	stream_free(s);
}

Test(stream, tiny_capacity)
{
	struct stream *s = stream_new(3);

	cr_assert_eq(push(s, 10), 3);
	cr_assert_eq(drain(s, SIZE_MAX), 3);
	cr_assert_eq(stream_ack(s, 2), 0);
	cr_assert_eq(push(s, 10), 2);
	cr_assert_eq(drain(s, SIZE_MAX), 2);
	cr_assert_eq(stream_end(s), 5);
	stream_free(s);
}

Test(stream, receive_and_ack_pacing)
{
	struct stream *s = stream_new(1024);

	cr_assert(!stream_ack_new(s));
	stream_receive(s, STREAM_ACK_EVERY - 1);
	cr_assert(stream_ack_new(s));
	cr_assert(!stream_ack_due(s), "one byte short of the threshold");
	stream_receive(s, 1);
	cr_assert(stream_ack_due(s));
	cr_assert_eq(stream_ack_take(s), STREAM_ACK_EVERY);
	cr_assert(!stream_ack_due(s));
	cr_assert(!stream_ack_new(s));
	stream_receive(s, 10);
	cr_assert_eq(stream_received(s), STREAM_ACK_EVERY + 10);
	cr_assert_eq(stream_ack_take(s), STREAM_ACK_EVERY + 10);
	stream_free(s);
}

Test(stream, end_of_stream_marks)
{
	struct stream *s = stream_new(1024);

	push(s, 10);
	stream_close_source(s);
	cr_assert(stream_source_closed(s));
	cr_assert_eq(stream_room(s), 0, "nothing after the end");
	cr_assert_eq(push(s, 1), 0);
	cr_assert(!stream_eof_due(s), "bytes still to send first");
	drain(s, SIZE_MAX);
	cr_assert(stream_eof_due(s));

	stream_receive(s, 5);
	cr_assert_eq(stream_peer_eof(s, 4), -1, "a mark before the last byte");
	cr_assert_eq(stream_peer_eof(s, 6), -1, "a mark after bytes never seen");
	cr_assert(!stream_peer_closed(s));
	cr_assert_eq(stream_peer_eof(s, 5), 0);
	cr_assert_eq(stream_peer_eof(s, 5), 0, "repeated after a resume");
	cr_assert(stream_peer_closed(s));
	cr_assert(!stream_done(s), "ours not acknowledged yet");
	cr_assert_eq(stream_ack(s, 10), 0);
	cr_assert(stream_done(s));
	stream_free(s);
}
