/* test_wire.c — frame normaliser on hand-built frames: every link layer and
 * encapsulation wire.c supports, IPv6 translation, fragments, checksums,
 * truncation. Exact bytes and counters are asserted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "wire.h"

/* ---- packet builders (checksums computed) ---- */

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
    for (; n > 1; p += 2, n -= 2) s += (uint32_t)(p[0] << 8 | p[1]);
    if (n) s += (uint32_t)p[0] << 8;
    return s;
}
static uint16_t fold(uint32_t s)
{
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}
static void w16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void w32(uint8_t *p, uint32_t v) { w16(p, v >> 16); w16(p + 2, v & 0xffff); }

/* TCP header (20 bytes, no options) + payload at p; checksum left 0. */
static size_t tcp_seg(uint8_t *p, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                      uint8_t flags, const char *pay)
{
    size_t n = pay ? strlen(pay) : 0;
    memset(p, 0, 20);
    w16(p, sport); w16(p + 2, dport); w32(p + 4, seq); w32(p + 8, ack);
    p[12] = 5 << 4; p[13] = flags; w16(p + 14, 65535);
    if (n) memcpy(p + 20, pay, n);
    return 20 + n;
}

/* IPv4/TCP packet from a.b.c.d style host-order addresses; returns length. */
static size_t ip4_tcp(uint8_t *b, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                      const char *pay)
{
    size_t tl = tcp_seg(b + 20, sport, dport, 1000, 2000, 0x18, pay);
    memset(b, 0, 20);
    b[0] = 0x45; w16(b + 2, (unsigned)(20 + tl)); w16(b + 4, 7); b[8] = 64; b[9] = 6;
    w32(b + 12, src); w32(b + 16, dst);
    w16(b + 10, fold(sum16(0, b, 20)));
    uint32_t ps = sum16(0, b + 12, 8) + 6 + (uint32_t)tl;
    w16(b + 20 + 16, fold(sum16(ps, b + 20, tl)));
    return 20 + tl;
}

