/* The keys of a relay stream over OpenSSL 3 libcrypto: X25519 through the
 * EVP_PKEY interface, HMAC-SHA256 through EVP_Q_mac, RAND_bytes, and
 * OPENSSL_cleanse/CRYPTO_memcmp for wiping and comparing. */
#include "streamkey.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "util.h"

#define STREAMKEY_LABEL "persh relay v1"
#define STREAMKEY_RESUME "persh resume"

/* Fill buf with random bytes. */
int
streamkey_random(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

/* A fresh X25519 key pair (the private key is random bytes; X25519 clamps
 * them itself). */
int
streamkey_keypair(uint8_t priv[STREAMKEY_LEN], uint8_t pub[STREAMKEY_LEN])
{
	EVP_PKEY *key;
	size_t len = STREAMKEY_LEN;
	int rc = -1;

	if (streamkey_random(priv, STREAMKEY_LEN) == -1)
		return -1;
	key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, STREAMKEY_LEN);
	if (key != NULL && EVP_PKEY_get_raw_public_key(key, pub, &len) == 1 &&
	    len == STREAMKEY_LEN)
		rc = 0;
	EVP_PKEY_free(key);
	if (rc == -1)
		streamkey_wipe(priv, STREAMKEY_LEN);
	return rc;
}

/* X25519(priv, peer_pub) into shared; -1 on failure, including the
 * all-zero result of a low-order peer key, which OpenSSL refuses. */
static int
streamkey_exchange(const uint8_t priv[STREAMKEY_LEN], const uint8_t peer_pub[STREAMKEY_LEN],
    uint8_t shared[STREAMKEY_LEN])
{
	EVP_PKEY *ours = NULL, *theirs = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	size_t len = STREAMKEY_LEN;
	int rc = -1;

	ours = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, STREAMKEY_LEN);
	theirs = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer_pub, STREAMKEY_LEN);
	if (ours == NULL || theirs == NULL)
		goto out;
	ctx = EVP_PKEY_CTX_new(ours, NULL);
	if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer(ctx, theirs) != 1 ||
	    EVP_PKEY_derive(ctx, shared, &len) != 1 || len != STREAMKEY_LEN)
		goto out;
	rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(ours);
	EVP_PKEY_free(theirs);
	if (rc == -1)
		streamkey_wipe(shared, STREAMKEY_LEN);
	return rc;
}

/* HMAC-SHA256(key, msg) into out. */
static int
streamkey_hmac(const uint8_t key[STREAMKEY_LEN], const uint8_t *msg, size_t len,
    uint8_t out[STREAMKEY_LEN])
{
	size_t outlen = 0;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, STREAMKEY_LEN, msg, len, out,
		STREAMKEY_LEN, &outlen) == NULL || outlen != STREAMKEY_LEN)
		return -1;
	return 0;
}

/* The stream secret from our private key and both public keys. */
int
streamkey_secret(const uint8_t priv[STREAMKEY_LEN], const uint8_t peer_pub[STREAMKEY_LEN],
    const uint8_t client_pub[STREAMKEY_LEN], const uint8_t server_pub[STREAMKEY_LEN],
    const uint8_t id[STREAMKEY_ID_LEN], uint8_t secret[STREAMKEY_LEN])
{
	uint8_t shared[STREAMKEY_LEN];
	uint8_t msg[sizeof STREAMKEY_LABEL - 1 + 2 * STREAMKEY_LEN + STREAMKEY_ID_LEN];
	size_t off = 0;
	int rc;

	if (streamkey_exchange(priv, peer_pub, shared) == -1) {
		streamkey_wipe(secret, STREAMKEY_LEN);
		return -1;
	}
	memcpy(msg, STREAMKEY_LABEL, sizeof STREAMKEY_LABEL - 1);
	off += sizeof STREAMKEY_LABEL - 1;
	memcpy(msg + off, client_pub, STREAMKEY_LEN);
	off += STREAMKEY_LEN;
	memcpy(msg + off, server_pub, STREAMKEY_LEN);
	off += STREAMKEY_LEN;
	memcpy(msg + off, id, STREAMKEY_ID_LEN);
	off += STREAMKEY_ID_LEN;
	rc = streamkey_hmac(shared, msg, off, secret);
	streamkey_wipe(shared, sizeof shared);
	if (rc == -1)
		streamkey_wipe(secret, STREAMKEY_LEN);
	return rc;
}

/* The resume proof for a challenge and the offset it reports. */
int
streamkey_proof(const uint8_t secret[STREAMKEY_LEN], const uint8_t id[STREAMKEY_ID_LEN],
    const uint8_t challenge[STREAMKEY_LEN], uint64_t offset, uint8_t proof[STREAMKEY_LEN])
{
	uint8_t msg[sizeof STREAMKEY_RESUME - 1 + STREAMKEY_ID_LEN + STREAMKEY_LEN + 8];
	size_t off = 0;

	memcpy(msg, STREAMKEY_RESUME, sizeof STREAMKEY_RESUME - 1);
	off += sizeof STREAMKEY_RESUME - 1;
	memcpy(msg + off, id, STREAMKEY_ID_LEN);
	off += STREAMKEY_ID_LEN;
	memcpy(msg + off, challenge, STREAMKEY_LEN);
	off += STREAMKEY_LEN;
	put64(msg + off, offset);
	off += 8;
	return streamkey_hmac(secret, msg, off, proof);
}

/* 1 if proof answers the challenge under secret. */
int
streamkey_check(const uint8_t secret[STREAMKEY_LEN], const uint8_t id[STREAMKEY_ID_LEN],
    const uint8_t challenge[STREAMKEY_LEN], uint64_t offset, const uint8_t proof[STREAMKEY_LEN])
{
	uint8_t want[STREAMKEY_LEN];
	int ok;

	if (streamkey_proof(secret, id, challenge, offset, want) == -1)
		return 0;
	ok = streamkey_equal(want, proof, STREAMKEY_LEN);
	streamkey_wipe(want, sizeof want);
	return ok;
}

/* Constant-time equality. */
int
streamkey_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

/* Overwrite key material. */
void
streamkey_wipe(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}
