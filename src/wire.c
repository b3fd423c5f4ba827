/* wire.c — frame normaliser: link layer (Ethernet + VLAN/QinQ/MPLS/PPPoE, Linux
 * SLL/SLL2, NULL/LOOP, raw IP) down to a bare IPv4 packet for libnids; IPv6
 * (RFC 8200) is translated to IPv4 with synthetic addresses in 240.0.0.0/8.
 * Checksums (RFC 1071) are verified and counted, never used to drop.
 * IPv4 fragments are put back together on request (sift_wire_defrag, RFC 791)
 * so that the TCP tracker in reasm.c sees whole segments. No TCP state here. */
#include "wire.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* Synthetic IPv6 stand-ins are 240.0.0.1 .. 240.255.255.255 (index + 1 in the
 * low 24 bits). Real IPv4 TCP traffic to or from 240.0.0.0/8 is rejected as
 * UNSUPPORTED so that the map stays unambiguous (class E, never routed). */
#define V6MAP_NET   0xF0000000u
#define V6MAP_MAX   ((1u << 24) - 1)
#define IP_MAXLEN   65535u
#define FRAG_SLOTS  64                       /* datagrams being reassembled at once */
#define FRAG_TTL_US (30LL * 1000000)         /* packet time a datagram may wait for its pieces */

/* One IPv4 datagram being put back together: payload bytes at their offset,
 * an 8-byte-block coverage map, the header of the first fragment. */
struct frag_dg {
    uint32_t src, dst;
    uint16_t id;
    int64_t first_ts;
    uint8_t hdr[60];
    size_t hlen;                 /* 0 until the offset-0 fragment arrived */
    size_t total;                /* payload length, 0 until the last fragment arrived */
    uint8_t have[8192];          /* bit per 8-byte block */
    uint8_t data[IP_MAXLEN];
};

/* Stats: every frame lands in exactly one of ipv4, ipv6 (translated and
 * delivered), not_ip, unsupported, malformed, not_tcp; the other counters
 * (vlan_tagged, fragments, checksums, short_frames) are attributes. */
struct sift_wire {
    struct sift_wire_stats st;
    /* IPv6 map: addrs[i] is the address behind 240.0.0.0 + i + 1; slots is an
     * open-addressing table of (index + 1), 0 = empty. */
    uint8_t (*addrs)[16];
    uint32_t naddrs, addrs_cap;
    uint32_t *slots;
    uint32_t nslots;          /* power of two */
    uint8_t scratch[IP_MAXLEN + 1];
    struct frag_dg *frags[FRAG_SLOTS];
    uint8_t dgram[IP_MAXLEN + 1];   /* the last datagram sift_wire_defrag completed */
    sift_wire_keep_fn keep;         /* sift_wire_set_filter, or NULL */
    void *keep_user;
};

/* ---- the one bounds-checked access primitive ------------------------------ */

/* Pointer to need bytes at off inside a buffer of len bytes, or NULL when they
 * are not all there. Every read of packet bytes goes through this. */
