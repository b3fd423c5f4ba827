/* reasm.c — TCP reassembly through libnids, driven from our own loop (NOTES-libs
 * 0, 1.5, 1.13), behind a per-connection sequence tracker (NOTES 1.15; sequence
 * arithmetic of RFC 9293): real SYN/SYN-ACK are never fed, a synthetic handshake
 * is fed at the first ACK-bearing packet; segments reach libnids in order only
 * (out-of-order ones are held here, bounded); ACKs are clamped to what was fed;
 * a hole the receiver acknowledged is filled with zero bytes that are reported
 * through on_gap and never as data. libnids stays the only reassembler and this
 * is the only file that sees struct tcp_stream. Overlapping data: the first copy
 * wins (a differing copy is a finding); URG data is not treated specially. */
#include "reasm.h"

#include <nids.h>
#include <pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hash size given to libnids; 3/4 of it are tracked at once, RSS ≈ 0.21 KB
 * each (NOTES 1.8). 1<<16 → 49152 concurrent connections, ~14 MB. Our own
 * bound (max_flows) stays below that so libnids never evicts on its own. */
#define SIFT_REASM_STREAMS (1 << 16)
#define DEF_MAX_FLOWS   40000
#define DEF_HOLD_FLOW   ((size_t)4 << 20)
#define DEF_HOLD_TOTAL  ((size_t)256 << 20)
#define DEF_IDLE_US     (900LL * 1000000)     /* > RFC 5321 4.5.3.2 client timeouts (10 min) */
#define TOMB_US         (60LL * 1000000)      /* a finished tuple swallows stragglers this long */
#define FILL_DELAY_PKTS 8                     /* NOTES 1.15 2b: a proven hole waits for late data */
#define FILL_DELAY_US   100000
#define FILL_CHUNK      32768
#define FEED_MAX        32768                 /* payload per fed packet */
#define TAIL_KEEP       1024                  /* bytes remembered per direction for overlap checks */
#define SEQ_FAR         (1u << 30)            /* sequence jumps this big are ignored */

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

static int seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static int seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }

/* An out-of-order segment held until the bytes before it were fed. Held
 * segments of one direction never overlap and are sorted by seq. */
struct seg {
    struct seg *next;
    uint64_t arrival;           /* capture order of its packet: release order across directions */
    uint32_t seq, len;
    uint8_t data[];
};

/* Filler bytes fed to libnids at stream offset off: cut out of what on_data gets. */
struct gaprange { uint64_t off, len; };

/* The bytes one endpoint sends. */
struct side {
    int seen;                   /* a packet from this endpoint was captured */
    int isn_seen;
    uint32_t isn;               /* from its SYN or SYN-ACK */
    uint32_t base;              /* seq of its first data byte (set when the flow goes live) */
    uint32_t nxt;               /* next seq to feed: everything before it was fed */
    uint64_t fed, dlv;          /* bytes fed (data + filler) / delivered back by libnids */
    int fin_seen, fin_fed;
    uint32_t fin_seq;
    uint64_t fin_arrival;
    int acked_valid;
    uint32_t acked;             /* highest ACK the peer sent for these bytes (the proof) */
    uint32_t last_ack_fed;      /* th_ack of the last packet fed from this endpoint */
    struct seg *held;
    size_t held_bytes;
    int proof;                  /* a hole is proven since packet proof_pkt / time proof_ts */
    uint64_t proof_pkt;
    int64_t proof_ts;
    struct gaprange *gq;        /* filler ranges not yet delivered, FIFO */
    size_t gq_head, gq_len, gq_cap;
    uint64_t gap_bytes;
    uint32_t gaps;
    uint64_t segs, tiny;        /* data segments captured, of which 1-8 bytes */
    uint8_t *tail;              /* last bytes fed (TAIL_KEEP), for overlap checks */
    size_t tail_len;
};

enum cstate { C_NEW, C_LIVE, C_DONE };   /* C_DONE: ended, kept to swallow stragglers */
/* LRU lists. L_NEW holds connections still C_NEW (no ACK-bearing packet yet:
 * half-open, as in a SYN flood or a port scan), kept apart so that reaching
 * max_flows drops them before any connection that is really talking. */
enum { L_LIVE = 0, L_TOMB = 1, L_NEW = 2, L_N };

struct conn {
    uint32_t addr[2];           /* network order; endpoint 0 = client once live */
    uint16_t port[2];
    enum cstate st;
    int syn_from, synack_from;  /* endpoint that sent a SYN / SYN-ACK, -1 if none */
    int ignored;                /* consumer declined or stopped: packets are swallowed */
    int nids_open;              /* libnids holds a stream that reports to us */
    int ended;                  /* libnids closed it (FIN/RST/timeout): make it a tombstone */
    int why_set;
    enum sift_close_reason why; /* reason to report instead of libnids' own */
    int snapcut, overlap_reported;
    int flushing;               /* ending: directions no longer wait for each other */
    void *handle;               /* what on_open returned */
    struct side s[2];
    struct sift_pktref first, last;
    int64_t last_ts;
    uint64_t npkts;
    struct conn *hnext;         /* hash chain */
    struct conn *lprev, *lnext; /* LRU list (live or tomb) */
    int list;
};

enum once_kind { ONCE_IP_CSUM, ONCE_TCP_CSUM, ONCE_SHORT, ONCE_TOOMUCH, ONCE_BIGQUEUE,
                 ONCE_FLOWS, ONCE_HOLD, ONCE_N };

static struct {
    int inited;
    struct sift_reasm_cbs cbs;
    struct sift_reasm_limits lim;
    struct sift_wire *wire;
    pcap_t *dead;
    struct sift_pktref cur;       /* packet being processed right now */
    struct conn **tab;
    size_t nbuckets, nconns;
    struct conn *lhead[L_N], *ltail[L_N];
    struct conn *opening;         /* the flow whose synthetic handshake is being fed */
    size_t held_total;
    struct sift_flow_end end;     /* for sift_reasm_flow_end during on_close */
    struct sift_reasm_stats st;
    uint64_t arrivals;            /* TCP packets seen (capture order) */
    unsigned once;
} g;

static struct sift_reasm_limits g_lim_next;
static struct sift_wire_stats g_wire_final;   /* wire stats kept after finish */
/* libnids keeps the header pointer (nids_last_pcap_header): must outlive the call. */
static struct pcap_pkthdr g_hdr;
/* Every packet libnids gets is built here. */
static uint8_t g_out[65536];
static const uint8_t g_zero[FILL_CHUNK];
/* Stored by pointer in libnids, survives nids_init/nids_exit (NOTES 1.4). */
static struct nids_chksum_ctl g_nocsum = { 0, 0, NIDS_DONT_CHKSUM, 0 };

