/* The relay stream protocol's frames (proto.h): round trips, and truncated,
 * oversized and forged payloads refused. */
#include <criterion/criterion.h>
#include <string.h>

#include "proto.h"
#include "util.h"

static uint8_t buf[PROTO_MAX_PAYLOAD];

/* A NEW hello with a recognisable key. */
static size_t
new_hello(void)
{
	struct proto_rhello h;

	memset(&h, 0, sizeof h);
	h.magic = PROTO_RELAY_MAGIC;
	h.version = PROTO_RELAY_VERSION;
	h.kind = PROTO_RELAY_NEW;
	h.hb_timeout_ms = 2000;
	for (int i = 0; i < PROTO_RELAY_KEY_LEN; i++)
		h.key[i] = (uint8_t)(i + 1);
	return proto_rhello_encode(buf, &h);
}

Test(rhello, new_round_trip)
{
	struct proto_rhello b;
	size_t n = new_hello();

	cr_assert_eq(n, 44);
	cr_assert_eq(get32(buf), 0x50524c59, "PRLY on the wire");
	cr_assert_eq(proto_rhello_decode(buf, n, &b), 0);
	cr_assert_eq(b.version, PROTO_RELAY_VERSION);
	cr_assert_eq(b.kind, PROTO_RELAY_NEW);
	cr_assert_eq(b.hb_timeout_ms, 2000);
	cr_assert_eq(b.key[0], 1);
	cr_assert_eq(b.key[31], 32);
}

Test(rhello, resume_round_trip)
{
	struct proto_rhello a, b;
	size_t n;

	memset(&a, 0, sizeof a);
	a.magic = PROTO_RELAY_MAGIC;
	a.version = PROTO_RELAY_VERSION;
	a.kind = PROTO_RELAY_RESUME;
	memset(a.id, 0xab, sizeof a.id);
	n = proto_rhello_encode(buf, &a);
	cr_assert_eq(n, 28);
	cr_assert_eq(proto_rhello_decode(buf, n, &b), 0);
	cr_assert_eq(b.kind, PROTO_RELAY_RESUME);
	cr_assert_eq(memcmp(a.id, b.id, sizeof a.id), 0);
}

Test(rhello, truncated_long_and_forged)
{
	struct proto_rhello b;
	size_t n = new_hello();

	for (size_t len = 0; len < n; len++)
		cr_assert_eq(proto_rhello_decode(buf, len, &b), -1, "truncated to %zu", len);
	cr_assert_eq(proto_rhello_decode(buf, n + 1, &b), -1, "one byte too many");
	/* A NEW hello's length with the RESUME kind, and the reverse. */
	put16(buf + 6, PROTO_RELAY_RESUME);
	cr_assert_eq(proto_rhello_decode(buf, n, &b), -1);
	put16(buf + 6, PROTO_RELAY_NEW);
	cr_assert_eq(proto_rhello_decode(buf, 28, &b), -1);
	put16(buf + 6, 3);
	cr_assert_eq(proto_rhello_decode(buf, n, &b), -1, "unknown kind");
	put16(buf + 6, 0);
	cr_assert_eq(proto_rhello_decode(buf, n, &b), -1, "kind 0");
	put16(buf + 6, PROTO_RELAY_NEW);
	/* The attach protocol's magic is not the relay's. */
	put32(buf, PROTO_MAGIC);
	cr_assert_eq(proto_rhello_decode(buf, n, &b), -1);
	/* An SSH banner sent to the relay port by mistake. */
	memcpy(buf, "SSH-2.0-OpenSSH_9.2p1\r\n", 23);
	cr_assert_eq(proto_rhello_decode(buf, 23, &b), -1);
}

Test(rhello, other_version_decodes_to_the_version)
{
	struct proto_rhello b;
	size_t n = new_hello();

	/* A later version, whatever its shape, is told which one we speak. */
	put16(buf + 4, 2);
	cr_assert_eq(proto_rhello_decode(buf, n, &b), 0);
	cr_assert_eq(b.version, 2);
	cr_assert_eq(proto_rhello_decode(buf, 6, &b), 0, "just magic and version");
	cr_assert_eq(proto_rhello_decode(buf, 500, &b), 0, "longer");
	cr_assert_eq(proto_rhello_decode(buf, 5, &b), -1, "not even a version");
	put16(buf + 4, 0);
	cr_assert_eq(proto_rhello_decode(buf, n, &b), 0);
	cr_assert_eq(b.version, 0);
}