static const uint8_t V6A[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t V6B[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

/* IPv6 header at b with payload length plen and next header nh. */
static void ip6_hdr(uint8_t *b, const uint8_t *src, const uint8_t *dst, size_t plen, uint8_t nh)
{
    memset(b, 0, 40);
    b[0] = 0x60 | 0x0a;   /* traffic class 0xa0 */
    b[1] = 0x00;
    w16(b + 4, (unsigned)plen); b[6] = nh; b[7] = 33;
    memcpy(b + 8, src, 16); memcpy(b + 24, dst, 16);
}

static void tcp6_csum(const uint8_t *ip6, uint8_t *seg, size_t n)
{
    uint32_t ps = sum16(0, ip6 + 8, 32) + 6 + (uint32_t)n;
    w16(seg + 16, 0);
    w16(seg + 16, fold(sum16(ps, seg, n)));
}

#define A(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
static const uint8_t ETH_MACS[12] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2 };

struct out { const uint8_t *ip; uint32_t len; };

static enum sift_wire_verdict run(struct sift_wire *w, int dlt, const uint8_t *f, size_t n,
                                  struct out *o)
{
    return sift_wire_normalise(w, dlt, f, (uint32_t)n, (uint32_t)n, &o->ip, &o->len);
}

/* ---- tests ---- */

static void test_ethernet_ipv4(void **state)
{
    (void)state;
    struct sift_wire *w = sift_wire_new();
    uint8_t f[200];
    memcpy(f, ETH_MACS, 12); w16(f + 12, 0x0800);
    size_t il = ip4_tcp(f + 14, A(10, 0, 0, 1), A(10, 0, 0, 2), 40000, 25, "EHLO x\r\n");
    /* 4 bytes of Ethernet padding beyond the IP total length */
    memset(f + 14 + il, 0xee, 4);
    struct out o;
    assert_int_equal(run(w, 1, f, 14 + il + 4, &o), SIFT_WIRE_IPV4);
    assert_ptr_equal(o.ip, f + 14);            /* borrowed, not copied */
    assert_int_equal(o.len, 48);
    const struct sift_wire_stats *s = sift_wire_stats(w);
    assert_int_equal(s->frames, 1);
    assert_int_equal(s->ipv4, 1);
    assert_int_equal(s->bad_ip_csum, 0);
    assert_int_equal(s->bad_tcp_csum, 0);
    assert_int_equal(s->vlan_tagged, 0);
    sift_wire_free(w);
}

static void test_qinq(void **state)
{
    (void)state;
    struct sift_wire *w = sift_wire_new();
    uint8_t f[200];
    memcpy(f, ETH_MACS, 12);
    w16(f + 12, 0x88a8); w16(f + 14, 100); w16(f + 16, 0x8100); w16(f + 18, 200); w16(f + 20, 0x0800);
    size_t il = ip4_tcp(f + 22, A(10, 0, 0, 1), A(10, 0, 0, 2), 40000, 25, "QUIT\r\n");
    struct out o;
    assert_int_equal(run(w, 1, f, 22 + il, &o), SIFT_WIRE_IPV4);
    assert_ptr_equal(o.ip, f + 22);
    assert_int_equal(o.len, il);
    assert_int_equal(sift_wire_stats(w)->vlan_tagged, 1);
    assert_int_equal(sift_wire_stats(w)->ipv4, 1);
    sift_wire_free(w);
}

static void test_mpls(void **state)
{
    (void)state;
    struct sift_wire *w = sift_wire_new();
    uint8_t f[200];
    memcpy(f, ETH_MACS, 12); w16(f + 12, 0x8847);
    uint8_t labels[8] = { 0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40 };   /* 2 labels, S on 2nd */
    memcpy(f + 14, labels, 8);
    size_t il = ip4_tcp(f + 22, A(10, 0, 0, 1), A(10, 0, 0, 2), 40000, 25, "x");
    struct out o;
    assert_int_equal(run(w, 1, f, 22 + il, &o), SIFT_WIRE_IPV4);
    assert_ptr_equal(o.ip, f + 22);
    /* label stack without a bottom: malformed */
    assert_int_equal(run(w, 1, f, 18, &o), SIFT_WIRE_MALFORMED);
    sift_wire_free(w);
}

static void test_pppoe(void **state)
{
    (void)state;
    struct sift_wire *w = sift_wire_new();
    uint8_t f[200];
    memcpy(f, ETH_MACS, 12); w16(f + 12, 0x8864);
    uint8_t ph[8] = { 0x11, 0x00, 0x12, 0x34, 0, 0, 0x00, 0x21 };
    memcpy(f + 14, ph, 8);
    size_t il = ip4_tcp(f + 22, A(10, 0, 0, 1), A(10, 0, 0, 2), 40000, 25, "x");
    w16(f + 18, (unsigned)(il + 2));
    struct out o;
    assert_int_equal(run(w, 1, f, 22 + il, &o), SIFT_WIRE_IPV4);
    assert_ptr_equal(o.ip, f + 22);
    w16(f + 20, 0xc021);                       /* LCP */
    assert_int_equal(run(w, 1, f, 22 + il, &o), SIFT_WIRE_NOT_IP);
    sift_wire_free(w);
}

static void test_sll_sll2(void **state)
{
    (void)state;
    struct sift_wire *w = sift_wire_new();
    uint8_t f[200];
    struct out o;
    memset(f, 0, 16); w16(f, 0); w16(f + 2, 1); w16(f + 4, 6); w16(f + 14, 0x0800);
    size_t il = ip4_tcp(f + 16, A(10, 0, 0, 1), A(10, 0, 0, 2), 40000, 25, "x");
    assert_int_equal(run(w, 113, f, 16 + il, &o), SIFT_WIRE_IPV4);
    assert_ptr_equal(o.ip, f + 16);
    memset(f, 0, 20); w16(f, 0x0800); w16(f + 8, 1);
    il = ip4_tcp(f + 20, A(10, 0, 0, 1), A(10, 0, 0, 2), 40000, 25, "x");
    assert_int_equal(run(w, 276, f, 20 + il, &o), SIFT_WIRE_IPV4);
    assert_ptr_equal(o.ip, f + 20);
    assert_int_equal(run(w, 276, f, 19, &o), SIFT_WIRE_MALFORMED);
    assert_int_equal(sift_wire_stats(w)->ipv4, 2);
    assert_int_equal(sift_wire_stats(w)->malformed, 1);
    sift_wire_free(w);
}

static void test_null_loop(void **state)
{
    (void)state;
    struct sift_wire *w = sift_wire_new();
    uint8_t f[200];
    struct out o;
    size_t il = ip4_tcp(f + 4, A(10, 0, 0, 1), A(10, 0, 0, 2), 40000, 25, "x");
    const uint8_t le[4] = { 2, 0, 0, 0 }, be[4] = { 0, 0, 0, 2 };
    memcpy(f, le, 4);
    assert_int_equal(run(w, 0, f, 4 + il, &o), SIFT_WIRE_IPV4);
    assert_ptr_equal(o.ip, f + 4);
    memcpy(f, be, 4);
    assert_int_equal(run(w, 0, f, 4 + il, &o), SIFT_WIRE_IPV4);
    assert_int_equal(run(w, 108, f, 4 + il, &o), SIFT_WIRE_IPV4);
    const uint8_t other[4] = { 0, 0, 0, 7 };
    memcpy(f, other, 4);
    assert_int_equal(run(w, 108, f, 4 + il, &o), SIFT_WIRE_NOT_IP);
    /* AF_INET6 as 30 (macOS) in host order, with an IPv6/TCP packet */
    const uint8_t v6le[4] = { 30, 0, 0, 0 };
    memcpy(f, v6le, 4);
    size_t tl = tcp_seg(f + 44, 40000, 25, 1, 2, 0x10, NULL);
    ip6_hdr(f + 4, V6A, V6B, tl, 6);
    tcp6_csum(f + 4, f + 44, tl);
    assert_int_equal(run(w, 0, f, 44 + tl, &o), SIFT_WIRE_IPV4);
    assert_int_equal(o.len, 40);
    assert_int_equal(sift_wire_stats(w)->ipv4, 3);
    assert_int_equal(sift_wire_stats(w)->ipv6, 1);
    sift_wire_free(w);
}

static void test_raw(void **state)
{
    (void)state;
    struct sift_wire *w = sift_wire_new();
    uint8_t f[200];
    struct out o;
    size_t il = ip4_tcp(f, A(10, 0, 0, 1), A(10, 0, 0, 2), 40000, 25, "x");
    const int dlts[] = { 12, 14, 101, 228 };
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(run(w, dlts[i], f, il, &o), SIFT_WIRE_IPV4);
        assert_ptr_equal(o.ip, f);
        assert_int_equal(o.len, il);
    }
    assert_int_equal(run(w, 105, f, il, &o), SIFT_WIRE_UNSUPPORTED);   /* 802.11 */
    assert_int_equal(run(w, 229, f, il, &o), SIFT_WIRE_MALFORMED);     /* v4 bytes as DLT_IPV6 */
    sift_wire_free(w);
}