const char *sift_close_reason_name(enum sift_close_reason r)
{
    switch (r) {
    case SIFT_CLOSE_FIN: return "fin";
    case SIFT_CLOSE_RST: return "rst";
    case SIFT_CLOSE_TIMEOUT: return "timeout";
    case SIFT_CLOSE_EOF: return "eof";
    case SIFT_CLOSE_REUSED: return "reused";
    }
    return "?";
}

static void finding_once(enum once_kind k, const char *rule, enum sift_severity sev,
                         const char *detail)
{
    if (g.once & (1u << k)) return;
    g.once |= 1u << k;
    if (g.cbs.on_finding) g.cbs.on_finding(g.cbs.user, rule, sev, detail, &g.cur);
}

/* ---- connection table and LRU lists ---------------------------------------- */

static size_t ep_hash(uint32_t a, uint16_t p)
{
    uint64_t h = ((uint64_t)a << 16 | p) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 31));
}

/* Same value for both orientations of a tuple. */
static size_t conn_hash(uint32_t a0, uint16_t p0, uint32_t a1, uint16_t p1)
{
    return ep_hash(a0, p0) + ep_hash(a1, p1);
}

static struct conn *conn_find(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, int *from)
{
    struct conn *c = g.tab[conn_hash(src, sport, dst, dport) & (g.nbuckets - 1)];
    for (; c; c = c->hnext) {
        if (c->addr[0] == src && c->port[0] == sport && c->addr[1] == dst && c->port[1] == dport) {
            *from = 0;
            return c;
        }
        if (c->addr[1] == src && c->port[1] == sport && c->addr[0] == dst && c->port[0] == dport) {
            *from = 1;
            return c;
        }
    }
    return NULL;
}

static void lru_unlink(struct conn *c)
{
    if (c->lprev) c->lprev->lnext = c->lnext; else g.lhead[c->list] = c->lnext;
    if (c->lnext) c->lnext->lprev = c->lprev; else g.ltail[c->list] = c->lprev;
    c->lprev = c->lnext = NULL;
}

static void lru_append(struct conn *c, int list)
{
    c->list = list;
    c->lnext = NULL;
    c->lprev = g.ltail[list];
    if (g.ltail[list]) g.ltail[list]->lnext = c; else g.lhead[list] = c;
    g.ltail[list] = c;
}

static void table_grow(void)
{
    size_t n = g.nbuckets * 2;
    struct conn **tab = sift_xcalloc(n, sizeof *tab);
    for (size_t i = 0; i < g.nbuckets; i++) {
        struct conn *c = g.tab[i], *next;
        for (; c; c = next) {
            next = c->hnext;
            size_t b = conn_hash(c->addr[0], c->port[0], c->addr[1], c->port[1]) & (n - 1);
            c->hnext = tab[b];
            tab[b] = c;
        }
    }
    free(g.tab);
    g.tab = tab;
    g.nbuckets = n;
}

static void side_release_memory(struct side *sd)
{
    while (sd->held) {
        struct seg *h = sd->held;
        sd->held = h->next;
        g.held_total -= h->len;
        free(h);
    }
    sd->held_bytes = 0;
    free(sd->gq);
    sd->gq = NULL;
    sd->gq_head = sd->gq_len = sd->gq_cap = 0;
    free(sd->tail);
    sd->tail = NULL;
    sd->tail_len = 0;
}

static void conn_free(struct conn *c)
{
    struct conn **pp = &g.tab[conn_hash(c->addr[0], c->port[0], c->addr[1], c->port[1]) & (g.nbuckets - 1)];
    while (*pp && *pp != c) pp = &(*pp)->hnext;
    if (*pp) *pp = c->hnext;
    lru_unlink(c);
    side_release_memory(&c->s[0]);
    side_release_memory(&c->s[1]);
    g.nconns--;
    free(c);
}

/* Ended: buffers go, the tuple is remembered briefly so late packets of it are
 * not taken for a new connection. */
static void conn_tomb(struct conn *c)
{
    side_release_memory(&c->s[0]);
    side_release_memory(&c->s[1]);
    c->st = C_DONE;
    c->nids_open = 0;
    lru_unlink(c);
    lru_append(c, L_TOMB);
}

/* ---- what on_close learns --------------------------------------------------- */

static void fill_flow_end(const struct conn *c)
{
    struct sift_flow_end *fe = &g.end;
    memset(fe, 0, sizeof *fe);
    uint64_t total = 0;
    for (int d = 0; d < 2; d++) {
        const struct side *sd = &c->s[d];
        fe->gap_bytes[d] = sd->gap_bytes;
        fe->gaps[d] = sd->gaps;
        fe->segments[d] = sd->segs;
        fe->tiny_segments[d] = sd->tiny;
        if (!sd->seen && sd->acked_valid && seq_lt(sd->base, sd->acked))
            fe->gap_bytes[d] += sd->acked - sd->base;
        total += fe->gap_bytes[d];
    }
    if (!c->s[0].seen || !c->s[1].seen) fe->reassembly = "one-sided";
    else if (c->syn_from != 0 || c->synack_from != 1) fe->reassembly = "midstream";
    else if (c->snapcut) fe->reassembly = "truncated";
    else if (total) fe->reassembly = "gap";
    else fe->reassembly = "complete";
}

const struct sift_flow_end *sift_reasm_flow_end(void)
{
    return &g.end;
}

/* Reports on_close once for an opened flow; no more events after it. */
static void conn_report_close(struct conn *c, enum sift_close_reason why)
{
    if (!c->handle) return;
    if (c->why_set) why = c->why;
    fill_flow_end(c);
    if (!c->s[0].seen || !c->s[1].seen) g.st.flows_one_sided++;
    else if (c->syn_from != 0 || c->synack_from != 1) g.st.flows_midstream++;
    g.st.flows_closed++;
    void *h = c->handle;
    c->handle = NULL;
    c->nids_open = 0;
    c->ignored = 1;
    if (g.cbs.on_close) g.cbs.on_close(g.cbs.user, h, why, &c->last);
}

/* ---- feeding libnids ---------------------------------------------------------- */

/* Builds one IPv4/TCP packet from endpoint `from` and hands it to libnids.
 * wscale adds the options NOP, WScale 14 (synthetic SYNs). */
