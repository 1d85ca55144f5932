/* A session's output ring: the most recent bytes, numbered by 64-bit offsets. */
#ifndef PERSH_RING_H
#define PERSH_RING_H

#include <stddef.h>
#include <stdint.h>

struct ring;

struct ring *ring_create(size_t capacity);
void ring_free(struct ring *r);
size_t ring_capacity(const struct ring *r);
/* Offset of the next byte to be written (total bytes ever written). */
uint64_t ring_head(const struct ring *r);
/* Oldest offset still held. */
uint64_t ring_tail(const struct ring *r);
/* Contiguous space at the head, for read() straight into the ring; writing
 * there overwrites the oldest bytes. */
uint8_t *ring_reserve(struct ring *r, size_t *len);
void ring_commit(struct ring *r, size_t n);
void ring_append(struct ring *r, const void *buf, size_t len);
/* The contiguous run of held bytes from off (at most head - off), or NULL
 * with *len = 0 if off is not in [tail, head). */
const uint8_t *ring_peek(const struct ring *r, uint64_t off, size_t *len);

#endif