static void test_ipv6_translated(void **state)
{
    (void)state;
    struct sift_wire *w = sift_wire_new();
    uint8_t f[300];
    struct out o;
    memcpy(f, ETH_MACS, 12); w16(f + 12, 0x86dd);
    /* IPv6 + hop-by-hop (8 bytes, PadN) + TCP "MAIL\r\n" */
    uint8_t *ip6 = f + 14, *hbh = f + 54, *seg = f + 62;
    size_t tl = tcp_seg(seg, 40000, 25, 1000, 2000, 0x18, "MAIL\r\n");
    ip6_hdr(ip6, V6A, V6B, 8 + tl, 0);
    memset(hbh, 0, 8); hbh[0] = 6; hbh[1] = 0; hbh[2] = 1; hbh[3] = 4;
    tcp6_csum(ip6, seg, tl);
    assert_int_equal(run(w, 1, f, 62 + tl, &o), SIFT_WIRE_IPV4);
    assert_int_equal(o.len, 20 + tl);
    const uint8_t hdr[20] = { 0x45, 0xa0, 0x00, (uint8_t)(20 + tl), 0, 0, 0x40, 0x00, 33, 6, 0, 0,
                              240, 0, 0, 1, 240, 0, 0, 2 };
    uint8_t got[20];
    memcpy(got, o.ip, 20);
    assert_int_equal(fold(sum16(0, got, 20)), 0);     /* header checksum valid */
    got[10] = got[11] = 0;
    assert_memory_equal(got, hdr, 20);
    assert_memory_equal(o.ip + 20, seg, tl);          /* TCP segment unchanged */
    char buf[46];
    uint32_t a_be;
    memcpy(&a_be, o.ip + 12, 4);
    assert_int_equal(sift_wire_addr_string(w, a_be, buf, sizeof buf), 6);
    assert_string_equal(buf, "2001:db8::1");
    memcpy(&a_be, o.ip + 16, 4);
    assert_int_equal(sift_wire_addr_string(w, a_be, buf, sizeof buf), 6);
    assert_string_equal(buf, "2001:db8::2");
    const uint8_t v4[4] = { 10, 0, 0, 9 };
    memcpy(&a_be, v4, 4);
    assert_int_equal(sift_wire_addr_string(w, a_be, buf, sizeof buf), 4);
    assert_string_equal(buf, "10.0.0.9");
    /* the reply: same two synthetic addresses, swapped */
    tl = tcp_seg(f + 54, 25, 40000, 2000, 1006, 0x10, NULL);
    ip6_hdr(ip6, V6B, V6A, tl, 6);
    tcp6_csum(ip6, f + 54, tl);
    assert_int_equal(run(w, 1, f, 54 + tl, &o), SIFT_WIRE_IPV4);
    const uint8_t addrs[8] = { 240, 0, 0, 2, 240, 0, 0, 1 };
    assert_memory_equal(o.ip + 12, addrs, 8);
    const struct sift_wire_stats *s = sift_wire_stats(w);
    assert_int_equal(s->ipv6, 2);
    assert_int_equal(s->ipv4, 0);
    assert_int_equal(s->bad_tcp_csum, 0);
    /* a real IPv4 TCP packet in 240.0.0.0/8 would be ambiguous: refused */
    size_t il = ip4_tcp(f + 14, A(240, 0, 0, 1), A(10, 0, 0, 2), 1, 2, NULL);
    w16(f + 12, 0x0800);
    assert_int_equal(run(w, 1, f, 14 + il, &o), SIFT_WIRE_UNSUPPORTED);
    sift_wire_free(w);
}