Test(rwelcome, round_trip_and_sizes)
{
	struct proto_rwelcome a, b;
	size_t n;

	memset(a.id, 0x11, sizeof a.id);
	memset(a.key, 0x22, sizeof a.key);
	a.hb_timeout_ms = 12000;
	n = proto_rwelcome_encode(buf, &a);
	cr_assert_eq(n, 52);
	cr_assert_eq(proto_rwelcome_decode(buf, n, &b), 0);
	cr_assert_eq(memcmp(&a.id, &b.id, sizeof a.id), 0);
	cr_assert_eq(memcmp(&a.key, &b.key, sizeof a.key), 0);
	cr_assert_eq(b.hb_timeout_ms, 12000);
	cr_assert_eq(proto_rwelcome_decode(buf, n - 1, &b), -1);
	cr_assert_eq(proto_rwelcome_decode(buf, n + 1, &b), -1);
	cr_assert_eq(proto_rwelcome_decode(buf, 0, &b), -1);
}

Test(rproof, round_trip_and_sizes)
{
	struct proto_rproof a, b;
	size_t n;

	memset(a.proof, 0x5a, sizeof a.proof);
	a.offset = UINT64_C(0x0102030405060708);
	n = proto_rproof_encode(buf, &a);
	cr_assert_eq(n, 40);
	cr_assert_eq(proto_rproof_decode(buf, n, &b), 0);
	cr_assert_eq(b.offset, a.offset);
	cr_assert_eq(memcmp(a.proof, b.proof, sizeof a.proof), 0);
	/* A proof cut short never reads as a proof padded with anything. */
	for (size_t len = 0; len < n; len++)
		cr_assert_eq(proto_rproof_decode(buf, len, &b), -1, "truncated to %zu", len);
	cr_assert_eq(proto_rproof_decode(buf, n + 1, &b), -1);
}

Test(rresumed, round_trip_and_sizes)
{
	struct proto_rresumed a = { UINT64_MAX, 1000 }, b;
	size_t n = proto_rresumed_encode(buf, &a);

	cr_assert_eq(n, 12);
	cr_assert_eq(proto_rresumed_decode(buf, n, &b), 0);
	cr_assert_eq(b.offset, UINT64_MAX);
	cr_assert_eq(b.hb_timeout_ms, 1000);
	cr_assert_eq(proto_rresumed_decode(buf, 8, &b), -1);
	cr_assert_eq(proto_rresumed_decode(buf, 13, &b), -1);
}

Test(rchallenge, exact_size)
{
	uint8_t c[PROTO_RELAY_KEY_LEN];

	memset(buf, 0x77, PROTO_RELAY_KEY_LEN);
	cr_assert_eq(proto_rchallenge_decode(buf, PROTO_RELAY_KEY_LEN, c), 0);
	cr_assert_eq(c[31], 0x77);
	cr_assert_eq(proto_rchallenge_decode(buf, PROTO_RELAY_KEY_LEN - 1, c), -1);
	cr_assert_eq(proto_rchallenge_decode(buf, PROTO_RELAY_KEY_LEN + 1, c), -1);
	cr_assert_eq(proto_rchallenge_decode(buf, 0, c), -1);
}

Test(roffset, ack_and_eof)
{
	uint64_t off = 1;

	cr_assert_eq(proto_offset_encode(buf, UINT64_C(1) << 40), 8);
	cr_assert_eq(proto_offset_decode(buf, 8, &off), 0);
	cr_assert_eq(off, UINT64_C(1) << 40);
	cr_assert_eq(proto_offset_decode(buf, 7, &off), -1);
	cr_assert_eq(proto_offset_decode(buf, 9, &off), -1);
	cr_assert_eq(proto_offset_decode(buf, 0, &off), -1);
}

Test(rframe, data_frame_limits)
{
	uint8_t h[PROTO_HEADER_LEN];
	uint16_t type;
	uint32_t len;

	/* A full data frame fits the shared limit; more is refused by the
	 * header alone, before anything is allocated or read. */
	proto_header_encode(h, PROTO_RDATA, PROTO_MAX_DATA);
	cr_assert_eq(proto_header_decode(h, &type, &len), 0);
	cr_assert_eq(type, PROTO_RDATA);
	proto_header_encode(h, PROTO_RDATA, PROTO_MAX_PAYLOAD + 1);
	cr_assert_eq(proto_header_decode(h, &type, &len), -1);
	proto_header_encode(h, PROTO_RDATA, UINT32_MAX);
	cr_assert_eq(proto_header_decode(h, &type, &len), -1);
}

Test(rtext, error_codes_and_end_reasons)
{
	cr_assert_str_eq(proto_error_text(PROTO_E_NOSTREAM), "no such stream");
	cr_assert_str_eq(proto_error_text(PROTO_E_AUTH), "resume refused: wrong proof");
	cr_assert_str_eq(proto_end_text(PROTO_END_RESUME_WINDOW), "resume_window");
	cr_assert_str_eq(proto_end_text(PROTO_END_TARGET_ERROR), "target_error");
	cr_assert_str_eq(proto_end_text(PROTO_END_CLOSED), "closed");
	cr_assert_str_eq(proto_end_text(PROTO_END_RESUME_REFUSED), "resume_refused");
	for (uint16_t e = 1; e < PROTO_END_MAX; e++)
		cr_assert_str_neq(proto_end_text(e), "unknown", "reason %u has no name", e);
}
