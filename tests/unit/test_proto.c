/* Wire protocol: encode/decode round trips, truncated, oversized and forged
 * frames. */
#include <criterion/criterion.h>
#include <string.h>

#include "proto.h"
#include "util.h"

static uint8_t buf[PROTO_MAX_PAYLOAD];

Test(header, round_trip)
{
	uint8_t h[PROTO_HEADER_LEN];
	uint16_t type;
	uint32_t len;

	proto_header_encode(h, PROTO_OUTPUT, 1234);
	cr_assert_eq(proto_header_decode(h, &type, &len), 0);
	cr_assert_eq(type, PROTO_OUTPUT);
	cr_assert_eq(len, 1234);
}

Test(header, oversized_length_refused_before_allocation)
{
	uint8_t h[PROTO_HEADER_LEN];
	uint16_t type;
	uint32_t len;

	proto_header_encode(h, PROTO_INPUT, PROTO_MAX_PAYLOAD);
	cr_assert_eq(proto_header_decode(h, &type, &len), 0, "the maximum itself is fine");
	proto_header_encode(h, PROTO_INPUT, PROTO_MAX_PAYLOAD + 1);
	cr_assert_eq(proto_header_decode(h, &type, &len), -1);
	memset(h, 0xff, sizeof h);
	cr_assert_eq(proto_header_decode(h, &type, &len), -1);
}

Test(header, nonzero_reserved_refused)
{
	uint8_t h[PROTO_HEADER_LEN];
	uint16_t type;
	uint32_t len;

	proto_header_encode(h, PROTO_HELLO, 16);
	h[3] = 1;
	cr_assert_eq(proto_header_decode(h, &type, &len), -1);
}

Test(hello, round_trip_and_magic)
{
	struct proto_hello a = { PROTO_MAGIC, PROTO_VERSION, 0, 12000, 4242 }, b;
	size_t n = proto_hello_encode(buf, &a);

	cr_assert_eq(n, 16);
	cr_assert_eq(proto_hello_decode(buf, n, &b), 0);
	cr_assert_eq(b.version, PROTO_VERSION);
	cr_assert_eq(b.hb_timeout_ms, 12000);
	cr_assert_eq(b.pid, 4242);
	cr_assert_eq(proto_hello_decode(buf, n - 1, &b), -1, "truncated");
	buf[0] ^= 1;
	cr_assert_eq(proto_hello_decode(buf, n, &b), -1, "bad magic");
}

Test(hello, future_version_still_decodes)
{
	struct proto_hello a = { PROTO_MAGIC, 7, 0, 1000, 1 }, b;
	size_t n = proto_hello_encode(buf, &a);

	/* A longer hello from a newer client must decode so that it can be
	 * told which version we speak. */
	memset(buf + n, 0xAA, 8);
	cr_assert_eq(proto_hello_decode(buf, n + 8, &b), 0);
	cr_assert_eq(b.version, 7);
}

Test(attach, round_trip)
{
	struct proto_attach a, b;
	size_t n;

	memset(&a, 0, sizeof a);
	a.rows = 50;
	a.cols = 200;
	a.flags = PROTO_ATTACH_CREATE | PROTO_ATTACH_RESUME;
	a.offset = 0x1122334455667788ull;
	strcpy(a.name, "work");
	strcpy(a.term, "xterm-256color");
	n = proto_attach_encode(buf, &a);
	cr_assert_eq(proto_attach_decode(buf, n, &b), 0);
	cr_assert_eq(b.rows, 50);
	cr_assert_eq(b.cols, 200);
	cr_assert_eq(b.flags, a.flags);
	cr_assert_eq(b.offset, a.offset);
	cr_assert_str_eq(b.name, "work");
	cr_assert_str_eq(b.term, "xterm-256color");
}

Test(attach, every_truncation_refused)
{
	struct proto_attach a, b;
	size_t n;

	memset(&a, 0, sizeof a);
	strcpy(a.name, "main");
	strcpy(a.term, "vt100");
	n = proto_attach_encode(buf, &a);
	for (size_t k = 0; k < n; k++)
		cr_assert_eq(proto_attach_decode(buf, k, &b), -1, "length %zu of %zu", k, n);
	cr_assert_eq(proto_attach_decode(buf, n, &b), 0);
	buf[n] = 'x';
	cr_assert_eq(proto_attach_decode(buf, n + 1, &b), -1, "trailing garbage");
}