static void nids_send(struct conn *c, int from, uint32_t seq, uint32_t ack, uint8_t flags,
                      const uint8_t *data, size_t len, int wscale)
{
    size_t thl = wscale ? 24 : 20, tot = 20 + thl + len;
    uint8_t *p = g_out, *t = p + 20;
    memset(p, 0, 20 + thl);
    p[0] = 0x45;
    put16(p + 2, (uint32_t)tot);
    put16(p + 6, 0x4000);
    p[8] = 64;
    p[9] = 6;
    memcpy(p + 12, &c->addr[from], 4);
    memcpy(p + 16, &c->addr[1 - from], 4);
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) sum += be16(p + i);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    put16(p + 10, ~sum & 0xffff);
    put16(t, c->port[from]);
    put16(t + 2, c->port[1 - from]);
    put32(t + 4, seq);
    put32(t + 8, ack);
    t[12] = (uint8_t)(thl / 4 << 4);
    t[13] = flags;                       /* never URG: libnids would eat a byte (1.15 2e) */
    put16(t + 14, 65535);
    if (wscale) { t[20] = 1; t[21] = 3; t[22] = 3; t[23] = 14; }
    if (len) memcpy(t + thl, data, len);
    if (flags & F_ACK) c->s[from].last_ack_fed = ack;
    g_hdr.caplen = g_hdr.len = (bpf_u_int32)tot;
    nids_pcap_handler(NULL, &g_hdr, g_out);
}

/* th_ack for a packet from endpoint e: the highest ACK it sent, clamped to
 * what was fed of the acknowledged direction (NOTES 1.15 2a), never lower
 * than what was fed before. */
static uint32_t ack_for(const struct conn *c, int e)
{
    const struct side *o = &c->s[1 - e];
    uint32_t a = c->s[e].last_ack_fed;
    if (o->acked_valid) {
        uint32_t m = seq_lt(o->acked, o->nxt) ? o->acked : o->nxt;
        if (seq_lt(a, m)) a = m;
    }
    return a;
}

static void tail_keep(struct side *sd, const uint8_t *data, size_t n)
{
    if (!sd->tail) sd->tail = sift_xmalloc(TAIL_KEEP);
    if (n >= TAIL_KEEP) {
        memcpy(sd->tail, data + n - TAIL_KEEP, TAIL_KEEP);
        sd->tail_len = TAIL_KEEP;
        return;
    }
    size_t keep = sd->tail_len + n > TAIL_KEEP ? TAIL_KEEP - n : sd->tail_len;
    memmove(sd->tail, sd->tail + sd->tail_len - keep, keep);
    memcpy(sd->tail + keep, data, n);
    sd->tail_len = keep + n;
}

static void feed_data(struct conn *c, int e, const uint8_t *data, size_t len)
{
    struct side *sd = &c->s[e];
    while (len && c->nids_open) {
        size_t n = len > FEED_MAX ? FEED_MAX : len;
        uint32_t seq = sd->nxt;
        sd->nxt += (uint32_t)n;
        sd->fed += n;
        tail_keep(sd, data, n);
        nids_send(c, e, seq, ack_for(c, e), F_ACK | F_PSH, data, n, 0);
        data += n;
        len -= n;
    }
    sd->proof = 0;
}

/* Feeds n filler bytes at the hole [nxt, nxt+n) and records the range so that
 * the delivery is turned into one on_gap. */
static void fill(struct conn *c, int e, uint32_t n)
{
    struct side *sd = &c->s[e];
    if (!n || !c->nids_open) return;
    if (sd->gq_len == sd->gq_cap) {
        if (sd->gq_head) {
            memmove(sd->gq, sd->gq + sd->gq_head, sd->gq_len * sizeof *sd->gq);
            sd->gq_head = 0;
        }
        if (sd->gq_len == sd->gq_cap) {
            sd->gq_cap = sd->gq_cap ? 2 * sd->gq_cap : 4;
            sd->gq = sift_xrealloc(sd->gq, sd->gq_cap * sizeof *sd->gq);
        }
    }
    sd->gq[sd->gq_head + sd->gq_len++] = (struct gaprange){ sd->fed, n };
    sd->gap_bytes += n;
    sd->gaps++;
    g.st.gaps++;
    g.st.gap_bytes += n;
    sd->tail_len = 0;                    /* filler is not something a retransmission can match */
    while (n && c->nids_open) {
        uint32_t k = n > FILL_CHUNK ? FILL_CHUNK : n, seq = sd->nxt;
        sd->nxt += k;
        sd->fed += k;
        n -= k;
        nids_send(c, e, seq, ack_for(c, e), F_ACK | F_PSH, g_zero, k, 0);
    }
    sd->proof = 0;
}

static void overlap_mismatch(struct conn *c, int e, uint32_t seq)
{
    g.st.overlaps_mismatched++;
    if (c->overlap_reported) return;
    c->overlap_reported = 1;
    char a[46], b[46], detail[256];
    sift_wire_addr_string(g.wire, c->addr[e], a, sizeof a);
    sift_wire_addr_string(g.wire, c->addr[1 - e], b, sizeof b);
    snprintf(detail, sizeof detail,
             "%s port %u to %s port %u: bytes at stream offset %u were captured twice with "
             "different content; the first copy was kept",
             a, c->port[e], b, c->port[1 - e], (unsigned)(seq - c->s[e].base));
    if (g.cbs.on_finding)
        g.cbs.on_finding(g.cbs.user, "tcp_overlap_mismatch", SIFT_SEV_MEDIUM, detail, &g.cur);
}

/* A retransmission of bytes already fed: compare what is still remembered. */
static void check_old(struct conn *c, int e, uint32_t seq, const uint8_t *data, uint32_t n)
{
    struct side *sd = &c->s[e];
    uint32_t tstart = sd->nxt - (uint32_t)sd->tail_len, s = seq, end = seq + n;
    if (seq_lt(s, tstart)) s = tstart;
    if (seq_lt(sd->nxt, end)) end = sd->nxt;
    if (!seq_lt(s, end)) return;
    if (memcmp(sd->tail + (s - tstart), data + (s - seq), end - s) != 0) overlap_mismatch(c, e, s);
}

/* 1 while the other direction has a hole its receiver (endpoint e) already
 * acknowledged: e's later bytes wait, so the dissector never sees a reply
 * before the command it answers. */
static int blocked(const struct conn *c, int e)
{
    const struct side *o = &c->s[1 - e];
    return !c->flushing && o->seen && !o->fin_fed && o->acked_valid && seq_lt(o->nxt, o->acked);
}

/* Next thing direction e can feed (a contiguous held segment or its FIN):
 * 1 with its arrival number, 0 if none or blocked. */
