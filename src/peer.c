/* A framed peer: one socket speaking the wire protocol, with a bounded input
 * buffer and an output queue that has write interest only while it holds
 * bytes. */
#include "peer.h"

#include <errno.h>
#include <stdio.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "proto.h"
#include "util.h"

/* Output below this calls the drain callback again. */
#define PEER_LOWAT (64 * 1024)
/* Input buffer: grows to one whole frame at most. */
#define PEER_INBUF_START 16384
#define PEER_INBUF_MAX (PROTO_HEADER_LEN + PROTO_MAX_PAYLOAD)
/* How long a closing peer may take to read what it was last sent. */
#define PEER_LINGER_MS 5000

struct peer {
	int fd;
	struct event *rev, *wev;
	struct evbuffer *out;
	uint8_t *in;
	size_t inlen, incap;
	const struct peer_cbs *cbs;
	void *arg;
	int dead, paused, writing;
	int above; /* output went past PEER_LOWAT; drain is owed when it falls */
	uint64_t written; /* bytes the socket took, ever */
	int lingering, freed;
	int wdead; /* a write failed: discard output, keep reading to EOF */
	int parsing; /* inside peer_parse: a resume must not parse again */
	struct event *linger;
};

static void peer_read_cb(evutil_socket_t, short, void *);
static void peer_write_cb(evutil_socket_t, short, void *);

/* Take fd (made non-blocking here); the peer closes it. */
struct peer *
peer_new(int fd, const struct peer_cbs *cbs, void *arg)
{
	struct peer *p = xcalloc(1, sizeof *p);

	fd_set_nonblock(fd, 1);
	fd_set_cloexec(fd);
	p->fd = fd;
	p->cbs = cbs;
	p->arg = arg;
	p->out = evbuffer_new();
	p->incap = PEER_INBUF_START;
	p->in = xmalloc(p->incap);
	p->rev = event_new(loop_base(), fd, EV_READ | EV_PERSIST, peer_read_cb, p);
	p->wev = event_new(loop_base(), fd, EV_WRITE | EV_PERSIST, peer_write_cb, p);
	if (p->out == NULL || p->rev == NULL || p->wev == NULL)
		abort();
	event_add(p->rev, NULL);
	return p;
}

/* Release the memory; runs deferred, after every callback that could still
 * hold the pointer has returned. */
static void
peer_release(void *arg)
{
	struct peer *p = arg;

	event_free(p->rev);
	event_free(p->wev);
	loop_event_free(p->linger);
	evbuffer_free(p->out);
	free(p->in);
	free(p);
}

/* Stop all I/O on the peer and close its socket. */
static void
peer_shut(struct peer *p)
{
	if (p->dead)
		return;
	p->dead = 1;
	event_del(p->rev);
	event_del(p->wev);
	close(p->fd);
	p->fd = -1;
}

/* Close at once and free once the current callback returns. */
void
peer_free(struct peer *p)
{
	if (p == NULL || p->freed)
		return;
	p->freed = 1;
	peer_shut(p);
	p->cbs = NULL;
	if (p->linger != NULL)
		loop_timer_set(p->linger, -1);
	loop_defer(peer_release, p);
}

/* A lingering peer did not drain in time. */
static void
peer_linger_expired(void *arg)
{
	peer_free(arg);
}

/* Stop reading and free once what is queued is written (an exit status must
 * follow the last output), or after PEER_LINGER_MS for a peer that does not
 * read. The owner hears nothing more from it. */
void
peer_free_flush(struct peer *p)
{
	if (p == NULL)
		return;
	p->cbs = NULL;
	if (p->dead || evbuffer_get_length(p->out) == 0) {
		peer_free(p);
		return;
	}
	event_del(p->rev);
	p->lingering = 1;
	p->linger = loop_timer_new(peer_linger_expired, p);
	loop_timer_set(p->linger, PEER_LINGER_MS);
}

/* The peer failed: tell the owner once, who frees it. */
static void
peer_fail(struct peer *p, const char *reason)
{
	if (p->dead)
		return;
	peer_shut(p);
	if (p->lingering)
		peer_free(p);
	else if (p->cbs != NULL && p->cbs->error != NULL)
		p->cbs->error(p, p->arg, reason);
}

/* Hand every whole frame in the input buffer to the owner. */
static void
peer_parse(struct peer *p)
{
	size_t off = 0;

	p->parsing = 1;
	/* cbs is NULL once the owner let go (peer_free_flush from a frame
	 * callback, with output still queued): no more frames for it. */
	while (!p->dead && !p->paused && p->cbs != NULL && p->inlen - off >= PROTO_HEADER_LEN) {
		uint16_t type;
		uint32_t len;

		if (proto_header_decode(p->in + off, &type, &len) == -1) {
			char why[64];

			if (len > PROTO_MAX_PAYLOAD)
				snprintf(why, sizeof why, "oversized frame (%u bytes, max %u)", len,
				    PROTO_MAX_PAYLOAD);
			else
				snprintf(why, sizeof why, "malformed frame header");
			p->parsing = 0;
			peer_fail(p, why);
			return;
		}
		if (p->inlen - off < PROTO_HEADER_LEN + len) {
			/* Make room for the whole frame now that its length checked out. */
			if (PROTO_HEADER_LEN + len > p->incap) {
				p->incap = PEER_INBUF_MAX;
				p->in = realloc(p->in, p->incap);
				if (p->in == NULL)
					abort();
			}
			break;
		}
		p->cbs->frame(p, p->arg, type, p->in + off + PROTO_HEADER_LEN, len);
		off += PROTO_HEADER_LEN + len;
	}
	p->parsing = 0;
	if (p->dead)
		return;
	if (off > 0) {
		memmove(p->in, p->in + off, p->inlen - off);
		p->inlen -= off;
	}
}

