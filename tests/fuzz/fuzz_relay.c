/* Fuzzes the relay protocol: handshake decoders, and stream frames against a model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "stream.h"
#include "streamkey.h"
#include "util.h"
#include "fuzz.h"


/* Frame types of our own, past the relay's: what the source and the link
 * do to the stream between frames from the other end. */
enum {
	FZ_SOURCE = 60,   /* count u32: the source gives that many bytes */
	FZ_SEND = 61,     /* count u32: the link takes that many pending bytes */
	FZ_CLOSE = 62,    /* the source ends */
	FZ_TRIM = 63,     /* an idle stream gives memory back */
	FZ_ACK_TAKE = 64, /* an acknowledgement goes out */
};

/* The most bytes one FZ_SOURCE gives: past the largest capacity below. */
#define FZ_SOURCE_MAX (1u << 19)

/* Capacities around the buffer's first allocation (64 KiB) and tiny ones,
 * where wrapping and growing meet. */
static const size_t fz_caps[] = { 1, 3, 100, 4096, 65535, 65536, 65537, 300000 };

/* What the stream must say: offsets kept beside it by the rules of
 * stream.h, and what the handshake left for the next frame. */
struct fz {
	struct stream *s;
	size_t cap;
	uint64_t acked, next, end, received, ack_sent;
	int closed, peer_closed;
	uint8_t secret[STREAMKEY_LEN], id[STREAMKEY_ID_LEN], challenge[STREAMKEY_LEN];
};

static uint8_t fz_buf[PROTO_MAX_PAYLOAD];

/* The byte at each offset of the source: not periodic in a power of two,
 * so a byte from the wrong offset shows. */
static uint8_t
fz_pattern(uint64_t i)
{
	return (uint8_t)(i * 7919 + i / 251);
}

/* The stream agrees with the model, and what it would send next is the
 * source's bytes from the right offset. */
static void
fz_check_stream(const struct fz *f)
{
	const struct stream *s = f->s;
	const uint8_t *p;
	size_t len;

	FZ_CHECK(stream_acked(s) == f->acked && stream_next(s) == f->next &&
	    stream_end(s) == f->end);
	FZ_CHECK(f->acked <= f->next && f->next <= f->end && f->end - f->acked <= f->cap);
	FZ_CHECK(stream_room(s) == (f->closed ? 0 : f->cap - (size_t)(f->end - f->acked)));
	FZ_CHECK(stream_source_closed(s) == f->closed && stream_peer_closed(s) == f->peer_closed);
	FZ_CHECK(stream_eof_due(s) == (f->closed && f->next == f->end));
	FZ_CHECK(stream_done(s) == (f->closed && f->acked == f->end && f->peer_closed));
	FZ_CHECK(stream_received(s) == f->received);
	FZ_CHECK(stream_ack_new(s) == (f->received != f->ack_sent));
	FZ_CHECK(stream_ack_due(s) == (f->received - f->ack_sent >= STREAM_ACK_EVERY));
	p = stream_pending(s, &len);
	if (f->next == f->end) {
		FZ_CHECK(p == NULL && len == 0);
		return;
	}
	FZ_CHECK(p != NULL && len > 0 && len <= f->end - f->next);
	/* Every byte of a short run, a sample of a long one: the pattern
	 * shows a wrong offset anywhere. */
	for (size_t i = 0; i < len; i += len <= 4096 ? 1 : 61)
		FZ_CHECK(p[i] == fz_pattern(f->next + i));
	FZ_CHECK(p[len - 1] == fz_pattern(f->next + len - 1));
}

/* The source gives n bytes, by copy or straight into the buffer. */
static void
fz_source(struct fz *f, uint32_t n, int in_place)
{
	size_t room = stream_room(f->s), want = n < room ? n : room, done = 0, k;
	uint8_t *dst;

	if (!in_place) {
		uint8_t *buf = xmalloc(n > 0 ? n : 1);

		for (size_t i = 0; i < n; i++)
			buf[i] = fz_pattern(f->end + i);
		FZ_CHECK(stream_append(f->s, buf, n) == want);
		free(buf);
		f->end += want;
		return;
	}
	while (done < n) {
		if ((dst = stream_reserve(f->s, &k)) == NULL) {
			FZ_CHECK(k == 0 && stream_room(f->s) == 0);
			break;
		}
		FZ_CHECK(k > 0 && k <= stream_room(f->s));
		if (k > n - done)
			k = n - done;
		for (size_t i = 0; i < k; i++)
			dst[i] = fz_pattern(f->end + i);
		stream_commit(f->s, k);
		f->end += k;
		done += k;
	}
	FZ_CHECK(done == want);
}