Test(attach, string_length_past_the_end_refused)
{
	struct proto_attach b;

	memset(buf, 0, 18);
	buf[16] = 200; /* name claims 200 bytes */
	cr_assert_eq(proto_attach_decode(buf, 18, &b), -1);
}

Test(attach, embedded_nul_refused)
{
	struct proto_attach a, b;
	size_t n;

	memset(&a, 0, sizeof a);
	strcpy(a.name, "ab");
	strcpy(a.term, "t");
	n = proto_attach_encode(buf, &a);
	buf[17] = '\0'; /* first name byte */
	cr_assert_eq(proto_attach_decode(buf, n, &b), -1);
}

Test(attached, round_trip)
{
	struct proto_attached a = { 99, 24, 80, 123456789, PROTO_ATTACHED_CREATED, "s1" }, b;
	size_t n = proto_attached_encode(buf, &a);

	cr_assert_eq(proto_attached_decode(buf, n, &b), 0);
	cr_assert_eq(b.pid, 99);
	cr_assert_eq(b.offset, 123456789);
	cr_assert_eq(b.flags, PROTO_ATTACHED_CREATED);
	cr_assert_str_eq(b.name, "s1");
	cr_assert_eq(proto_attached_decode(buf, n - 1, &b), -1);
}

Test(session_row, round_trip_with_negative_fields)
{
	struct proto_session a, b;
	size_t n;

	memset(&a, 0, sizeof a);
	a.pid = 7;
	a.rows = 1;
	a.cols = 65535;
	a.clients = 3;
	a.state = PROTO_S_EXITED;
	a.exit_status = -1;
	a.created = 1700000000;
	a.idle_ms = 5;
	strcpy(a.name, "x");
	n = proto_session_encode(buf, &a);
	cr_assert_eq(proto_session_decode(buf, n, &b), 0);
	cr_assert_eq(b.exit_status, -1);
	cr_assert_eq(b.cols, 65535);
	cr_assert_eq(b.created, 1700000000);
	cr_assert_eq(b.state, PROTO_S_EXITED);
	cr_assert_str_eq(b.name, "x");
}

Test(text, round_trip_and_truncated_to_255)
{
	struct proto_text t;
	char longtext[400];
	size_t n;

	n = proto_text_encode(buf, PROTO_E_NOSESSION, "no session named 'x'");
	cr_assert_eq(proto_text_decode(buf, n, &t), 0);
	cr_assert_eq(t.code, PROTO_E_NOSESSION);
	cr_assert_str_eq(t.text, "no session named 'x'");
	memset(longtext, 'a', sizeof longtext - 1);
	longtext[sizeof longtext - 1] = '\0';
	n = proto_text_encode(buf, 1, longtext);
	cr_assert_eq(n, 2 + 1 + PROTO_MAX_TEXT);
	cr_assert_eq(proto_text_decode(buf, n, &t), 0);
	cr_assert_eq(strlen(t.text), PROTO_MAX_TEXT);
}

Test(name_payload, round_trip_and_capacity)
{
	char name[8];
	size_t n = proto_name_encode(buf, "abcdefghij");

	cr_assert_eq(proto_name_decode(buf, n, name, sizeof name), -1, "does not fit cap");
	n = proto_name_encode(buf, "abc");
	cr_assert_eq(proto_name_decode(buf, n, name, sizeof name), 0);
	cr_assert_str_eq(name, "abc");
	cr_assert_eq(proto_name_decode(buf, 0, name, sizeof name), -1, "empty payload");
}

Test(words, every_code_has_words)
{
	for (uint16_t c = PROTO_E_VERSION; c <= PROTO_E_STATE; c++)
		cr_assert_str_neq(proto_error_text(c), "unknown error", "code %u", c);
	for (uint16_t r = PROTO_R_REQUESTED; r <= PROTO_R_SHUTDOWN; r++)
		cr_assert_str_neq(proto_reason_text(r), "unknown", "reason %u", r);
}
