/* Reaching the local daemon from a client: connect, starting it if asked,
 * and the HELLO exchange. */
#ifndef PERSH_DIAL_H
#define PERSH_DIAL_H

#include <stddef.h>
#include <stdint.h>

/* A connected socket to the daemon, or -1 with a reason. With autostart, a
 * missing daemon is started with the same configuration file. With hello,
 * our HELLO is sent (not awaited); a bridge leaves that to its remote
 * client. Sets *unreachable when no daemon could be reached. */
int dial_daemon(const char *cfgpath, int autostart, int hello, int *unreachable, char *err,
    size_t errlen);

/* Blocking helpers for one-shot commands, bounded by a deadline (ms on the
 * monotonic clock): read one frame into buf (cap >= PROTO_MAX_PAYLOAD). */
int dial_read_frame(int fd, int64_t deadline, uint16_t *type, uint8_t *buf, uint32_t *len,
    char *err, size_t errlen);
int dial_write_frame(int fd, uint16_t type, const void *p, size_t len);

#endif