static void test_ipv6_fragment(void **state)
{
    (void)state;
    struct sift_wire *w = sift_wire_new();
    uint8_t f[300];
    struct out o;
    memcpy(f, ETH_MACS, 12); w16(f + 12, 0x86dd);
    uint8_t *ip6 = f + 14, *fh = f + 54;
    /* first fragment: 8-byte fragment header, 24 bytes of the TCP segment */
    uint8_t seg[64];
    size_t tl = tcp_seg(seg, 40000, 25, 1, 2, 0x18, "0123456789abcdefABCDEF");   /* 42 bytes */
    ip6_hdr(ip6, V6A, V6B, 8 + 24, 44);
    memset(fh, 0, 8); fh[0] = 6; w16(fh + 2, (0 << 3) | 1); w32(fh + 4, 0x12345678);
    memcpy(f + 62, seg, 24);
    assert_int_equal(run(w, 1, f, 62 + 24, &o), SIFT_WIRE_IPV4);
    assert_int_equal(o.len, 44);
    const uint8_t h1[10] = { 0x45, 0xa0, 0, 44, 0x44, 0x4c, 0x20, 0x00, 33, 6 };
    assert_memory_equal(o.ip, h1, 10);
    assert_memory_equal(o.ip + 20, seg, 24);
    /* second fragment: offset 24 bytes = 3 units, last */
    ip6_hdr(ip6, V6A, V6B, 8 + (tl - 24), 44);
    w16(fh + 2, 3 << 3);
    memcpy(f + 62, seg + 24, tl - 24);
    assert_int_equal(run(w, 1, f, 62 + tl - 24, &o), SIFT_WIRE_IPV4);
    const uint8_t h2[10] = { 0x45, 0xa0, 0, (uint8_t)(20 + tl - 24), 0x44, 0x4c, 0x00, 0x03, 33, 6 };
    assert_memory_equal(o.ip, h2, 10);
    assert_int_equal(sift_wire_stats(w)->fragments, 2);
    /* a UDP fragment is not TCP */
    fh[0] = 17;
    assert_int_equal(run(w, 1, f, 62 + tl - 24, &o), SIFT_WIRE_NOT_TCP);
    sift_wire_free(w);
}

