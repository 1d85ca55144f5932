/* Counters of why clients and sessions ended (enum proto_end). */
#ifndef PERSH_STATS_H
#define PERSH_STATS_H

#include <stddef.h>
#include <stdint.h>

void stats_count(uint16_t end);
uint64_t stats_get(uint16_t end);
/* A STATS payload of every counter; returns its length. */
size_t stats_encode(uint8_t *buf, size_t cap);

#endif