static int next_ready(const struct conn *c, int e, uint64_t *arrival)
{
    const struct side *sd = &c->s[e];
    if (!c->nids_open || blocked(c, e)) return 0;
    if (sd->held && seq_le(sd->held->seq, sd->nxt)) { *arrival = sd->held->arrival; return 1; }
    if (sd->fin_seen && !sd->fin_fed && !sd->held && sd->nxt == sd->fin_seq) {
        *arrival = sd->fin_arrival;
        return 1;
    }
    return 0;
}

/* Feeds what next_ready found for direction e. */
static void release_one(struct conn *c, int e)
{
    struct side *sd = &c->s[e];
    if (sd->held && seq_le(sd->held->seq, sd->nxt)) {
        struct seg *h = sd->held;
        sd->held = h->next;
        sd->held_bytes -= h->len;
        g.held_total -= h->len;
        uint32_t skip = sd->nxt - h->seq;
        if (skip < h->len) {
            if (skip) check_old(c, e, h->seq, h->data, skip);
            feed_data(c, e, h->data + skip, h->len - skip);
        } else {
            check_old(c, e, h->seq, h->data, h->len);
        }
        free(h);
        return;
    }
    sd->fin_fed = 1;
    sd->nxt++;
    nids_send(c, e, sd->fin_seq, ack_for(c, e), F_ACK | F_FIN, NULL, 0, 0);
    sd->proof = 0;
}

/* Feeds every held segment (and FIN) that became contiguous, both directions
 * interleaved in the order they were captured, so the dissector sees a reply
 * after the command it answers even when both waited behind a hole. */
/* Arrival number of the next thing direction e has waiting (ready or not). */
static int pending_arrival(const struct conn *c, int e, uint64_t *arrival)
{
    const struct side *sd = &c->s[e];
    if (sd->held) { *arrival = sd->held->arrival; return 1; }
    if (sd->fin_seen && !sd->fin_fed) { *arrival = sd->fin_arrival; return 1; }
    return 0;
}

/* strict: while holes are being filled one by one, nothing is released ahead
 * of an earlier-captured item of the other direction that still waits behind
 * a hole (else a reply could overtake the end of the content it answers). */
static void release_ordered(struct conn *c, int strict)
{
    for (;;) {
        uint64_t a0 = 0, a1 = 0, p;
        int r0 = next_ready(c, 0, &a0), r1 = next_ready(c, 1, &a1);
        if (strict) {
            if (r0 && !r1 && pending_arrival(c, 1, &p) && p < a0) r0 = 0;
            if (r1 && !r0 && pending_arrival(c, 0, &p) && p < a1) r1 = 0;
        }
        if (!r0 && !r1) return;
        release_one(c, r0 && (!r1 || a0 <= a1) ? 0 : 1);
    }
}

static void release(struct conn *c)
{
    release_ordered(c, 0);
}

/* Keeps [seq, seq+len) (all after nxt) for later; parts already held are
 * compared, not replaced: the first copy wins. */
static void hold_insert(struct conn *c, int e, uint32_t seq, const uint8_t *data, uint32_t len)
{
    struct side *sd = &c->s[e];
    struct seg **pp = &sd->held;
    while (len) {
        while (*pp && seq_le((*pp)->seq + (*pp)->len, seq)) pp = &(*pp)->next;
        struct seg *h = *pp;
        if (h && seq_le(h->seq, seq)) {          /* h covers seq */
            uint32_t ov = h->seq + h->len - seq;
            if (ov > len) ov = len;
            if (memcmp(h->data + (seq - h->seq), data, ov) != 0) overlap_mismatch(c, e, seq);
            seq += ov;
            data += ov;
            len -= ov;
            pp = &h->next;
            continue;
        }
        uint32_t take = len;
        if (h && seq_lt(h->seq, seq + len)) take = h->seq - seq;
        struct seg *n = sift_xmalloc(sizeof *n + take);
        n->arrival = g.arrivals;
        n->seq = seq;
        n->len = take;
        memcpy(n->data, data, take);
        n->next = h;
        *pp = n;
        pp = &n->next;
        sd->held_bytes += take;
        g.held_total += take;
        if (g.held_total > g.st.held_max) g.st.held_max = g.held_total;
        seq += take;
        data += take;
        len -= take;
    }
}

/* Fills every hole of direction e below target (filler, then what was held
 * after it), never past the FIN. */
static void fill_to(struct conn *c, int e, uint32_t target)
{
    struct side *sd = &c->s[e];
    while (c->nids_open && !sd->fin_fed && seq_lt(sd->nxt, target)) {
        uint32_t start = sd->nxt, end = target;
        if (sd->held && seq_lt(sd->held->seq, end)) end = sd->held->seq;
        if (sd->fin_seen && seq_lt(sd->fin_seq, end)) end = sd->fin_seq;
        if (seq_lt(sd->nxt, end)) fill(c, e, end - sd->nxt);
        release_ordered(c, 1);
        if (sd->nxt == start) break;             /* nothing fillable or releasable */
    }
}

/* Everything of direction e that can be known: holes up to the peer's ACK, the
 * held segments and the FIN. For the end of a connection. */
static void flush_side(struct conn *c, int e)
{
    struct side *sd = &c->s[e];
    if (!sd->seen || !c->nids_open) return;
    int was = c->flushing;
    c->flushing = 1;
    uint32_t target = sd->nxt;
    if (sd->acked_valid && seq_lt(target, sd->acked)) target = sd->acked;
    for (struct seg *h = sd->held; h; h = h->next)
        if (seq_lt(target, h->seq + h->len)) target = h->seq + h->len;
    if (sd->fin_seen && seq_lt(target, sd->fin_seq + 1)) target = sd->fin_seq + 1;
    fill_to(c, e, target);
    release(c);
    c->flushing = was;
}

/* Tells libnids about ACKs that were clamped while a hole was open (needed
 * for NIDS_CLOSE once a held FIN is fed). */
static void reannounce(struct conn *c)
{
    for (int e = 0; e < 2 && c->nids_open; e++) {
        uint32_t a = ack_for(c, e);
        if (a != c->s[e].last_ack_fed && c->s[e].seen)
            nids_send(c, e, c->s[e].nxt, a, F_ACK, NULL, 0, 0);
    }
}

/* Holes proven by the receiver's ACK (or by the sender's FIN) are filled
 * once FILL_DELAY_PKTS more packets of the flow or FILL_DELAY_US went by
 * without the missing bytes turning up (NOTES 1.15 2b). */