static void test_ipv4_fragments_pass(void **state)
{
    (void)state;
    struct sift_wire *w = sift_wire_new();
    uint8_t f[200];
    struct out o;
    size_t il = ip4_tcp(f, A(10, 0, 0, 1), A(10, 0, 0, 2), 40000, 25, "0123456789");
    w16(f + 6, 0x0003);                         /* non-first, last fragment: no TCP header */
    assert_int_equal(run(w, 12, f, il, &o), SIFT_WIRE_IPV4);
    assert_ptr_equal(o.ip, f);
    w16(f + 6, 0x2000);                         /* first fragment */
    assert_int_equal(run(w, 12, f, il, &o), SIFT_WIRE_IPV4);
    assert_int_equal(sift_wire_stats(w)->fragments, 2);
    assert_int_equal(sift_wire_stats(w)->bad_tcp_csum, 0);   /* not checked on fragments */
    sift_wire_free(w);
}

static void test_not_ip_not_tcp(void **state)
{
    (void)state;
    struct sift_wire *w = sift_wire_new();
    uint8_t f[200] = { 0 };
    struct out o;
    memcpy(f, ETH_MACS, 12); w16(f + 12, 0x0806);
    assert_int_equal(run(w, 1, f, 42, &o), SIFT_WIRE_NOT_IP);
    assert_null(o.ip);
    w16(f + 12, 0x0800);
    size_t il = ip4_tcp(f + 14, A(10, 0, 0, 1), A(10, 0, 0, 2), 53, 53, "abcd");
    f[14 + 9] = 17;                             /* UDP */
    w16(f + 14 + 10, 0);
    w16(f + 14 + 10, fold(sum16(0, f + 14, 20)));
    assert_int_equal(run(w, 1, f, 14 + il, &o), SIFT_WIRE_NOT_TCP);
    const struct sift_wire_stats *s = sift_wire_stats(w);
    assert_int_equal(s->not_ip, 1);
    assert_int_equal(s->not_tcp, 1);
    assert_int_equal(s->frames, 2);
    sift_wire_free(w);
}