static const uint8_t *at(const uint8_t *base, size_t len, size_t off, size_t need)
{
    if (off > len || need > len - off) return NULL;
    return base + off;
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* ---- checksums ------------------------------------------------------------ */

/* Adds p[0..n) as big-endian 16-bit words to sum (RFC 1071; n < 2^20). Eight
 * bytes at a time: the one's complement sum of native 32-bit pieces folds to
 * that of the 16-bit words, in native byte order (RFC 1071 2(B)), swapped
 * back on a little-endian host. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    uint64_t acc = 0;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        acc += (v & 0xffffffffu) + (v >> 32);
    }
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    acc = ((acc & 0xff) << 8) | (acc >> 8);
#endif
    sum += (uint32_t)acc;
    for (; n > 1; p += 2, n -= 2) sum += be16(p);
    if (n) sum += (uint32_t)p[0] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* ---- IPv6 address map ----------------------------------------------------- */

static uint32_t v6_hash(const uint8_t a[16])
{
    uint32_t h = 2166136261u;                    /* FNV-1a */
    for (int i = 0; i < 16; i++) { h ^= a[i]; h *= 16777619u; }
    return h;
}

static void v6_rehash(struct sift_wire *w, uint32_t nslots)
{
    free(w->slots);
    w->slots = sift_xcalloc(nslots, sizeof *w->slots);
    w->nslots = nslots;
    for (uint32_t i = 0; i < w->naddrs; i++) {
        uint32_t s = v6_hash(w->addrs[i]) & (nslots - 1);
        while (w->slots[s]) s = (s + 1) & (nslots - 1);
        w->slots[s] = i + 1;
    }
}

/* Synthetic IPv4 (host order) for an IPv6 address, allocating on first sight.
 * Returns 0 when the map is full. */
static uint32_t v6_map(struct sift_wire *w, const uint8_t a[16])
{
    uint32_t s = v6_hash(a) & (w->nslots - 1);
    while (w->slots[s]) {
        uint32_t idx = w->slots[s] - 1;
        if (memcmp(w->addrs[idx], a, 16) == 0) return V6MAP_NET + idx + 1;
        s = (s + 1) & (w->nslots - 1);
    }
    if (w->naddrs >= V6MAP_MAX) return 0;
    if (w->naddrs == w->addrs_cap) {
        w->addrs_cap = w->addrs_cap ? w->addrs_cap * 2 : 64;
        w->addrs = sift_xrealloc(w->addrs, (size_t)w->addrs_cap * 16);
    }
    memcpy(w->addrs[w->naddrs], a, 16);
    w->slots[s] = ++w->naddrs;
    if ((uint64_t)w->naddrs * 2 > w->nslots) v6_rehash(w, w->nslots * 2);
    return V6MAP_NET + w->naddrs;
}

struct sift_wire *sift_wire_new(void)
{
    struct sift_wire *w = sift_xcalloc(1, sizeof *w);
    v6_rehash(w, 256);
    return w;
}

void sift_wire_free(struct sift_wire *w)
{
    if (!w) return;
    for (int i = 0; i < FRAG_SLOTS; i++) free(w->frags[i]);
    free(w->addrs);
    free(w->slots);
    free(w);
}

void sift_wire_set_filter(struct sift_wire *w, sift_wire_keep_fn keep, void *user)
{
    w->keep = keep;
    w->keep_user = user;
}

const struct sift_wire_stats *sift_wire_stats(const struct sift_wire *w)
{
    return &w->st;
}

int sift_wire_addr_string(const struct sift_wire *w, uint32_t addr_be, char *buf, size_t len)
{
    uint32_t h = ntohl(addr_be);
    if (len) buf[0] = '\0';
    if ((h & 0xFF000000u) == V6MAP_NET && h != V6MAP_NET && w && h - V6MAP_NET <= w->naddrs) {
        if (len && !inet_ntop(AF_INET6, w->addrs[h - V6MAP_NET - 1], buf, (socklen_t)len))
            buf[0] = '\0';
        return 6;
    }
    struct in_addr in = { .s_addr = addr_be };
    if (len && !inet_ntop(AF_INET, &in, buf, (socklen_t)len)) buf[0] = '\0';
    return 4;
}

/* ---- IP layer ------------------------------------------------------------- */

/* The parsed-down view handed between the steps of one call. */
struct frame_ctx {
    const uint8_t *frame;
    size_t caplen;
    int snapcut;                 /* caplen < wirelen */
    const uint8_t **ip;
    uint32_t *ip_len;
};

static enum sift_wire_verdict verdict(struct sift_wire *w, enum sift_wire_verdict v)
{
    switch (v) {
    case SIFT_WIRE_IPV4: break;   /* counted by the caller: ipv4 or ipv6 */
    case SIFT_WIRE_NOT_IP: w->st.not_ip++; break;
    case SIFT_WIRE_UNSUPPORTED: w->st.unsupported++; break;
    case SIFT_WIRE_MALFORMED: w->st.malformed++; break;
    case SIFT_WIRE_NOT_TCP: w->st.not_tcp++; break;
    case SIFT_WIRE_FILTERED: w->st.filtered++; break;
    }
    return v;
}

/* TCP checksum with the given pseudo-header sum over seg[0..n); 1 if wrong. */
static int tcp_csum_bad(uint32_t pseudo, const uint8_t *seg, size_t n)
{
    return csum_fold(csum_add(pseudo, seg, n)) != 0;
}

static int is_v6map_addr(uint32_t h) { return (h & 0xFF000000u) == V6MAP_NET; }

/* IPv4 at off. The packet is passed on borrowed from the frame when it can be
 * used as is; it is copied to scratch when its total length must change:
 * TSO (total length 0: set from the captured bytes) or snaplen cut (total
 * length trimmed to the captured bytes, only for unfragmented TCP whose header
 * was captured whole: libnids drops caplen < ip_len packets, NOTES 1.2, and a
 * trimmed one delivers the captured prefix and then stalls at the hole, which
 * the gap filler of NOTES 1.15 can later close). */
static enum sift_wire_verdict do_ipv4(struct sift_wire *w, struct frame_ctx *c, size_t off)
{
    size_t avail = c->caplen - off;
    const uint8_t *h = at(c->frame, c->caplen, off, 20);
    if (!h || (h[0] >> 4) != 4) return verdict(w, SIFT_WIRE_MALFORMED);
    size_t ihl = (size_t)(h[0] & 0x0f) * 4;
    if (ihl < 20 || !at(c->frame, c->caplen, off, ihl)) return verdict(w, SIFT_WIRE_MALFORMED);
    if (csum_fold(csum_add(0, h, ihl)) != 0) w->st.bad_ip_csum++;
    if (c->snapcut) w->st.short_frames++;

    uint16_t fragw = be16(h + 6);
    int frag = (fragw & 0x3fff) != 0;          /* MF or offset */
    if (h[9] != 6) return verdict(w, SIFT_WIRE_NOT_TCP);
    if (w->keep && !w->keep(w->keep_user, 4, h + 12, h + 16)) return verdict(w, SIFT_WIRE_FILTERED);
    if (frag) w->st.fragments++;
    if (is_v6map_addr(be32(h + 12)) || is_v6map_addr(be32(h + 16)))
        return verdict(w, SIFT_WIRE_UNSUPPORTED);

    size_t tot = be16(h + 2);
    int patch = 0;
    if (tot == 0 && !frag) {                   /* TSO: length "reported as 0" */
        tot = avail > IP_MAXLEN ? IP_MAXLEN : avail;
        patch = 1;
    }
    if (tot < ihl) return verdict(w, SIFT_WIRE_MALFORMED);
    int cut = 0;
    if (tot > avail) {
        if (!c->snapcut || frag) return verdict(w, SIFT_WIRE_MALFORMED);
        cut = 1;
    }
    size_t have = cut ? avail : tot;           /* bytes of the IP packet we hold */
    if (!frag) {
        const uint8_t *th = at(h, have, ihl, 20);
        if (!th) return verdict(w, SIFT_WIRE_MALFORMED);
        size_t thl = (size_t)(th[12] >> 4) * 4;
        if (thl < 20 || thl > have - ihl) return verdict(w, SIFT_WIRE_MALFORMED);
        if (!cut) {
            uint32_t ps = csum_add(0, h + 12, 8) + 6 + (uint32_t)(tot - ihl);
            if (tcp_csum_bad(ps, h + ihl, tot - ihl)) w->st.bad_tcp_csum++;
        }
        if (cut) { tot = have; patch = 1; }
    }
    if (patch) {
        memcpy(w->scratch, h, tot);
        put16(w->scratch + 2, (uint16_t)tot);
        put16(w->scratch + 10, 0);
        put16(w->scratch + 10, csum_fold(csum_add(0, w->scratch, ihl)));
        *c->ip = w->scratch;
    } else {
        *c->ip = h;
    }
    *c->ip_len = (uint32_t)tot;
    w->st.ipv4++;
    return SIFT_WIRE_IPV4;
}

/* IPv6 at off, translated into scratch as an IPv4 packet: same payload,
 * 20-byte header, synthetic addresses, TTL = hop limit, TOS = traffic class.
 * Hop-by-hop, routing, destination options and AH headers are skipped; a
 * fragment header becomes IPv4 fragment fields (offset and MF as is, id =
 * the two halves of the 32-bit identification xor-ed) when the fragmentable
 * part starts with TCP. The TCP checksum is left as it was (it covered the
 * IPv6 pseudo-header; libnids does not check it in our setup). */
static enum sift_wire_verdict do_ipv6(struct sift_wire *w, struct frame_ctx *c, size_t off)
{
    size_t avail = c->caplen - off;
    const uint8_t *h = at(c->frame, c->caplen, off, 40);
    if (!h || (h[0] >> 4) != 6) return verdict(w, SIFT_WIRE_MALFORMED);
    if (c->snapcut) w->st.short_frames++;
    size_t plen = be16(h + 4);
    int cut = 0;
    if (plen == 0) plen = avail - 40;   /* TSO / jumbogram: take what is there */
    if (plen > avail - 40) {
        if (!c->snapcut) return verdict(w, SIFT_WIRE_MALFORMED);
        cut = 1;
    }
    size_t end = 40 + (cut ? avail - 40 : plen);     /* captured end of the packet */
    uint8_t nh = h[6];
    size_t p = 40;
    int frag = 0;
    uint16_t fo = 0, mf = 0;
    uint32_t ident = 0;
    for (;;) {
        const uint8_t *e;
        if (nh == 0 || nh == 43 || nh == 60 || nh == 51) {
            if (frag) return verdict(w, SIFT_WIRE_UNSUPPORTED);  /* ext header inside fragments */
            if (!(e = at(h, end, p, 2))) return verdict(w, SIFT_WIRE_MALFORMED);
            size_t l = nh == 51 ? ((size_t)e[1] + 2) * 4 : ((size_t)e[1] + 1) * 8;
            nh = e[0];
            p += l;
            if (p > end) return verdict(w, SIFT_WIRE_MALFORMED);
        } else if (nh == 44) {
            if (frag) return verdict(w, SIFT_WIRE_MALFORMED);
            if (!(e = at(h, end, p, 8))) return verdict(w, SIFT_WIRE_MALFORMED);
            nh = e[0];
            fo = be16(e + 2) >> 3;
            mf = e[3] & 1;
            ident = be32(e + 4);
            p += 8;
            frag = fo != 0 || mf != 0;          /* atomic fragment = not a fragment */
        } else {
            break;
        }
    }
    if (nh != 6) return verdict(w, SIFT_WIRE_NOT_TCP);
    if (w->keep && !w->keep(w->keep_user, 6, h + 8, h + 24)) return verdict(w, SIFT_WIRE_FILTERED);
    if (frag) {
        w->st.fragments++;
        if (cut) return verdict(w, SIFT_WIRE_MALFORMED);
    }
    size_t pay = end - p;                       /* TCP bytes we hold */
    if (20 + pay > IP_MAXLEN) return verdict(w, SIFT_WIRE_UNSUPPORTED);
    if (!frag) {
        const uint8_t *th = at(h, end, p, 20);
        if (!th) return verdict(w, SIFT_WIRE_MALFORMED);
        size_t thl = (size_t)(th[12] >> 4) * 4;
        if (thl < 20 || thl > pay) return verdict(w, SIFT_WIRE_MALFORMED);
        if (!cut) {
            uint32_t ps = csum_add(0, h + 8, 32) + 6 + (uint32_t)pay;
            if (tcp_csum_bad(ps, h + p, pay)) w->st.bad_tcp_csum++;
        }
    }
    uint32_t s4 = v6_map(w, h + 8), d4 = v6_map(w, h + 24);
    if (!s4 || !d4) return verdict(w, SIFT_WIRE_UNSUPPORTED);

    uint8_t *o = w->scratch;
    memset(o, 0, 20);
    o[0] = 0x45;
    o[1] = (uint8_t)((h[0] & 0x0f) << 4 | h[1] >> 4);
    put16(o + 2, (uint16_t)(20 + pay));
    if (frag) {
        put16(o + 4, (uint16_t)((ident >> 16) ^ (ident & 0xffff)));
        put16(o + 6, (uint16_t)((mf ? 0x2000 : 0) | fo));
    } else {
        put16(o + 6, 0x4000);                   /* DF: IPv6 routers never fragment */
    }
    o[8] = h[7];
    o[9] = 6;
    uint32_t s_be = htonl(s4), d_be = htonl(d4);
    memcpy(o + 12, &s_be, 4);
    memcpy(o + 16, &d_be, 4);
    put16(o + 10, csum_fold(csum_add(0, o, 20)));
    memcpy(o + 20, h + p, pay);
    *c->ip = o;
    *c->ip_len = (uint32_t)(20 + pay);
    w->st.ipv6++;
    return SIFT_WIRE_IPV4;
}

/* Dispatch on the IP version nibble (raw IP, MPLS payload). */
static enum sift_wire_verdict do_ip_any(struct sift_wire *w, struct frame_ctx *c, size_t off,
                                        enum sift_wire_verdict other)
{
    const uint8_t *v = at(c->frame, c->caplen, off, 1);
    if (!v) return verdict(w, SIFT_WIRE_MALFORMED);
    if ((v[0] >> 4) == 4) return do_ipv4(w, c, off);
    if ((v[0] >> 4) == 6) return do_ipv6(w, c, off);
    return verdict(w, other);
}

/* ---- link layers ---------------------------------------------------------- */

/* An ethertype (Ethernet, SLL, SLL2) whose payload starts at off. Walks any
 * number of VLAN tags, an MPLS label stack and a PPPoE session header. */
static enum sift_wire_verdict do_ethertype(struct sift_wire *w, struct frame_ctx *c,
                                           uint16_t type, size_t off)
{
    int tagged = 0;
    for (;;) {
        const uint8_t *p;
        switch (type) {
        case 0x0800: return do_ipv4(w, c, off);
        case 0x86dd: return do_ipv6(w, c, off);
        case 0x8100: case 0x88a8: case 0x9100:
            if (!(p = at(c->frame, c->caplen, off, 4))) return verdict(w, SIFT_WIRE_MALFORMED);
            if (!tagged) { w->st.vlan_tagged++; tagged = 1; }
            type = be16(p + 2);
            off += 4;
            continue;
        case 0x8847: case 0x8848:               /* MPLS unicast / multicast */
            for (;;) {
                if (!(p = at(c->frame, c->caplen, off, 4))) return verdict(w, SIFT_WIRE_MALFORMED);
                off += 4;
                if (p[2] & 1) break;            /* bottom of stack */
            }
            return do_ip_any(w, c, off, SIFT_WIRE_UNSUPPORTED);
        case 0x8864: {                          /* PPPoE session (RFC 2516) */
            if (!(p = at(c->frame, c->caplen, off, 7))) return verdict(w, SIFT_WIRE_MALFORMED);
            uint16_t proto;
            off += 6;
            if (p[6] & 1) { proto = p[6]; off += 1; }      /* compressed protocol field */
            else {
                if (!(p = at(c->frame, c->caplen, off, 2))) return verdict(w, SIFT_WIRE_MALFORMED);
                proto = be16(p);
                off += 2;
            }
            if (proto == 0x0021) return do_ipv4(w, c, off);
            if (proto == 0x0057) return do_ipv6(w, c, off);
            return verdict(w, SIFT_WIRE_NOT_IP);          /* LCP, IPCP, ... */
        }
        default:
            return verdict(w, SIFT_WIRE_NOT_IP);          /* ARP, LLDP, PPPoE discovery, 802.3 */
        }
    }
}

int sift_wire_link_supported(int dlt)
{
    switch (dlt) {   /* the cases of sift_wire_normalise below */
    case 1: case 113: case 276: case 0: case 108: case 12: case 14: case 101: case 228: case 229:
        return 1;
    default:
        return 0;
    }
}

enum sift_wire_verdict sift_wire_normalise(struct sift_wire *w, int dlt,
                                           const uint8_t *frame, uint32_t caplen,
                                           uint32_t wirelen,
                                           const uint8_t **ip, uint32_t *ip_len)
{
    struct frame_ctx c = { frame, caplen, caplen < wirelen, ip, ip_len };
    const uint8_t *p;
    w->st.frames++;
    *ip = NULL;
    *ip_len = 0;
    switch (dlt) {
    case 1:                                     /* DLT_EN10MB */
        if (!(p = at(frame, caplen, 12, 2))) return verdict(w, SIFT_WIRE_MALFORMED);
        return do_ethertype(w, &c, be16(p), 14);
    case 113:                                   /* DLT_LINUX_SLL */
        if (!(p = at(frame, caplen, 14, 2))) return verdict(w, SIFT_WIRE_MALFORMED);
        return do_ethertype(w, &c, be16(p), 16);
    case 276:                                   /* DLT_LINUX_SLL2 */
        if (!(p = at(frame, caplen, 0, 20))) return verdict(w, SIFT_WIRE_MALFORMED);
        return do_ethertype(w, &c, be16(p), 20);
    case 0: case 108: {                         /* DLT_NULL (host order), DLT_LOOP (network order) */
        if (!(p = at(frame, caplen, 0, 4))) return verdict(w, SIFT_WIRE_MALFORMED);
        /* Accept either byte order for both: files move between machines. */
        uint32_t be = be32(p), le = (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
        if (be == 2 || le == 2) return do_ipv4(w, &c, 4);
        for (int i = 0; i < 2; i++) {
            uint32_t af = i ? le : be;
            if (af == 10 || af == 24 || af == 28 || af == 30) return do_ipv6(w, &c, 4);
        }
        return verdict(w, SIFT_WIRE_NOT_IP);
    }
    case 12: case 14: case 101:                 /* DLT_RAW (12; 14 on OpenBSD), LINKTYPE_RAW */
        return do_ip_any(w, &c, 0, SIFT_WIRE_MALFORMED);
    case 228:                                   /* DLT_IPV4 */
        return do_ipv4(w, &c, 0);
    case 229:                                   /* DLT_IPV6 */
        return do_ipv6(w, &c, 0);
    default:
        return verdict(w, SIFT_WIRE_UNSUPPORTED);
    }
}

/* ---- IPv4 fragment reassembly --------------------------------------------- */

static int frag_block_set(const struct frag_dg *d, size_t b) { return d->have[b >> 3] >> (b & 7) & 1; }

int sift_wire_defrag(struct sift_wire *w, const uint8_t *ip, uint32_t len, int64_t ts_us,
                     const uint8_t **out, uint32_t *out_len)
{
    *out = ip;
    *out_len = len;
    if (len < 20) return 1;
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
    uint16_t fw = be16(ip + 6);
    if (!(fw & 0x3fff)) return 1;                       /* not a fragment */
    *out = NULL;
    *out_len = 0;
    size_t off = (size_t)(fw & 0x1fff) * 8, n = len - ihl;
    int more = (fw & 0x2000) != 0;
    if (ihl < 20 || ihl > len || off + n > IP_MAXLEN - 60 || (more && (n % 8 || n == 0))) {
        w->st.frag_dropped++;
        return -1;
    }
    uint32_t src = be32(ip + 12), dst = be32(ip + 16);
    uint16_t id = be16(ip + 4);
    struct frag_dg *d = NULL;
    int slot = -1, oldest = 0;
    for (int i = 0; i < FRAG_SLOTS; i++) {
        struct frag_dg *f = w->frags[i];
        if (f && ts_us - f->first_ts > FRAG_TTL_US) {   /* expired: its pieces never all came */
            free(f);
            w->frags[i] = f = NULL;
            w->st.frag_dropped++;
        }
        if (f && f->src == src && f->dst == dst && f->id == id) { d = f; slot = i; }
        if (!f && slot < 0) slot = i;
        if (f && w->frags[oldest] && f->first_ts < w->frags[oldest]->first_ts) oldest = i;
    }
    if (!d) {
        if (slot < 0) {                                 /* table full: the oldest goes */
            slot = oldest;
            free(w->frags[slot]);
            w->st.frag_dropped++;
        }
        d = sift_xmalloc(sizeof *d);
        d->src = src;
        d->dst = dst;
        d->id = id;
        d->first_ts = ts_us;
        d->hlen = d->total = 0;
        memset(d->have, 0, sizeof d->have);
        w->frags[slot] = d;
    }
    if (off == 0 && !d->hlen) {
        memcpy(d->hdr, ip, ihl);
        d->hlen = ihl;
    }
    if (!more && !d->total) d->total = off + n;
    /* Copy only blocks not yet held: the first copy of any byte wins. */
    for (size_t p = 0; p < n; p += 8) {
        size_t b = (off + p) / 8, k = n - p < 8 ? n - p : 8;
        if (frag_block_set(d, b)) continue;
        memcpy(d->data + off + p, ip + ihl + p, k);
        d->have[b >> 3] |= (uint8_t)(1u << (b & 7));
    }
    if (!d->hlen || !d->total) return 0;
    for (size_t b = 0; b * 8 < d->total; b++)
        if (!frag_block_set(d, b)) return 0;
    size_t tot = d->hlen + d->total;
    if (tot > IP_MAXLEN) {
        free(d);
        w->frags[slot] = NULL;
        w->st.frag_dropped++;
        return -1;
    }
    memcpy(w->dgram, d->hdr, d->hlen);
    memcpy(w->dgram + d->hlen, d->data, d->total);
    put16(w->dgram + 2, (uint16_t)tot);
    put16(w->dgram + 6, 0);
    put16(w->dgram + 10, 0);
    put16(w->dgram + 10, csum_fold(csum_add(0, w->dgram, d->hlen)));
    free(d);
    w->frags[slot] = NULL;
    w->st.frag_datagrams++;
    *out = w->dgram;
    *out_len = (uint32_t)tot;
    return 1;
}
