/* The relay: resumable streams for `persh proxy` (an ssh ProxyCommand),
 * each connected to the one target [relay] target names. The protocol is
 * in proto.h ("The relay stream protocol"). */
#ifndef PERSH_RELAY_H
#define PERSH_RELAY_H

#include <stddef.h>

/* Listen on [relay] listen; 0 if it is empty (no relay). */
int relay_open(char *err, size_t errlen);
/* Stop listening and end every stream (shutdown). */
void relay_close(void);

#endif