/* The link takes up to n pending bytes, a run at a time. */
static void
fz_send(struct fz *f, uint32_t n)
{
	const uint8_t *p;
	size_t len;

	while (n > 0 && (p = stream_pending(f->s, &len)) != NULL) {
		if (len > n)
			len = n;
		stream_sent(f->s, len);
		f->next += len;
		n -= (uint32_t)len;
		fz_check_stream(f);
	}
}

/* An acknowledgement (RACK): anything outside what this link was sent is
 * refused and changes nothing. */
static void
fz_ack(struct fz *f, uint64_t off)
{
	int ok = off >= f->acked && off <= f->next;

	FZ_CHECK(stream_ack(f->s, off) == (ok ? 0 : -1));
	if (ok)
		f->acked = off;
}

/* A resume at off (RPROOF on the relay, RRESUMED in the proxy): anything
 * outside what is held is refused and changes nothing. */
static void
fz_rewind(struct fz *f, uint64_t off)
{
	int ok = off >= f->acked && off <= f->end;

	FZ_CHECK(stream_rewind(f->s, off) == (ok ? 0 : -1));
	if (ok)
		f->acked = f->next = off;
}

/* RHELLO as the relay reads it. */
static void
fz_rhello(const uint8_t *p, uint32_t len)
{
	struct proto_rhello h;
	static const uint8_t zero[PROTO_RELAY_KEY_LEN];

	if (proto_rhello_decode(p, len, &h) == -1)
		return;
	FZ_CHECK(len >= 6 && h.magic == PROTO_RELAY_MAGIC);
	if (h.version != PROTO_RELAY_VERSION) {
		/* Only the version is read, to refuse it by name. */
		FZ_CHECK(h.kind == 0 && h.hb_timeout_ms == 0);
		FZ_CHECK(memcmp(h.key, zero, sizeof h.key) == 0 &&
		    memcmp(h.id, zero, sizeof h.id) == 0);
		return;
	}
	FZ_CHECK(h.kind == PROTO_RELAY_NEW || h.kind == PROTO_RELAY_RESUME);
	FZ_CHECK(proto_rhello_encode(fz_buf, &h) == len && memcmp(fz_buf, p, len) == 0);
}

/* RWELCOME as the proxy reads it: the secret from the relay's key, which
 * may be any 32 bytes (a low-order point is refused, not trusted). */
