/* A framed peer: one socket speaking the wire protocol (proto.h), with a
 * bounded input buffer and an output queue that has write interest only
 * while it holds bytes. */
#ifndef PERSH_PEER_H
#define PERSH_PEER_H

#include <stddef.h>
#include <stdint.h>

struct peer;

struct peer_cbs {
	/* A whole frame arrived; the payload is valid during the call. */
	void (*frame)(struct peer *p, void *arg, uint16_t type, const uint8_t *data, uint32_t len);
	/* The output queue fell to the low-water mark (optional). */
	void (*drain)(struct peer *p, void *arg);
	/* The peer is gone (EOF, I/O error, bad header): the owner must drop it
	 * with peer_free. Never called for a peer the owner freed itself. */
	void (*error)(struct peer *p, void *arg, const char *reason);
};

/* Take fd (made non-blocking here); the peer closes it. */
struct peer *peer_new(int fd, const struct peer_cbs *cbs, void *arg);
/* Close at once and free once the current callback returns. */
void peer_free(struct peer *p);
/* Write what is queued (best effort, never blocks), then free. */
void peer_free_flush(struct peer *p);

/* Queue a frame: a fixed part and an optional data part. -1 if the peer is
 * dead. Sending never blocks; callers check peer_queued for their bound. */
int peer_send(struct peer *p, uint16_t type, const void *fixed, size_t flen, const void *data,
    size_t dlen);
/* Queue an ERROR frame. */
int peer_send_error(struct peer *p, uint16_t code, const char *text);
size_t peer_queued(const struct peer *p);
/* Bytes the socket has taken so far. */
uint64_t peer_written(const struct peer *p);
/* Stop or resume reading (backpressure). */
void peer_pause(struct peer *p, int paused);
int peer_fd(const struct peer *p);
void peer_set_arg(struct peer *p, void *arg);

#endif
