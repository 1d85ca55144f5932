/* A TCP listening socket in the loop, for the daemon's network faces (the
 * SSH endpoint, the relay): bind, accept everything pending, name peers. */
#ifndef PERSH_LISTENER_H
#define PERSH_LISTENER_H

#include <stddef.h>
#include <sys/socket.h>

struct listener;

/* Called for each accepted connection (close-on-exec, blocking) with the
 * peer's "ADDR:PORT"; the callee owns fd. */
typedef void (*listener_cb)(int fd, const char *peer, void *arg);

/* Listen on "HOST:PORT" ("[V6]:PORT"); what names it in messages
 * ("[ssh] listen"). NULL with a reason on failure. */
struct listener *listener_open(const char *addr, const char *what, listener_cb cb, void *arg,
    char *err, size_t errlen);
void listener_close(struct listener *l);
/* "ADDR:PORT" (or "[V6]:PORT") of a socket address. */
void listener_name(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen);

#endif
