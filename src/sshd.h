/* The embedded SSH endpoint, supervisor side: the listener, the host key,
 * and one child per connection. */
#ifndef PERSH_SSHD_H
#define PERSH_SSHD_H

#include <stddef.h>

/* Listen on [ssh] listen (making the host key if needed); 0 if disabled.
 * config_file is passed on to the children (NULL: defaults). */
int sshd_open(const char *config_file, char *err, size_t errlen);
void sshd_close(void);
/* Where the host key is for the configuration in force; -1 if nowhere. */
int sshd_host_key_path(char *buf, size_t len);

#endif