static void test_truncated_headers(void **state)
{
    (void)state;
    struct sift_wire *w = sift_wire_new();
    uint8_t f[200];
    struct out o;
    memcpy(f, ETH_MACS, 12); w16(f + 12, 0x0800);
    size_t il = ip4_tcp(f + 14, A(10, 0, 0, 1), A(10, 0, 0, 2), 40000, 25, "x");
    assert_int_equal(run(w, 1, f, 10, &o), SIFT_WIRE_MALFORMED);          /* no ethertype */
    assert_int_equal(run(w, 1, f, 14 + 19, &o), SIFT_WIRE_MALFORMED);     /* half an IP header */
    assert_int_equal(run(w, 1, f, 14 + 30, &o), SIFT_WIRE_MALFORMED);     /* ip_len > frame, no snaplen */
    f[14] = 0x44;                                                         /* IHL 4 */
    assert_int_equal(run(w, 1, f, 14 + il, &o), SIFT_WIRE_MALFORMED);
    f[14] = 0x45;
    f[14 + 20 + 12] = 0x40;                                               /* TCP data offset 16 bytes */
    assert_int_equal(run(w, 1, f, 14 + il, &o), SIFT_WIRE_MALFORMED);
    w16(f + 12, 0x8100);                                                  /* VLAN tag cut */
    assert_int_equal(run(w, 1, f, 16, &o), SIFT_WIRE_MALFORMED);
    w16(f + 12, 0x86dd);                                                  /* IPv6 header cut */
    ip6_hdr(f + 14, V6A, V6B, 20, 6);
    assert_int_equal(run(w, 1, f, 14 + 32, &o), SIFT_WIRE_MALFORMED);
    const struct sift_wire_stats *s = sift_wire_stats(w);
    assert_int_equal(s->malformed, 7);
    assert_int_equal(s->frames, 7);
    sift_wire_free(w);
}

static void test_bad_checksums_counted(void **state)
{
    (void)state;
    struct sift_wire *w = sift_wire_new();
    uint8_t f[200];
    struct out o;
    size_t il = ip4_tcp(f, A(10, 0, 0, 1), A(10, 0, 0, 2), 40000, 25, "DATA\r\n");
    f[20 + 16] ^= 0xff;                                 /* TCP checksum */
    assert_int_equal(run(w, 101, f, il, &o), SIFT_WIRE_IPV4);
    assert_ptr_equal(o.ip, f);
    f[10] ^= 0xff;                                      /* and the IP header checksum */
    assert_int_equal(run(w, 101, f, il, &o), SIFT_WIRE_IPV4);
    const struct sift_wire_stats *s = sift_wire_stats(w);
    assert_int_equal(s->bad_tcp_csum, 2);
    assert_int_equal(s->bad_ip_csum, 1);
    assert_int_equal(s->ipv4, 2);
    sift_wire_free(w);
}

static void test_tso_and_snaplen(void **state)
{
    (void)state;
    struct sift_wire *w = sift_wire_new();
    uint8_t f[200];
    struct out o;
    size_t il = ip4_tcp(f, A(10, 0, 0, 1), A(10, 0, 0, 2), 40000, 25, "0123456789");   /* 50 */
    w16(f + 2, 0);                                      /* TSO: total length 0 */
    assert_int_equal(run(w, 12, f, il, &o), SIFT_WIRE_IPV4);
    assert_ptr_not_equal(o.ip, f);                      /* copied and patched */
    assert_int_equal(o.len, 50);
    assert_int_equal(o.ip[2] << 8 | o.ip[3], 50);
    assert_int_equal(fold(sum16(0, o.ip, 20)), 0);
    /* snaplen: 50-byte packet, 45 captured → trimmed to 45 */
    w16(f + 2, 50);
    assert_int_equal(sift_wire_normalise(w, 12, f, 45, 50, &o.ip, &o.len), SIFT_WIRE_IPV4);
    assert_int_equal(o.len, 45);
    assert_int_equal(o.ip[2] << 8 | o.ip[3], 45);
    assert_memory_equal(o.ip + 20, f + 20, 25);
    /* cut inside the TCP header: unusable */
    assert_int_equal(sift_wire_normalise(w, 12, f, 30, 50, &o.ip, &o.len), SIFT_WIRE_MALFORMED);
    /* a cut fragment cannot be fed */
    w16(f + 6, 0x2000);
    assert_int_equal(sift_wire_normalise(w, 12, f, 45, 50, &o.ip, &o.len), SIFT_WIRE_MALFORMED);
    const struct sift_wire_stats *s = sift_wire_stats(w);
    assert_int_equal(s->short_frames, 3);
    assert_int_equal(s->ipv4, 2);
    assert_int_equal(s->malformed, 2);
    sift_wire_free(w);
}