static void check_proofs(struct conn *c, int64_t ts)
{
    for (int e = 0; e < 2 && c->nids_open; e++) {
        struct side *sd = &c->s[e];
        if (!sd->seen || sd->fin_fed) continue;
        uint32_t t = sd->nxt;
        if (sd->acked_valid && seq_lt(t, sd->acked)) t = sd->acked;
        if (sd->fin_seen && seq_lt(t, sd->fin_seq)) t = sd->fin_seq;
        if (!seq_lt(sd->nxt, t)) {
            sd->proof = 0;
        } else if (!sd->proof) {
            sd->proof = 1;
            sd->proof_pkt = c->npkts;
            sd->proof_ts = ts;
        } else if (c->npkts - sd->proof_pkt >= FILL_DELAY_PKTS || ts - sd->proof_ts >= FILL_DELAY_US) {
            fill_to(c, e, t);
            sd->proof = 0;
        }
    }
}

/* Out-of-order bytes beyond the bounds: the first hole is filled at once. */
static void enforce_hold_bounds(struct conn *c, int e)
{
    struct side *sd = &c->s[e];
    while (c->nids_open && sd->held && sd->held_bytes > g.lim.hold_per_flow) {
        finding_once(ONCE_HOLD, "tcp_hold_limit", SIFT_SEV_MEDIUM,
                     "more out-of-order TCP data than the reassembler holds; a hole was "
                     "declared a gap before its bytes could arrive");
        c->flushing = 1;
        fill_to(c, e, sd->held->seq);
        release(c);
        c->flushing = 0;
    }
    while (g.held_total > g.lim.hold_total) {
        struct conn *v = g.lhead[L_LIVE];
        int d = 0;
        for (; v; v = v->lnext) {
            if (!v->nids_open) continue;
            if (v->s[0].held) { d = 0; break; }
            if (v->s[1].held) { d = 1; break; }
        }
        if (!v) break;
        finding_once(ONCE_HOLD, "tcp_hold_limit", SIFT_SEV_MEDIUM,
                     "more out-of-order TCP data than the reassembler holds; a hole was "
                     "declared a gap before its bytes could arrive");
        v->flushing = 1;
        fill_to(v, d, v->s[d].held->seq);
        release(v);
        v->flushing = 0;
        if (!v->nids_open) side_release_memory(&v->s[d]);   /* consumer let go meanwhile */
    }
}

/* Ends a live flow ourselves (idle, reuse, eviction): holes filled, then a
 * synthetic RST so libnids lets go; the reason reported is why. */
static void conn_end(struct conn *c, enum sift_close_reason why)
{
    if (c->st == C_LIVE && c->nids_open) {
        flush_side(c, 0);
        flush_side(c, 1);
        reannounce(c);
        if (c->nids_open) {
            c->why_set = 1;
            c->why = why;
            nids_send(c, 0, c->s[0].nxt, ack_for(c, 0), F_RST | F_ACK, NULL, 0, 0);
        }
        if (c->handle) conn_report_close(c, why);   /* libnids did not report it */
    }
    conn_tomb(c);
}

static struct conn *conn_new(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
    if (g.nconns >= g.lim.max_flows) {
        /* Victim: the oldest half-open connection, else the oldest tombstone, else
         * the least recently active live flow. With a single LRU list, max_flows
         * SYNs of a flood during one pause of a real session (a server scanning a
         * message) ended that session as a timeout, its next packets opened a
         * phantom midstream flow, and so did a straggler after its close once
         * its tombstone was reused (test_bounds.c: test_syn_flood). */
        struct conn *v = g.lhead[L_NEW];
        if (!v) v = g.lhead[L_TOMB];
        if (!v) v = g.lhead[L_LIVE];
        if (v->st != C_DONE) {
            finding_once(ONCE_FLOWS, "tcp_flow_limit", SIFT_SEV_MEDIUM,
                         "more TCP connections at once than the reassembler tracks; half-open "
                         "ones were dropped first, then the least recently active ones were "
                         "ended early (timeout)");
            g.st.flows_evicted++;
            conn_end(v, SIFT_CLOSE_TIMEOUT);
        }
        conn_free(v);
    }
    if (g.nconns >= g.nbuckets) table_grow();
    struct conn *c = sift_xcalloc(1, sizeof *c);
    c->addr[0] = src;
    c->addr[1] = dst;
    c->port[0] = sport;
    c->port[1] = dport;
    c->syn_from = c->synack_from = -1;
    c->first = g.cur;
    size_t b = conn_hash(src, sport, dst, dport) & (g.nbuckets - 1);
    c->hnext = g.tab[b];
    g.tab[b] = c;
    g.nconns++;
    lru_append(c, L_NEW);
    return c;
}

static void expire_idle(int64_t now)
{
    struct conn *c;
    while ((c = g.lhead[L_TOMB]) && now - c->last_ts > TOMB_US) conn_free(c);
    while ((c = g.lhead[L_NEW]) && now - c->last_ts > g.lim.idle_us) conn_free(c);
    while ((c = g.lhead[L_LIVE]) && now - c->last_ts > g.lim.idle_us) {
        if (c->st == C_LIVE && c->nids_open) g.st.flows_expired++;
        conn_end(c, SIFT_CLOSE_TIMEOUT);
        conn_free(c);
    }
}

/* ---- roles and the synthetic handshake --------------------------------------- */

static int is_mail_port(uint16_t p) { return p == 25 || p == 587 || p == 465 || p == 2525; }

static int looks_like_reply(const uint8_t *p, size_t n)
{
    return n >= 4 && p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9' &&
           p[2] >= '0' && p[2] <= '9' && (p[3] == ' ' || p[3] == '-');
}

static int looks_like_verb(const uint8_t *p, size_t n)
{
    static const char *const verbs[] = { "EHLO", "HELO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT",
                                         "QUIT", "RSET", "NOOP", "AUTH", "STAR", "VRFY", "EXPN",
                                         "HELP" };
    if (n < 4) return 0;
    for (size_t i = 0; i < SIFT_ARRAY_LEN(verbs); i++) {
        size_t j = 0;
        while (j < 4 && (p[j] & 0xdf) == verbs[i][j]) j++;
        if (j == 4 && (n == 4 || p[4] == ' ' || p[4] == '\r' || p[4] == '\n')) return 1;
    }
    return 0;
}

/* Which endpoint is the client (NOTES 1.15 1, roles): the SYN sender, else
 * the side opposite the SYN-ACK sender, else the side opposite the only mail
 * port, else from the first payload (reply → its sender is the server, SMTP
 * verb → the client), else the higher port. -1: wait for a packet with payload. */