/* Read what the socket has into the input buffer, then parse frames. */
static void
peer_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	ssize_t n;

	(void)what;
	if (p->inlen == p->incap)
		return; /* unreachable: parsing always leaves room for one frame */
	n = read(fd, p->in + p->inlen, p->incap - p->inlen);
	if (n == 0) {
		peer_fail(p, "eof");
		return;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		peer_fail(p, strerror(errno));
		return;
	}
	p->inlen += (size_t)n;
	peer_parse(p);
}

/* Write queued output; drop write interest once it is empty. From inside
 * peer_send (in_send) the owner is mid-call, so a drain owed is reported
 * from the write event, which stays armed for it. A failed write only stops
 * writing: frames already received (an exit status, an error) must still be
 * read and handed over, and the end is reported when reading ends too. */
static void
peer_flush(struct peer *p, int in_send)
{
	int n, owed;

	if (p->wdead) {
		evbuffer_drain(p->out, evbuffer_get_length(p->out));
		return;
	}
	/* evbuffer_write of nothing returns -1 without a syscall, leaving a
	 * stale errno that would read as a failed write. */
	n = evbuffer_get_length(p->out) > 0 ? evbuffer_write(p->out, p->fd) : 0;
	if (n > 0)
		p->written += (uint64_t)n;
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		p->wdead = 1;
		evbuffer_drain(p->out, evbuffer_get_length(p->out));
		if (p->writing) {
			event_del(p->wev);
			p->writing = 0;
		}
		if (p->lingering)
			peer_free(p);
		return;
	}
	if (p->lingering) {
		if (evbuffer_get_length(p->out) == 0)
			peer_free(p);
		else if (!p->writing) {
			event_add(p->wev, NULL);
			p->writing = 1;
		}
		return;
	}
	owed = p->above && evbuffer_get_length(p->out) <= PEER_LOWAT;
	if (evbuffer_get_length(p->out) == 0 && !(owed && in_send)) {
		if (p->writing) {
			event_del(p->wev);
			p->writing = 0;
		}
	} else if (!p->writing) {
		event_add(p->wev, NULL);
		p->writing = 1;
	}
	if (owed && !in_send) {
		p->above = 0;
		if (p->cbs != NULL && p->cbs->drain != NULL)
			p->cbs->drain(p, p->arg);
	}
}

/* The socket can take more output. */
static void
peer_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	peer_flush(arg, 0);
}

/* Queue a frame and try to write it now: keystrokes should not wait for
 * another trip round the loop. */
int
peer_send(struct peer *p, uint16_t type, const void *fixed, size_t flen, const void *data,
    size_t dlen)
{
	uint8_t hdr[PROTO_HEADER_LEN];

	if (p->dead)
		return -1;
	proto_header_encode(hdr, type, (uint32_t)(flen + dlen));
	evbuffer_add(p->out, hdr, sizeof hdr);
	if (flen > 0)
		evbuffer_add(p->out, fixed, flen);
	if (dlen > 0)
		evbuffer_add(p->out, data, dlen);
	if (evbuffer_get_length(p->out) > PEER_LOWAT)
		p->above = 1;
	if (!p->writing)
		peer_flush(p, 1);
	return p->dead ? -1 : 0;
}

/* Queue an ERROR frame. */
int
peer_send_error(struct peer *p, uint16_t code, const char *text)
{
	uint8_t buf[2 + 1 + PROTO_MAX_TEXT];
	size_t n = proto_text_encode(buf, code, text);

	return peer_send(p, PROTO_ERROR, buf, n, NULL, 0);
}

/* Bytes waiting to be written. */
size_t
peer_queued(const struct peer *p)
{
	return evbuffer_get_length(p->out);
}

/* Bytes the socket has taken so far: whether a peer makes progress. */
uint64_t
peer_written(const struct peer *p)
{
	return p->written;
}

/* Stop or resume reading (backpressure); resuming parses what is buffered. */
void
peer_pause(struct peer *p, int paused)
{
	if (p->dead || p->paused == paused)
		return;
	p->paused = paused;
	if (paused) {
		event_del(p->rev);
	} else {
		event_add(p->rev, NULL);
		/* From a frame callback, the loop under way goes on by itself;
		 * parsing again here would hand out the same frames twice. */
		if (!p->parsing)
			peer_parse(p);
	}
}

/* The socket, for credentials checks. */
int
peer_fd(const struct peer *p)
{
	return p->fd;
}

/* Change the owner's argument (e.g. once a connection becomes a client). */
void
peer_set_arg(struct peer *p, void *arg)
{
	p->arg = arg;
}
