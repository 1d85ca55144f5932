/* The relay stream's keys: both ends derive the same secret; a proof under
 * another secret, id, challenge or offset fails; bad keys are refused. */
#include <criterion/criterion.h>
#include <string.h>

#include "streamkey.h"

struct pair {
	uint8_t priv[STREAMKEY_LEN], pub[STREAMKEY_LEN];
};

/* A fresh key pair. */
static void
keypair(struct pair *k)
{
	cr_assert_eq(streamkey_keypair(k->priv, k->pub), 0);
}

/* Both ends' secrets for one exchange. */
static void
exchange(const struct pair *client, const struct pair *server, const uint8_t *id,
    uint8_t *cs, uint8_t *ss)
{
	cr_assert_eq(streamkey_secret(client->priv, server->pub, client->pub, server->pub, id, cs),
	    0);
	cr_assert_eq(streamkey_secret(server->priv, client->pub, client->pub, server->pub, id, ss),
	    0);
}

Test(streamkey, both_ends_derive_the_same_secret)
{
	struct pair c, s;
	uint8_t id[STREAMKEY_ID_LEN], cs[STREAMKEY_LEN], ss[STREAMKEY_LEN], zero[STREAMKEY_LEN];

	memset(zero, 0, sizeof zero);
	keypair(&c);
	keypair(&s);
	cr_assert_neq(memcmp(c.pub, s.pub, STREAMKEY_LEN), 0);
	cr_assert_eq(streamkey_random(id, sizeof id), 0);
	exchange(&c, &s, id, cs, ss);
	cr_assert_eq(memcmp(cs, ss, STREAMKEY_LEN), 0);
	cr_assert_neq(memcmp(cs, zero, STREAMKEY_LEN), 0);
	/* The secret is bound to the stream id and to both public keys. */
	id[0] ^= 1;
	cr_assert_eq(streamkey_secret(c.priv, s.pub, c.pub, s.pub, id, ss), 0);
	cr_assert_neq(memcmp(cs, ss, STREAMKEY_LEN), 0);
	id[0] ^= 1;
	cr_assert_eq(streamkey_secret(c.priv, s.pub, s.pub, c.pub, id, ss), 0);
	cr_assert_neq(memcmp(cs, ss, STREAMKEY_LEN), 0, "keys swapped");
}

Test(streamkey, another_exchange_another_secret)
{
	struct pair c, s, e;
	uint8_t id[STREAMKEY_ID_LEN] = { 1 }, cs[STREAMKEY_LEN], ss[STREAMKEY_LEN];
	uint8_t es[STREAMKEY_LEN];

	keypair(&c);
	keypair(&s);
	keypair(&e);
	exchange(&c, &s, id, cs, ss);
	/* An eavesdropper with both public keys and its own private key. */
	cr_assert_eq(streamkey_secret(e.priv, s.pub, c.pub, s.pub, id, es), 0);
	cr_assert_neq(memcmp(cs, es, STREAMKEY_LEN), 0);
}

Test(streamkey, low_order_public_key_refused)
{
	struct pair c;
	uint8_t id[STREAMKEY_ID_LEN] = { 0 }, zero[STREAMKEY_LEN], out[STREAMKEY_LEN];
	/* The point of order 1 (u = 1) and u = 0: the shared value is all
	 * zeros whatever the private key, so the secret would be public. */
	uint8_t one[STREAMKEY_LEN] = { 1 };

	memset(zero, 0, sizeof zero);
	keypair(&c);
	memset(out, 0xaa, sizeof out);
	cr_assert_eq(streamkey_secret(c.priv, zero, c.pub, zero, id, out), -1);
	cr_assert_eq(memcmp(out, zero, sizeof out), 0, "nothing of a secret left on failure");
	cr_assert_eq(streamkey_secret(c.priv, one, c.pub, one, id, out), -1);
}

