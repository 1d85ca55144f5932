/* Fuzzes the attach protocol: a byte stream framed by peer.c, each payload decoded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "loop.h"
#include "peer.h"
#include "proto.h"
#include "util.h"
#include "fuzz.h"


/* Bytes written to the socket in one go, at most. */
#define FZ_CHUNK_MAX 20000

/* One run: the stream, how much of it the peer was given, and where the
 * next frame must start. */
struct fz {
	const uint8_t *in;
	size_t len, written, off;
	uint32_t rng;
	struct peer *peer;
	int done;    /* we let go of the peer, or it failed */
	int paused;  /* we paused it; the driver resumes it */
	int frames;  /* frames handed to us since the last pump */
};

static uint8_t fz_buf[PROTO_MAX_PAYLOAD];

/* The chunk sizes the socket is fed in, from the input's first byte:
 * splits anywhere, headers included. */
static size_t
fz_chunk(struct fz *f)
{
	f->rng = f->rng * 1103515245u + 12345u;
	switch (f->rng >> 29) {
	case 0:
		return 1;
	case 1:
	case 2:
		return 1 + (f->rng >> 16) % 16;
	default:
		return 1 + (f->rng >> 8) % FZ_CHUNK_MAX;
	}
}

/* A decoded string is terminated within its buffer. */
static void
fz_string(const char *s, size_t cap)
{
	FZ_CHECK(memchr(s, '\0', cap) != NULL);
	FZ_CHECK(strlen(s) <= PROTO_MAX_TEXT);
}

/* A name-only payload, decoded as the daemon does and into a buffer sized
 * for a session name, both on the heap exactly, so that ASan sees any
 * write past the capacity given. */