static int decide_client(const struct conn *c, int from, const uint8_t *pay, size_t plen)
{
    if (c->syn_from >= 0) return c->syn_from;
    if (c->synack_from >= 0) return 1 - c->synack_from;
    int m0 = is_mail_port(c->port[0]), m1 = is_mail_port(c->port[1]);
    if (m0 != m1) return m0 ? 1 : 0;
    if (!plen) return -1;
    if (looks_like_reply(pay, plen)) return 1 - from;
    if (looks_like_verb(pay, plen)) return from;
    if (c->port[0] != c->port[1]) return c->port[0] < c->port[1] ? 1 : 0;
    return from;
}

static void swap_endpoints(struct conn *c)
{
    uint32_t a = c->addr[0];
    c->addr[0] = c->addr[1];
    c->addr[1] = a;
    uint16_t p = c->port[0];
    c->port[0] = c->port[1];
    c->port[1] = p;
    struct side s = c->s[0];
    c->s[0] = c->s[1];
    c->s[1] = s;
    if (c->syn_from >= 0) c->syn_from = 1 - c->syn_from;
    if (c->synack_from >= 0) c->synack_from = 1 - c->synack_from;
}

/* Feeds SYN, SYN-ACK (both with WScale 14, no timestamps) and ACK built from
 * what is known (NOTES 1.15 1); libnids reports JUST_EST on the ACK. The
 * packet (seq, ack) comes from endpoint `from` (client = endpoint 0 now). */
static void go_live(struct conn *c, int from, uint32_t seq, uint32_t ack)
{
    struct side *cs = &c->s[0], *ss = &c->s[1];
    uint32_t cn = cs->isn_seen ? cs->isn + 1 : (from == 0 ? seq : ack);
    uint32_t sn = ss->isn_seen ? ss->isn + 1 : (from == 1 ? seq : ack);
    cs->base = cs->nxt = cn;
    ss->base = ss->nxt = sn;
    c->st = C_LIVE;
    lru_unlink(c);                               /* off L_NEW */
    lru_append(c, L_LIVE);
    nids_send(c, 0, cn - 1, 0, F_SYN, NULL, 0, 1);
    nids_send(c, 1, sn - 1, cn, F_SYN | F_ACK, NULL, 0, 1);
    g.opening = c;
    nids_send(c, 0, cn, sn, F_ACK, NULL, 0, 0);
    g.opening = NULL;
    if (!c->nids_open) c->ignored = 1;
}

/* ---- libnids hooks -------------------------------------------------------- */

/* nids_params.syslog replacement: count, report the important kinds once. */
static void nids_warning(int type, int errnum, struct ip *iph, void *data)
{
    (void)iph; (void)data;
    g.st.nids_warnings++;
    if (type == NIDS_WARN_TCP && errnum == NIDS_WARN_TCP_TOOMUCH)
        finding_once(ONCE_TOOMUCH, "tcp_stream_table_full", SIFT_SEV_MEDIUM,
                     "more concurrent TCP connections than the reassembler tracks; "
                     "the oldest were ended early (timeout)");
    else if (type == NIDS_WARN_TCP && errnum == NIDS_WARN_TCP_BIGQUEUE)
        finding_once(ONCE_BIGQUEUE, "tcp_queue_overflow", SIFT_SEV_MEDIUM,
                     "more than 64 KiB of out-of-order TCP data queued; the queue was dropped");
}

static void nids_oom(char *where)
{
    fprintf(stderr, "smtpsift: out of memory in libnids (%s)\n", where ? where : "?");
    abort();
}

static void on_established(struct tcp_stream *a)
{
    struct conn *c = g.opening;
    if (!c) return;                              /* not one of our handshakes: ignore */
    struct sift_flow_info fi;
    memset(&fi, 0, sizeof fi);
    fi.ip_version = sift_wire_addr_string(g.wire, a->addr.saddr, fi.cli_addr, sizeof fi.cli_addr);
    sift_wire_addr_string(g.wire, a->addr.daddr, fi.srv_addr, sizeof fi.srv_addr);
    fi.cli_port = a->addr.source;
    fi.srv_port = a->addr.dest;
    fi.first = c->first;
    void *h = g.cbs.on_open ? g.cbs.on_open(g.cbs.user, &fi) : NULL;
    if (!h) return;                              /* not collected: libnids frees it */
    c->handle = h;
    c->nids_open = 1;
    g.st.flows_opened++;
    a->user = c;
    a->client.collect++;
    a->server.collect++;
}

/* Delivers the new bytes of one half, cutting filler ranges out as on_gap;
 * returns -1 if the consumer stopped. */
static int deliver(struct conn *c, struct half_stream *hs, enum sift_dir dir)
{
    if (hs->count_new <= 0) return 0;
    const uint8_t *p = (const uint8_t *)hs->data + (hs->count - hs->offset) - hs->count_new;
    size_t n = (size_t)hs->count_new;
    struct side *sd = &c->s[dir == SIFT_DIR_C2S ? 0 : 1];
    while (n && c->handle) {
        struct gaprange *gr = sd->gq_len ? &sd->gq[sd->gq_head] : NULL;
        if (gr && gr->off <= sd->dlv) {
            uint64_t end = gr->off + gr->len, k = end - sd->dlv;
            if (k > n) k = n;
            if (sd->dlv == gr->off && g.cbs.on_gap) g.cbs.on_gap(g.cbs.user, c->handle, dir, gr->len, &g.cur);
            sd->dlv += k;
            p += k;
            n -= (size_t)k;
            if (sd->dlv == end) {
                sd->gq_head++;
                sd->gq_len--;
            }
            continue;
        }
        size_t k = n;
        if (gr && gr->off - sd->dlv < k) k = (size_t)(gr->off - sd->dlv);
        if (dir == SIFT_DIR_C2S) g.st.bytes_c2s += k; else g.st.bytes_s2c += k;
        sd->dlv += k;
        if (g.cbs.on_data && g.cbs.on_data(g.cbs.user, c->handle, dir, p, k, &g.cur) < 0) return -1;
        p += k;
        n -= k;
    }
    return 0;
}