/* sift_wire_set_filter: only TCP between the wanted addresses (either way
 * round), IPv4 and IPv6 alike, the real IPv6 addresses handed to the filter;
 * the rest counted as filtered; no filter again lets everything through. */
struct keep_one {
    int version;
    uint8_t a[16], b[16];
    unsigned calls;
};

static int keep_pair(void *user, int version, const uint8_t *src, const uint8_t *dst)
{
    struct keep_one *k = user;
    size_t n = version == 4 ? 4 : 16;
    k->calls++;
    return version == k->version && ((!memcmp(src, k->a, n) && !memcmp(dst, k->b, n)) ||
                                      (!memcmp(src, k->b, n) && !memcmp(dst, k->a, n)));
}

static void test_filter(void **state)
{
    (void)state;
    struct sift_wire *w = sift_wire_new();
    struct out o;
    uint8_t f4[200], f6[200];
    size_t n4 = ip4_tcp(f4, 0x0a000001, 0x0a000002, 40000, 25, "EHLO x\r\n");
    size_t n4o = 0;
    uint8_t other[200];
    n4o = ip4_tcp(other, 0x0a000001, 0x0a000003, 40001, 25, "EHLO y\r\n");
    size_t tl = tcp_seg(f6 + 40, 40000, 25, 1000, 2000, 0x18, "MAIL\r\n");
    ip6_hdr(f6, V6A, V6B, tl, 6);
    tcp6_csum(f6, f6 + 40, tl);

    struct keep_one k = { .version = 4, .a = { 10, 0, 0, 2 }, .b = { 10, 0, 0, 1 } };
    sift_wire_set_filter(w, keep_pair, &k);
    assert_int_equal(run(w, 12, f4, n4, &o), SIFT_WIRE_IPV4);        /* DLT_RAW; reversed pair */
    assert_int_equal(run(w, 12, other, n4o, &o), SIFT_WIRE_FILTERED);
    assert_int_equal(run(w, 12, f6, 40 + tl, &o), SIFT_WIRE_FILTERED);
    k.version = 6;
    memcpy(k.a, V6B, 16);
    memcpy(k.b, V6A, 16);
    assert_int_equal(run(w, 12, f6, 40 + tl, &o), SIFT_WIRE_IPV4);   /* the IPv6 addresses, not 240/4 */
    assert_int_equal(run(w, 12, f4, n4, &o), SIFT_WIRE_FILTERED);
    assert_int_equal(k.calls, 5);
    assert_int_equal(sift_wire_stats(w)->filtered, 3);
    sift_wire_set_filter(w, NULL, NULL);
    assert_int_equal(run(w, 12, other, n4o, &o), SIFT_WIRE_IPV4);
    assert_int_equal(sift_wire_stats(w)->filtered, 3);
    sift_wire_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ethernet_ipv4),
        cmocka_unit_test(test_qinq),
        cmocka_unit_test(test_mpls),
        cmocka_unit_test(test_pppoe),
        cmocka_unit_test(test_sll_sll2),
        cmocka_unit_test(test_null_loop),
        cmocka_unit_test(test_raw),
        cmocka_unit_test(test_ipv6_translated),
        cmocka_unit_test(test_ipv6_fragment),
        cmocka_unit_test(test_ipv4_fragments_pass),
        cmocka_unit_test(test_not_ip_not_tcp),
        cmocka_unit_test(test_truncated_headers),
        cmocka_unit_test(test_bad_checksums_counted),
        cmocka_unit_test(test_tso_and_snaplen),
        cmocka_unit_test(test_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