static int
fz_name(const uint8_t *p, uint32_t len)
{
	char *big = xmalloc(PROTO_MAX_TEXT + 1), *small = xmalloc(NAME_MAX_LEN + 1);
	int rc, rc2;

	rc = proto_name_decode(p, len, big, PROTO_MAX_TEXT + 1);
	rc2 = proto_name_decode(p, len, small, NAME_MAX_LEN + 1);
	if (rc == 0) {
		fz_string(big, PROTO_MAX_TEXT + 1);
		FZ_CHECK(rc2 == (strlen(big) <= NAME_MAX_LEN ? 0 : -1));
		FZ_CHECK(rc2 == -1 || strcmp(big, small) == 0);
		FZ_CHECK(proto_name_encode(fz_buf, big) == len && memcmp(fz_buf, p, len) == 0);
		/* name_valid is the daemon's next check: its rule, restated. */
		if (name_valid(big, strlen(big))) {
			FZ_CHECK(strlen(big) >= 1 && strlen(big) <= NAME_MAX_LEN);
			FZ_CHECK(strspn(big, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789._-") == strlen(big));
			FZ_CHECK(strcmp(big, ".") != 0 && strcmp(big, "..") != 0);
		}
	} else
		FZ_CHECK(rc2 == -1);
	free(big);
	free(small);
	return rc;
}

/* Decode one payload by its type, as the daemon (or a client) would, and
 * check that what decodes encodes back to the same bytes. -1: the frame is
 * malformed, and the peer is dropped. */
static int
fz_payload(uint16_t type, const uint8_t *p, uint32_t len)
{
	struct proto_hello h;
	struct proto_attach a;
	struct proto_attached ad;
	struct proto_session s;
	struct proto_text t;
	size_t n;

	switch (type) {
	case PROTO_HELLO:
		if (proto_hello_decode(p, len, &h) == -1)
			return -1;
		/* Longer is allowed (a later version); the fixed part is ours. */
		FZ_CHECK(h.magic == PROTO_MAGIC && len >= 16);
		FZ_CHECK(proto_hello_encode(fz_buf, &h) == 16 && memcmp(fz_buf, p, 16) == 0);
		return 0;
	case PROTO_ATTACH:
		if (proto_attach_decode(p, len, &a) == -1)
			return -1;
		fz_string(a.name, sizeof a.name);
		fz_string(a.term, sizeof a.term);
		n = proto_attach_encode(fz_buf, &a);
		FZ_CHECK(n == len && memcmp(fz_buf, p, n) == 0);
		return 0;
	case PROTO_ATTACHED:
		if (proto_attached_decode(p, len, &ad) == -1)
			return -1;
		fz_string(ad.name, sizeof ad.name);
		n = proto_attached_encode(fz_buf, &ad);
		FZ_CHECK(n == len && memcmp(fz_buf, p, n) == 0);
		return 0;
	case PROTO_SESSION:
		if (proto_session_decode(p, len, &s) == -1)
			return -1;
		fz_string(s.name, sizeof s.name);
		/* Byte 11 is padding: written 0, not checked on reading. */
		n = proto_session_encode(fz_buf, &s);
		FZ_CHECK(n == len && memcmp(fz_buf, p, 11) == 0 &&
		    memcmp(fz_buf + 12, p + 12, n - 12) == 0);
		return 0;
	case PROTO_ERROR:
	case PROTO_DETACHED:
		if (proto_text_decode(p, len, &t) == -1)
			return -1;
		fz_string(t.text, sizeof t.text);
		n = proto_text_encode(fz_buf, t.code, t.text);
		FZ_CHECK(n == len && memcmp(fz_buf, p, n) == 0);
		/* Words exist for every code, known or not. */
		FZ_CHECK(proto_error_text(t.code) != NULL && proto_reason_text(t.code) != NULL);
		return 0;
	case PROTO_KILL:
	case PROTO_DETACH_ALL:
		return fz_name(p, len);
	case PROTO_RESIZE:
		return len == 4 ? 0 : -1;
	case PROTO_GONE:
		return len == 2 && proto_end_text(get16(p)) != NULL ? 0 : -1;
	case PROTO_EXIT:
		return len == 4 ? 0 : -1;
	case PROTO_OUTPUT:
		return len >= 8 ? 0 : -1;
	case PROTO_HEARTBEAT:
	case PROTO_INPUT:
	case PROTO_DETACH:
	case PROTO_LIST:
	case PROTO_EXIT_SEEN:
	case PROTO_OK:
	case PROTO_REDRAW:
	case PROTO_STATS:
		return 0;
	}
	return -1;
}

/* The peer handed us a frame: it must be exactly the next one in the
 * stream, whole, never one we let go of. */
static void
fz_frame(struct peer *p, void *arg, uint16_t type, const uint8_t *data, uint32_t len)
{
	struct fz *f = arg;
	uint8_t buf[16];
	struct proto_hello h = { PROTO_MAGIC, PROTO_VERSION, 0, 12000, 1 };

	FZ_CHECK(!f->done && p == f->peer);
	FZ_CHECK(len <= PROTO_MAX_PAYLOAD);
	FZ_CHECK(f->off + PROTO_HEADER_LEN + len <= f->written);
	FZ_CHECK(get16(f->in + f->off) == type && get16(f->in + f->off + 2) == 0 &&
	    get32(f->in + f->off + 4) == len);
	FZ_CHECK(memcmp(data, f->in + f->off + PROTO_HEADER_LEN, len) == 0);
	f->off += PROTO_HEADER_LEN + len;
	f->frames++;

	if (fz_payload(type, data, len) == -1) {
		/* As the daemon drops a peer that breaks the protocol. */
		peer_send_error(p, PROTO_E_MALFORMED, "malformed frame");
		peer_free_flush(p);
		f->done = 1;
		return;
	}
	if (type == PROTO_HELLO)
		peer_send(p, PROTO_HELLO, buf, proto_hello_encode(buf, &h), NULL, 0);
	else if (type == PROTO_INPUT && len % 2 == 1 && !f->paused) {
		/* Backpressure, as a full session input queue applies it. */
		peer_pause(p, 1);
		f->paused = 1;
	}
}

/* The peer failed: a bad header exactly where the next frame starts, or
 * the end of the stream with no whole frame left unread. */
static void
fz_error(struct peer *p, void *arg, const char *reason)
{
	struct fz *f = arg;
	size_t left = f->written - f->off;
	uint32_t len = left >= PROTO_HEADER_LEN ? get32(f->in + f->off + 4) : 0;
	int bad = left >= PROTO_HEADER_LEN &&
	    (get16(f->in + f->off + 2) != 0 || len > PROTO_MAX_PAYLOAD);

	FZ_CHECK(!f->done && p == f->peer);
	if (strcmp(reason, "eof") == 0) {
		FZ_CHECK(f->written == f->len && !bad);
		FZ_CHECK(left < PROTO_HEADER_LEN || left < PROTO_HEADER_LEN + (size_t)len);
	} else
		FZ_CHECK(bad);
	peer_free(p);
	f->done = 1;
}

static const struct peer_cbs fz_cbs = { fz_frame, NULL, fz_error };

/* Let the peer read what the socket holds and take its answers away,
 * until it has read everything it can or is gone. */
static void
fz_pump(struct fz *f, int fd)
{
	char sink[4096];
	int pending, last = -1, stuck = 0;

	for (;;) {
		while (read(fd, sink, sizeof sink) > 0)
			;
		if (f->done)
			return;
		if (f->paused) {
			f->paused = 0;
			peer_pause(f->peer, 0);
			continue;
		}
		if (ioctl(peer_fd(f->peer), FIONREAD, &pending) == -1 || pending == 0)
			return;
		/* A peer that is not paused must take what the socket holds. */
		if (pending == last && f->frames == 0)
			FZ_CHECK(++stuck < 16);
		else
			stuck = 0;
		last = pending;
		f->frames = 0;
		event_base_loop(loop_base(), EVLOOP_NONBLOCK);
	}
}

/* One input: a byte seeding the chunk sizes, then the stream, written to
 * the peer's socket in chunks and ended by the other side closing. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f;
	int sv[2];
	ssize_t n;

	if (size < 1)
		return 0;
	memset(&f, 0, sizeof f);
	f.rng = data[0];
	f.in = data + 1;
	f.len = size - 1;
	if (loop_init() == NULL || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	fd_set_nonblock(sv[1], 1);
	f.peer = peer_new(sv[0], &fz_cbs, &f);

	while (f.written < f.len && !f.done) {
		size_t k = fz_chunk(&f);

		if (k > f.len - f.written)
			k = f.len - f.written;
		if ((n = write(sv[1], f.in + f.written, k)) > 0)
			f.written += (size_t)n;
		fz_pump(&f, sv[1]);
	}
	/* The other end goes away: the peer must see the end of the stream
	 * after every whole frame. */
	shutdown(sv[1], SHUT_WR);
	for (int i = 0; !f.done; i++) {
		FZ_CHECK(i < 64);
		fz_pump(&f, sv[1]);
		event_base_loop(loop_base(), EVLOOP_NONBLOCK);
	}
	loop_done();
	close(sv[1]);
	return 0;
}
