/* The authorized_keys file the embedded SSH endpoint checks public-key
 * logins against. */
#ifndef PERSH_AUTHKEYS_H
#define PERSH_AUTHKEYS_H

#include <stddef.h>

#include <libssh/libssh.h>

/* Longest line read; longer ones are skipped. */
#define AUTHKEYS_LINE_MAX (16 * 1024)
/* Most keys kept from one file; later ones are ignored. */
#define AUTHKEYS_MAX 4096
/* RSA moduli outside these bounds are skipped (OpenSSH's limits). */
#define AUTHKEYS_RSA_MIN_BITS 2048
#define AUTHKEYS_RSA_MAX_BITS 16384

struct authkeys;

/* Read an OpenSSH authorized_keys file. Malformed lines are skipped with one
 * logged warning each (file:line: reason), never a crash. NULL with a reason
 * in err if the file cannot be read at all, or (like sshd's StrictModes) if
 * it or its directory is writable by others than the owner, or it is not
 * owned by the user or root. */
struct authkeys *authkeys_load(const char *path, char *err, size_t errlen);
/* Free what authkeys_load returned; NULL is fine. */
void authkeys_free(struct authkeys *);
/* 1 if key (as libssh hands it to a server's auth_pubkey callback) is
 * listed. */
int authkeys_match(const struct authkeys *, const ssh_key key);
/* Number of usable keys read. */
size_t authkeys_count(const struct authkeys *);

#endif