static void tcp_callback(struct tcp_stream *a, void **param)
{
    (void)param;
    if (a->nids_state == NIDS_JUST_EST) { on_established(a); return; }
    struct conn *c = a->user;
    if (!c) return;
    switch (a->nids_state) {
    case NIDS_DATA:
        /* a->server receives what the client sends (NOTES 1.7 naming trap). */
        if (deliver(c, &a->server, SIFT_DIR_C2S) < 0 || deliver(c, &a->client, SIFT_DIR_S2C) < 0) {
            a->client.collect--;
            a->server.collect--;                /* libnids drops the stream after this call */
            a->user = NULL;
            /* No reason fits "the dissector let go"; EOF = no more input for it. */
            conn_report_close(c, SIFT_CLOSE_EOF);
        }
        return;
    case NIDS_CLOSE: a->user = NULL; c->ended = 1; conn_report_close(c, SIFT_CLOSE_FIN); return;
    case NIDS_RESET: a->user = NULL; c->ended = 1; conn_report_close(c, SIFT_CLOSE_RST); return;
    case NIDS_TIMED_OUT: a->user = NULL; c->ended = 1; conn_report_close(c, SIFT_CLOSE_TIMEOUT); return;
    case NIDS_EXITING: a->user = NULL; c->ended = 1; conn_report_close(c, SIFT_CLOSE_EOF); return;
    default: return;
    }
}

/* ---- the tracker: one TCP packet ------------------------------------------- */

static void track(const uint8_t *ip, uint32_t len, int snapcut, int depth)
{
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
    if (ihl < 20 || len < ihl + 20) return;
    const uint8_t *th = ip + ihl;
    size_t thl = (size_t)(th[12] >> 4) * 4;
    if (thl < 20 || ihl + thl > len) return;
    uint32_t src, dst;
    memcpy(&src, ip + 12, 4);
    memcpy(&dst, ip + 16, 4);
    uint16_t sport = be16(th), dport = be16(th + 2);
    uint32_t seq = be32(th + 4), ack = be32(th + 8);
    uint8_t fl = th[13];
    const uint8_t *pay = th + thl;
    uint32_t plen = (uint32_t)(len - ihl - thl);
    int64_t ts = g.cur.ts_us;
    int pure_syn = (fl & (F_SYN | F_ACK | F_RST)) == F_SYN;
    g.arrivals++;

    expire_idle(ts);
    int e = 0;
    struct conn *c = conn_find(src, sport, dst, dport, &e);
    if (c && c->st == C_DONE) {
        if (pure_syn && !(c->s[e].isn_seen && c->s[e].isn == seq)) {
            conn_free(c);                        /* a new connection on this tuple */
            c = NULL;
        } else {
            c->last_ts = ts;
            lru_unlink(c);
            lru_append(c, L_TOMB);
            return;
        }
    }
    if (!c) {
        if (fl & F_RST) return;
        c = conn_new(src, sport, dst, dport);
        e = 0;
    }
    struct sift_pktref prev_last = c->last;
    c->last = g.cur;
    c->last_ts = ts;
    c->npkts++;
    lru_unlink(c);
    lru_append(c, c->st == C_NEW ? L_NEW : L_LIVE);
    struct side *sd = &c->s[e];
    sd->seen = 1;
    if (snapcut) c->snapcut = 1;

    if (c->st == C_NEW) {
        if (fl & F_RST) return;
        if (fl & F_SYN) {
            if (!sd->isn_seen) { sd->isn = seq; sd->isn_seen = 1; }
            if (fl & F_ACK) { if (c->synack_from < 0) c->synack_from = e; }
            else if (c->syn_from < 0) c->syn_from = e;
            return;
        }
        if (!(fl & F_ACK)) return;
        int cli = decide_client(c, e, pay, plen);
        if (cli < 0) return;
        if (cli == 1) {
            swap_endpoints(c);
            e = 1 - e;
            sd = &c->s[e];
        }
        go_live(c, e, seq, ack);
    }

    /* Live (or swallowed). A SYN with a new ISN is a new connection (port reuse). */
    if (pure_syn) {
        if (sd->isn_seen && sd->isn == seq) return;              /* SYN retransmitted */
        if (!sd->isn_seen && !c->ignored && seq + 1 == sd->base) { /* late copy of its SYN */
            sd->isn = seq;
            sd->isn_seen = 1;
            return;
        }
        c->last = prev_last;                                     /* this SYN is not the old flow's */
        conn_end(c, SIFT_CLOSE_REUSED);
        conn_free(c);
        if (depth == 0) track(ip, len, snapcut, 1);
        return;
    }
    if (fl & F_SYN) {                                            /* SYN-ACK after the fact */
        if (!sd->isn_seen) { sd->isn = seq; sd->isn_seen = 1; }
        if (c->synack_from < 0 && e == 1 && seq + 1 == sd->base) c->synack_from = 1;
        return;
    }
    if (c->ignored) {
        if (fl & F_RST) conn_tomb(c);
        return;
    }
    if (fl & F_RST) {
        flush_side(c, 1 - e);
        flush_side(c, e);
        reannounce(c);
        if (c->nids_open) nids_send(c, e, sd->nxt, ack_for(c, e), F_RST | F_ACK, NULL, 0, 0);
        if (c->handle) conn_report_close(c, SIFT_CLOSE_RST);
        conn_tomb(c);
        return;
    }
    if (fl & F_ACK) {
        struct side *o = &c->s[1 - e];
        int32_t d = (int32_t)(ack - o->nxt);
        if (d < (int32_t)SEQ_FAR && d > -(int32_t)SEQ_FAR && (!o->acked_valid || seq_lt(o->acked, ack))) {
            o->acked = ack;
            o->acked_valid = 1;
        }
    }
    if ((fl & F_FIN) && !sd->fin_seen && (uint32_t)(seq + plen - sd->nxt) < SEQ_FAR) {
        sd->fin_seen = 1;
        sd->fin_seq = seq + plen;
        sd->fin_arrival = g.arrivals;
    }
    if (plen) {
        sd->segs++;
        if (plen <= 8) sd->tiny++;
        uint32_t n = plen;
        const uint8_t *p = pay;
        uint32_t s = seq;
        if (sd->fin_seen && !seq_lt(s, sd->fin_seq)) n = 0;           /* beyond the FIN */
        else if (sd->fin_seen && seq_lt(sd->fin_seq, s + n)) n = sd->fin_seq - s;
        int32_t rel = (int32_t)(s - sd->nxt);
        if (n && rel < 0) {                                           /* starts with old bytes */
            uint32_t old = sd->nxt - s;                               /* = -rel, without overflow */
            check_old(c, e, s, p, old < n ? old : n);
            if (old >= n) n = 0;
            else { s += old; p += old; n -= old; }
        } else if (n && (uint32_t)rel >= SEQ_FAR) {
            n = 0;                                                    /* nowhere near: ignore */
        }
        if (n) {
            if (s == sd->nxt && !sd->held && !blocked(c, e)) feed_data(c, e, p, n);
            else hold_insert(c, e, s, p, n);
        }
    }
    release(c);
    if (c->nids_open) enforce_hold_bounds(c, e);
    /* Both FINs seen: nothing more will come, holes are final. */
    if (c->nids_open && c->s[0].fin_seen && c->s[1].fin_seen) {
        flush_side(c, 0);
        flush_side(c, 1);
    }
    if (c->nids_open) check_proofs(c, ts);
    release(c);                                    /* a hole closed: the other side goes on */
    if (c->nids_open) reannounce(c);
    if (c->ended) conn_tomb(c);
    else if (!c->nids_open && c->st == C_LIVE) {
        side_release_memory(&c->s[0]);             /* consumer let go: swallow the rest */
        side_release_memory(&c->s[1]);
    }
}

