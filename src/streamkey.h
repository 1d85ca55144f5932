/* The keys of a relay stream (OpenSSL libcrypto): an ephemeral X25519
 * exchange that agrees the stream's secret without it crossing the wire,
 * and the HMAC that proves a resume owns the stream. */
#ifndef PERSH_STREAMKEY_H
#define PERSH_STREAMKEY_H

#include <stddef.h>
#include <stdint.h>

#define STREAMKEY_LEN 32    /* X25519 keys, the secret, a challenge, a proof */
#define STREAMKEY_ID_LEN 16 /* a stream id */

/* Fill buf with random bytes from the CSPRNG; -1 if it has none. */
int streamkey_random(void *buf, size_t len);
/* A fresh key pair; -1 on failure. */
int streamkey_keypair(uint8_t priv[STREAMKEY_LEN], uint8_t pub[STREAMKEY_LEN]);
/*
 * The stream secret, computed alike on both ends:
 *
 *   shared = X25519(our private key, their public key)
 *   secret = HMAC-SHA256(key = shared,
 *                        "persh relay v1" || client_pub || server_pub || id)
 *
 * -1 if the exchange fails (e.g. a low-order public key that makes the
 * shared value all zeros). The shared value is wiped before returning.
 */
int streamkey_secret(const uint8_t priv[STREAMKEY_LEN], const uint8_t peer_pub[STREAMKEY_LEN],
    const uint8_t client_pub[STREAMKEY_LEN], const uint8_t server_pub[STREAMKEY_LEN],
    const uint8_t id[STREAMKEY_ID_LEN], uint8_t secret[STREAMKEY_LEN]);
/* The resume proof for a challenge, binding the offset the client reports:
 *
 *   HMAC-SHA256(key = secret, "persh resume" || id || challenge || offset u64)
 */
int streamkey_proof(const uint8_t secret[STREAMKEY_LEN], const uint8_t id[STREAMKEY_ID_LEN],
    const uint8_t challenge[STREAMKEY_LEN], uint64_t offset, uint8_t proof[STREAMKEY_LEN]);
/* 1 if proof is right, compared in constant time; 0 otherwise. */
int streamkey_check(const uint8_t secret[STREAMKEY_LEN], const uint8_t id[STREAMKEY_ID_LEN],
    const uint8_t challenge[STREAMKEY_LEN], uint64_t offset, const uint8_t proof[STREAMKEY_LEN]);
/* Constant-time comparison of len bytes: 1 if equal. */
int streamkey_equal(const void *a, const void *b, size_t len);
/* Overwrite key material so that it does not outlive its use. */
void streamkey_wipe(void *p, size_t len);

#endif
