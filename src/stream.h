/* One end of a resumable relay stream: the bytes it sent that the other end
 * has not acknowledged yet (a bounded buffer), and the count of bytes it
 * received, with when to acknowledge them. The same object on both ends
 * (`persh proxy` and the daemon's relay). */
#ifndef PERSH_STREAM_H
#define PERSH_STREAM_H

#include <stddef.h>
#include <stdint.h>

/* A receiver acknowledges at least this often. */
#define STREAM_ACK_EVERY 65536

struct stream;

/* A stream holding at most cap unacknowledged bytes. */
struct stream *stream_new(size_t cap);
void stream_free(struct stream *s);

/*
 * Sending. Bytes are numbered from 0 in the order the source gave them:
 *
 *   acked <= next <= end,  end - acked <= cap
 *
 * [acked, end) is held; [next, end) is still to go out on the current link.
 */
uint64_t stream_acked(const struct stream *s);
uint64_t stream_next(const struct stream *s);
uint64_t stream_end(const struct stream *s);
/* Bytes the source may still add; 0 means stop reading it (pushback). */
size_t stream_room(const struct stream *s);
/* Contiguous room at the end, for read() straight into the buffer; NULL
 * with *len 0 when full. stream_commit(n) takes n bytes written there. */
uint8_t *stream_reserve(struct stream *s, size_t *len);
void stream_commit(struct stream *s, size_t n);
/* Copy in what fits; returns how much did. */
size_t stream_append(struct stream *s, const void *buf, size_t len);
/* The contiguous run of bytes from next not yet sent (NULL, 0: none). */
const uint8_t *stream_pending(const struct stream *s, size_t *len);
/* n of those bytes went out on the link. */
void stream_sent(struct stream *s, size_t n);
/* The other end has every byte before off: drop them. -1 (nothing
 * changed) if off is before acked or past what was sent on this link. */
int stream_ack(struct stream *s, uint64_t off);
/* A new link: the other end has every byte before off, and everything
 * from off goes out again. -1 (nothing changed) unless acked <= off <= end. */
int stream_rewind(struct stream *s, uint64_t off);
/* Give back memory once everything is acknowledged (an idle stream). */
void stream_trim(struct stream *s);

/* The source ended: no more bytes. Once they are all sent, the sender
 * sends its end-of-stream mark with stream_end() as the final offset. */
void stream_close_source(struct stream *s);
int stream_source_closed(const struct stream *s);
/* 1 when the end-of-stream mark is due: source closed, all sent. */
int stream_eof_due(const struct stream *s);

/*
 * Receiving.
 */
uint64_t stream_received(const struct stream *s);
void stream_receive(struct stream *s, size_t n);
/* 1 once STREAM_ACK_EVERY bytes arrived since the last acknowledgement;
 * stream_ack_new: anything at all did. */
int stream_ack_due(const struct stream *s);
int stream_ack_new(const struct stream *s);
/* The offset to acknowledge now (it is recorded as acknowledged). */
uint64_t stream_ack_take(struct stream *s);
/* The other end's end-of-stream mark at off; -1 unless off is exactly
 * what was received (a mark repeated after a resume is fine). */
int stream_peer_eof(struct stream *s, uint64_t off);
int stream_peer_closed(const struct stream *s);

/* Both ways finished: our source closed and every byte of it acknowledged,
 * and the other end's mark received. */
int stream_done(const struct stream *s);

#endif