static void
fz_rwelcome(struct fz *f, const uint8_t *p, uint32_t len)
{
	static const uint8_t priv[STREAMKEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct proto_rwelcome w;

	if (proto_rwelcome_decode(p, len, &w) == -1) {
		FZ_CHECK(len != PROTO_RELAY_ID_LEN + PROTO_RELAY_KEY_LEN + 4);
		return;
	}
	FZ_CHECK(proto_rwelcome_encode(fz_buf, &w) == len && memcmp(fz_buf, p, len) == 0);
	if (streamkey_secret(priv, w.key, w.key, w.key, w.id, f->secret) == -1)
		memset(f->secret, 0, sizeof f->secret);
	memcpy(f->id, w.id, sizeof f->id);
}

/* RCHALLENGE as the proxy reads it: the proof it answers with checks. */
static void
fz_rchallenge(struct fz *f, const uint8_t *p, uint32_t len)
{
	uint8_t proof[STREAMKEY_LEN];

	if (proto_rchallenge_decode(p, len, f->challenge) == -1) {
		FZ_CHECK(len != PROTO_RELAY_KEY_LEN);
		return;
	}
	FZ_CHECK(memcmp(f->challenge, p, len) == 0);
	FZ_CHECK(streamkey_proof(f->secret, f->id, f->challenge, f->received, proof) == 0);
	FZ_CHECK(streamkey_check(f->secret, f->id, f->challenge, f->received, proof) == 1);
	proof[len % STREAMKEY_LEN] ^= 1;
	FZ_CHECK(streamkey_check(f->secret, f->id, f->challenge, f->received, proof) == 0);
}

/* RPROOF as the relay reads it: checked against the right answer, then
 * taken as right (a fuzzer cannot forge one) to resume at its offset. */
static void
fz_rproof(struct fz *f, const uint8_t *p, uint32_t len)
{
	uint8_t right[STREAMKEY_LEN];
	struct proto_rproof pr;

	if (proto_rproof_decode(p, len, &pr) == -1) {
		FZ_CHECK(len != PROTO_RELAY_KEY_LEN + 8);
		return;
	}
	FZ_CHECK(proto_rproof_encode(fz_buf, &pr) == len && memcmp(fz_buf, p, len) == 0);
	FZ_CHECK(streamkey_proof(f->secret, f->id, f->challenge, pr.offset, right) == 0);
	FZ_CHECK(streamkey_check(f->secret, f->id, f->challenge, pr.offset, pr.proof) ==
	    (memcmp(right, pr.proof, sizeof right) == 0));
	fz_rewind(f, pr.offset);
}

/* One frame: from the other end (the relay's types, ERROR), or one of
 * ours for the source and the link. */
static void
fz_frame(struct fz *f, uint16_t type, const uint8_t *p, uint32_t len)
{
	struct proto_rresumed r;
	struct proto_text t;
	uint64_t off;
	uint32_t n = len >= 4 ? get32(p) : 0;

	switch (type) {
	case FZ_SOURCE:
		fz_source(f, n % (FZ_SOURCE_MAX + 1), n & 1);
		break;
	case FZ_SEND:
		fz_send(f, n);
		break;
	case FZ_CLOSE:
		stream_close_source(f->s);
		f->closed = 1;
		break;
	case FZ_TRIM:
		stream_trim(f->s);
		break;
	case FZ_ACK_TAKE:
		if (stream_ack_new(f->s))
			FZ_CHECK(stream_ack_take(f->s) == f->received);
		f->ack_sent = f->received;
		break;
	case PROTO_RHELLO:
		fz_rhello(p, len);
		break;
	case PROTO_RWELCOME:
		fz_rwelcome(f, p, len);
		break;
	case PROTO_RCHALLENGE:
		fz_rchallenge(f, p, len);
		break;
	case PROTO_RPROOF:
		fz_rproof(f, p, len);
		break;
	case PROTO_RRESUMED:
		if (proto_rresumed_decode(p, len, &r) == -1) {
			FZ_CHECK(len != 12);
			break;
		}
		FZ_CHECK(proto_rresumed_encode(fz_buf, &r) == len && memcmp(fz_buf, p, len) == 0);
		fz_rewind(f, r.offset);
		break;
	case PROTO_RDATA:
		/* Empty data and data after the end are refused by both ends. */
		if (len == 0 || f->peer_closed)
			break;
		stream_receive(f->s, len);
		f->received += len;
		if (stream_ack_due(f->s)) {
			FZ_CHECK(stream_ack_take(f->s) == f->received);
			f->ack_sent = f->received;
		}
		break;
	case PROTO_RACK:
		if (proto_offset_decode(p, len, &off) == 0)
			fz_ack(f, off);
		else
			FZ_CHECK(len != 8);
		break;
	case PROTO_REOF:
		if (proto_offset_decode(p, len, &off) == -1) {
			FZ_CHECK(len != 8);
			break;
		}
		FZ_CHECK(stream_peer_eof(f->s, off) == (off == f->received ? 0 : -1));
		if (off == f->received)
			f->peer_closed = 1;
		FZ_CHECK(proto_offset_encode(fz_buf, off) == 8 && memcmp(fz_buf, p, 8) == 0);
		break;
	case PROTO_ERROR:
		if (proto_text_decode(p, len, &t) == 0)
			FZ_CHECK(memchr(t.text, '\0', sizeof t.text) != NULL);
		break;
	}
	fz_check_stream(f);
}

/* Input: capacity choice, bytes already given (x 257), share of them
 * already sent (/ 255), then frames with the wire's 8-byte header, cut as
 * a peer cuts them: a bad header ends the input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f;
	size_t off = 3;
	uint16_t type;
	uint32_t len;

	if (size < 3)
		return 0;
	memset(&f, 0, sizeof f);
	f.cap = fz_caps[data[0] % (sizeof fz_caps / sizeof fz_caps[0])];
	f.s = stream_new(f.cap);
	fz_check_stream(&f);
	fz_source(&f, (uint32_t)data[1] * 257, data[1] & 1);
	fz_send(&f, (uint32_t)((f.end - f.next) * data[2] / 255));
	fz_check_stream(&f);

	while (size - off >= PROTO_HEADER_LEN) {
		if (proto_header_decode(data + off, &type, &len) == -1) {
			FZ_CHECK(get16(data + off + 2) != 0 || len > PROTO_MAX_PAYLOAD);
			break;
		}
		if (size - off - PROTO_HEADER_LEN < len)
			break;
		fz_frame(&f, type, data + off + PROTO_HEADER_LEN, len);
		off += PROTO_HEADER_LEN + len;
	}
	stream_free(f.s);
	return 0;
}