Test(streamkey, proof_checks_only_under_the_same_everything)
{
	struct pair c, s;
	uint8_t id[STREAMKEY_ID_LEN], secret[STREAMKEY_LEN], other[STREAMKEY_LEN];
	uint8_t challenge[STREAMKEY_LEN], proof[STREAMKEY_LEN], again[STREAMKEY_LEN];

	keypair(&c);
	keypair(&s);
	streamkey_random(id, sizeof id);
	exchange(&c, &s, id, secret, other);
	streamkey_random(challenge, sizeof challenge);
	cr_assert_eq(streamkey_proof(secret, id, challenge, 12345, proof), 0);
	cr_assert_eq(streamkey_check(other, id, challenge, 12345, proof), 1);
	/* Deterministic: the same inputs, the same proof. */
	cr_assert_eq(streamkey_proof(secret, id, challenge, 12345, again), 0);
	cr_assert_eq(memcmp(proof, again, sizeof proof), 0);

	/* Another secret. */
	memcpy(other, secret, sizeof other);
	other[31] ^= 0x80;
	cr_assert_eq(streamkey_check(other, id, challenge, 12345, proof), 0);
	/* Another id. */
	id[15] ^= 1;
	cr_assert_eq(streamkey_check(secret, id, challenge, 12345, proof), 0);
	id[15] ^= 1;
	/* Another challenge: a proof sniffed on one resume is worthless on
	 * the next, which gets a fresh challenge. */
	challenge[0] ^= 1;
	cr_assert_eq(streamkey_check(secret, id, challenge, 12345, proof), 0);
	challenge[0] ^= 1;
	/* Another offset: the reported position cannot be altered. */
	cr_assert_eq(streamkey_check(secret, id, challenge, 12346, proof), 0);
	/* Any flipped bit of the proof. */
	for (int bit = 0; bit < 8 * STREAMKEY_LEN; bit += 13) {
		proof[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		cr_assert_eq(streamkey_check(secret, id, challenge, 12345, proof), 0, "bit %d", bit);
		proof[bit / 8] ^= (uint8_t)(1 << (bit % 8));
	}
	cr_assert_eq(streamkey_check(secret, id, challenge, 12345, proof), 1);
}

Test(streamkey, truncated_and_zero_proofs_fail)
{
	uint8_t secret[STREAMKEY_LEN], id[STREAMKEY_ID_LEN], challenge[STREAMKEY_LEN];
	uint8_t proof[STREAMKEY_LEN], forged[STREAMKEY_LEN];

	streamkey_random(secret, sizeof secret);
	streamkey_random(id, sizeof id);
	streamkey_random(challenge, sizeof challenge);
	cr_assert_eq(streamkey_proof(secret, id, challenge, 0, proof), 0);
	/* A proof cut short (the rest zeros, as a short frame would leave it). */
	for (size_t keep = 0; keep < STREAMKEY_LEN; keep += 5) {
		memset(forged, 0, sizeof forged);
		memcpy(forged, proof, keep);
		cr_assert_eq(streamkey_check(secret, id, challenge, 0, forged), 0, "kept %zu", keep);
	}
	memset(forged, 0, sizeof forged);
	cr_assert_eq(streamkey_check(secret, id, challenge, 0, forged), 0);
}

Test(streamkey, equal_and_wipe)
{
	uint8_t a[40], b[40];

	memset(a, 7, sizeof a);
	memcpy(b, a, sizeof b);
	cr_assert(streamkey_equal(a, b, sizeof a));
	b[39] = 8;
	cr_assert(!streamkey_equal(a, b, sizeof a));
	cr_assert(streamkey_equal(a, b, 39));
	streamkey_wipe(a, sizeof a);
	for (size_t i = 0; i < sizeof a; i++)
		cr_assert_eq(a[i], 0);
}

Test(streamkey, random_differs)
{
	uint8_t a[32], b[32];

	cr_assert_eq(streamkey_random(a, sizeof a), 0);
	cr_assert_eq(streamkey_random(b, sizeof b), 0);
	cr_assert_neq(memcmp(a, b, sizeof a), 0);
}