/* ---- public --------------------------------------------------------------- */

void sift_reasm_set_limits(const struct sift_reasm_limits *lim)
{
    if (lim) g_lim_next = *lim;
    else memset(&g_lim_next, 0, sizeof g_lim_next);
}

enum sift_status sift_reasm_init(const struct sift_reasm_cbs *cbs, char *err, size_t errlen)
{
    if (g.inited) {
        snprintf(err, errlen, "reassembler already initialised");
        return SIFT_ERR_USAGE;
    }
    memset(&g, 0, sizeof g);
    g.cbs = *cbs;
    g.lim = g_lim_next;
    if (!g.lim.max_flows) g.lim.max_flows = DEF_MAX_FLOWS;
    if (!g.lim.hold_per_flow) g.lim.hold_per_flow = DEF_HOLD_FLOW;
    if (!g.lim.hold_total) g.lim.hold_total = DEF_HOLD_TOTAL;
    if (!g.lim.idle_us) g.lim.idle_us = DEF_IDLE_US;
    g.dead = pcap_open_dead(DLT_RAW, 262144);
    if (!g.dead) {
        snprintf(err, errlen, "pcap_open_dead failed");
        return SIFT_ERR_FORMAT;
    }
    nids_params.n_tcp_streams = SIFT_REASM_STREAMS;
    nids_params.n_hosts = 4096;
    nids_params.scan_num_hosts = 0;
    nids_params.syslog = nids_warning;
    nids_params.no_mem = nids_oom;
    nids_params.tcp_workarounds = 1;
    nids_params.tcp_flow_timeout = 300;
    nids_params.one_loop_less = 0;
    nids_params.multiproc = 0;
    nids_params.pcap_filter = NULL;
    nids_params.filename = NULL;
    nids_params.device = NULL;
    nids_params.pcap_desc = g.dead;
    nids_register_chksum_ctl(&g_nocsum, 1);
    if (!nids_init()) {
        snprintf(err, errlen, "libnids refused to start: %s", nids_errbuf);
        pcap_close(g.dead);
        g.dead = NULL;
        return SIFT_ERR_FORMAT;
    }
    nids_register_tcp((void *)tcp_callback);   /* after nids_init, which forgets callbacks */
    g.wire = sift_wire_new();
    g.nbuckets = 1024;
    g.tab = sift_xcalloc(g.nbuckets, sizeof *g.tab);
    g.inited = 1;
    return SIFT_OK;
}

void sift_reasm_feed(const struct sift_frame *fr)
{
    const uint8_t *ip, *whole;
    uint32_t len, wlen;
    if (!g.inited) return;
    g.cur = fr->ref;
    const struct sift_wire_stats *ws = sift_wire_stats(g.wire);
    uint64_t bad_ip = ws->bad_ip_csum, bad_tcp = ws->bad_tcp_csum, shrt = ws->short_frames;
    enum sift_wire_verdict v = sift_wire_normalise(g.wire, fr->dlt, fr->data, fr->caplen,
                                                   fr->wirelen, &ip, &len);
    if (ws->bad_ip_csum != bad_ip)
        finding_once(ONCE_IP_CSUM, "ip_bad_checksum", SIFT_SEV_LOW,
                     "IPv4 header checksum wrong (first one here, the rest only counted); packets kept");
    if (ws->bad_tcp_csum != bad_tcp)
        finding_once(ONCE_TCP_CSUM, "tcp_bad_checksum", SIFT_SEV_INFO,
                     "TCP checksum wrong (first one here, the rest only counted; usual with "
                     "checksum offload on the capturing host); packets kept");
    int snapcut = ws->short_frames != shrt;
    if (snapcut)
        finding_once(ONCE_SHORT, "frame_cut_by_snaplen", SIFT_SEV_MEDIUM,
                     "frames were captured shorter than they were on the wire (snaplen); "
                     "TCP bytes beyond the cut are missing");
    if (v != SIFT_WIRE_IPV4) return;
    if (sift_wire_defrag(g.wire, ip, len, fr->ref.ts_us, &whole, &wlen) != 1) return;
    /* Floor division so pre-1970 stamps stay consistent; libnids uses tv_sec only. */
    int64_t sec = fr->ref.ts_us / 1000000, usec = fr->ref.ts_us % 1000000;
    if (usec < 0) { usec += 1000000; sec--; }
    g_hdr.ts.tv_sec = (time_t)sec;
    g_hdr.ts.tv_usec = (suseconds_t)usec;
    track(whole, wlen, snapcut, 0);
}

void sift_reasm_finish(void)
{
    if (!g.inited) return;
    /* Holes still open are final now: fill them so what follows is delivered. */
    for (struct conn *c = g.lhead[L_LIVE]; c; c = c->lnext) {
        if (c->st != C_LIVE || !c->nids_open) continue;
        flush_side(c, 0);
        flush_side(c, 1);
        reannounce(c);
    }
    nids_exit();                                /* EXITING for every open stream → EOF */
    nids_unregister_tcp((void *)tcp_callback);  /* nids_exit keeps the node: it would leak per init */
    for (int l = 0; l < L_N; l++)
        while (g.lhead[l]) {
            struct conn *c = g.lhead[l];
            if (c->handle) conn_report_close(c, SIFT_CLOSE_EOF);   /* libnids let go silently */
            conn_free(c);
        }
    pcap_close(g.dead);
    nids_params.pcap_desc = NULL;
    g_wire_final = *sift_wire_stats(g.wire);
    sift_wire_free(g.wire);
    g.wire = NULL;
    free(g.tab);
    g.tab = NULL;
    g.dead = NULL;
    g.inited = 0;
}

void sift_reasm_set_filter(sift_wire_keep_fn keep, void *user)
{
    if (g.wire) sift_wire_set_filter(g.wire, keep, user);
}

const struct sift_wire_stats *sift_reasm_wire_stats(void)
{
    return g.wire ? sift_wire_stats(g.wire) : &g_wire_final;
}

const struct sift_reasm_stats *sift_reasm_stats(void)
{
    return &g.st;
}
