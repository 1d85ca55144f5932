/* A TCP listening socket in the loop, for the daemon's network faces (the
 * SSH endpoint, the relay): bind, accept everything pending, name peers. */
#include "listener.h"

#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "loop.h"
#include "util.h"

struct listener {
	int fd;
	struct event *ev;
	char what[32];
	listener_cb cb;
	void *arg;
};

/* "ADDR:PORT" of a socket address. */
void
listener_name(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv,
		NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(buf, buflen, "?");
	else if (sa->sa_family == AF_INET6)
		snprintf(buf, buflen, "[%.46s]:%.6s", host, serv);
	else
		snprintf(buf, buflen, "%.46s:%.6s", host, serv);
}

/* Accept every pending connection. */
static void
listener_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct listener *l = arg;

	(void)what;
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		char peer[64];
		int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("%s: accept: %s", l->what, strerror(errno));
			return;
		}
		listener_name((struct sockaddr *)&ss, len, peer, sizeof peer);
		l->cb(fd, peer, l->arg);
	}
}

/* Listen on "HOST:PORT"; NULL with a reason on failure. */
struct listener *
listener_open(const char *addr, const char *what, listener_cb cb, void *arg, char *err,
    size_t errlen)
{
	struct addrinfo hints, *ai = NULL;
	struct listener *l;
	char host[256], port[16];
	unsigned p;
	int on = 1, rc, fd;

	if (config_parse_addr(addr, host, sizeof host, &p) == -1) {
		snprintf(err, errlen, "bad %s address %s", what, addr);
		return NULL;
	}
	snprintf(port, sizeof port, "%u", p);
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(err, errlen, "%s %s: %s", what, addr, gai_strerror(rc));
		return NULL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 || listen(fd, 128) == -1) {
		snprintf(err, errlen, "%s %s: %s", what, addr, strerror(errno));
		freeaddrinfo(ai);
		if (fd != -1)
			close(fd);
		return NULL;
	}
	freeaddrinfo(ai);
	l = xcalloc(1, sizeof *l);
	l->fd = fd;
	l->cb = cb;
	l->arg = arg;
	snprintf(l->what, sizeof l->what, "%s", what);
	l->ev = event_new(loop_base(), fd, EV_READ | EV_PERSIST, listener_accept, l);
	event_add(l->ev, NULL);
	return l;
}

/* Stop listening. */
void
listener_close(struct listener *l)
{
	if (l == NULL)
		return;
	event_free(l->ev);
	close(l->fd);
	free(l);
}
