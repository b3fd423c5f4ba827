/* reasm.c — TCP reassembly through libnids, driven from our own loop: each
 * frame is normalised by wire.c and the IPv4 packet fed to nids_pcap_handler
 * over a dead DLT_RAW handle (NOTES-libs 0, 1.5, 1.13). The only file that
 * sees struct tcp_stream. Not here yet: mid-stream pickup, one-sided flows and
 * gap filling (NOTES-libs 1.15); they belong in front of libnids, in feed. */
#include "reasm.h"

#include <nids.h>
#include <pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hash size given to libnids; 3/4 of it are tracked at once, RSS ≈ 0.21 KB
 * each (NOTES 1.8). 1<<16 → 49152 concurrent connections, ~14 MB. */
#define SIFT_REASM_STREAMS (1 << 16)
/* First-SYN cache: direct-mapped, a newer SYN for another tuple overwrites. */
#define SYN_SLOTS (1u << 14)

/* 4-tuple in libnids' orientation: s = client (SYN sender). Addresses in
 * network byte order as libnids holds them, ports in host order. */
struct tuple {
    uint32_t saddr, daddr;
    uint16_t sport, dport;
};

/* Our state for one opened connection; a_tcp->user points here. */
struct flow {
    struct tuple t;
    void *handle;                 /* what on_open returned */
    struct sift_pktref last;      /* last packet seen for it */
    struct flow *next;            /* hash chain */
};

struct syn_slot {
    struct tuple t;
    int used;
    struct sift_pktref ref;
};

enum once_kind { ONCE_IP_CSUM, ONCE_TCP_CSUM, ONCE_SHORT, ONCE_TOOMUCH, ONCE_BIGQUEUE, ONCE_N };

static struct {
    int inited;
    struct sift_reasm_cbs cbs;
    struct sift_wire *wire;
    pcap_t *dead;
    struct sift_pktref cur;       /* packet being fed right now */
    struct flow **tab;            /* open flows by tuple */
    size_t nbuckets, nflows;
    struct syn_slot *syn;
    struct sift_reasm_stats st;
    unsigned once;                /* enum once_kind bits already reported */
} g;

static struct sift_wire_stats g_wire_final;   /* wire stats kept after finish */
/* libnids keeps the header pointer (nids_last_pcap_header): must outlive the call. */
static struct pcap_pkthdr g_hdr;
/* Copy of the packet fed: libnids gets a buffer we own, not borrowed frame bytes. */
static uint8_t g_pkt[65536];
/* Stored by pointer in libnids, survives nids_init/nids_exit (NOTES 1.4). */
static struct nids_chksum_ctl g_nocsum = { 0, 0, NIDS_DONT_CHKSUM, 0 };

const char *sift_close_reason_name(enum sift_close_reason r)
{
    switch (r) {
    case SIFT_CLOSE_FIN: return "fin";
    case SIFT_CLOSE_RST: return "rst";
    case SIFT_CLOSE_TIMEOUT: return "timeout";
    case SIFT_CLOSE_EOF: return "eof";
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

/* ---- flow table ----------------------------------------------------------- */

static size_t tuple_hash(const struct tuple *t)
{
    uint64_t h = (uint64_t)t->saddr * 0x9E3779B97F4A7C15ull;
    h ^= ((uint64_t)t->daddr << 32 | (uint64_t)t->sport << 16 | t->dport) * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 29));
}

static int tuple_eq(const struct tuple *a, const struct tuple *b)
{
    return a->saddr == b->saddr && a->daddr == b->daddr && a->sport == b->sport && a->dport == b->dport;
}

static struct flow **flow_slot(const struct tuple *t)
{
    struct flow **pp = &g.tab[tuple_hash(t) & (g.nbuckets - 1)];
    while (*pp && !tuple_eq(&(*pp)->t, t)) pp = &(*pp)->next;
    return pp;
}

static void flow_grow(void)
{
    size_t n = g.nbuckets * 2;
    struct flow **tab = sift_xcalloc(n, sizeof *tab);
    for (size_t i = 0; i < g.nbuckets; i++) {
        struct flow *f = g.tab[i], *next;
        for (; f; f = next) {
            next = f->next;
            size_t b = tuple_hash(&f->t) & (n - 1);
            f->next = tab[b];
            tab[b] = f;
        }
    }
    free(g.tab);
    g.tab = tab;
    g.nbuckets = n;
}

static void flow_insert(struct flow *f)
{
    if (g.nflows >= g.nbuckets) flow_grow();
    struct flow **pp = &g.tab[tuple_hash(&f->t) & (g.nbuckets - 1)];
    f->next = *pp;
    *pp = f;
    g.nflows++;
}

/* Unlinks f, reports on_close once and frees it. */
static void flow_close(struct flow *f, enum sift_close_reason why)
{
    struct flow **pp = flow_slot(&f->t);
    if (*pp == f) { *pp = f->next; g.nflows--; }
    g.st.flows_closed++;
    if (g.cbs.on_close) g.cbs.on_close(g.cbs.user, f->handle, why, &f->last);
    free(f);
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

static void fill_flow_info(struct sift_flow_info *fi, const struct tuple4 *a)
{
    memset(fi, 0, sizeof *fi);
    fi->ip_version = sift_wire_addr_string(g.wire, a->saddr, fi->cli_addr, sizeof fi->cli_addr);
    sift_wire_addr_string(g.wire, a->daddr, fi->srv_addr, sizeof fi->srv_addr);
    fi->cli_port = a->source;
    fi->srv_port = a->dest;
}

static void on_established(struct tcp_stream *a)
{
    struct tuple t = { a->addr.saddr, a->addr.daddr, a->addr.source, a->addr.dest };
    struct flow **pp = flow_slot(&t);
    if (*pp)   /* libnids dropped the old stream on this tuple without a callback (NOTES 1.7) */
        flow_close(*pp, SIFT_CLOSE_TIMEOUT);

    struct sift_flow_info fi;
    fill_flow_info(&fi, &a->addr);
    fi.first = g.cur;
    struct syn_slot *s = &g.syn[tuple_hash(&t) & (SYN_SLOTS - 1)];
    if (s->used && tuple_eq(&s->t, &t)) {
        fi.first = s->ref;
        s->used = 0;
    }
    void *h = g.cbs.on_open ? g.cbs.on_open(g.cbs.user, &fi) : NULL;
    if (!h) return;                             /* not collected: libnids frees it */
    struct flow *f = sift_xcalloc(1, sizeof *f);
    f->t = t;
    f->handle = h;
    f->last = g.cur;
    flow_insert(f);
    g.st.flows_opened++;
    a->user = f;
    a->client.collect++;
    a->server.collect++;
}

/* Delivers the new bytes of one half; returns -1 if the dissector stopped. */
static int deliver(struct flow *f, struct half_stream *hs, enum sift_dir dir)
{
    if (hs->count_new <= 0) return 0;
    const uint8_t *p = (const uint8_t *)hs->data + (hs->count - hs->offset) - hs->count_new;
    size_t n = (size_t)hs->count_new;
    if (dir == SIFT_DIR_C2S) g.st.bytes_c2s += n; else g.st.bytes_s2c += n;
    if (!g.cbs.on_data) return 0;
    return g.cbs.on_data(g.cbs.user, f->handle, dir, p, n, &g.cur) < 0 ? -1 : 0;
}

static void tcp_callback(struct tcp_stream *a, void **param)
{
    (void)param;
    if (a->nids_state == NIDS_JUST_EST) { on_established(a); return; }
    struct flow *f = a->user;
    if (!f) return;
    switch (a->nids_state) {
    case NIDS_DATA:
        f->last = g.cur;
        /* a->server receives what the client sends (NOTES 1.7 naming trap). */
        if (deliver(f, &a->server, SIFT_DIR_C2S) < 0 || deliver(f, &a->client, SIFT_DIR_S2C) < 0) {
            a->client.collect--;
            a->server.collect--;                /* libnids drops the stream after this call */
            a->user = NULL;
            /* No reason fits "the dissector let go"; EOF = no more input for it. */
            flow_close(f, SIFT_CLOSE_EOF);
        }
        return;
    case NIDS_CLOSE: a->user = NULL; flow_close(f, SIFT_CLOSE_FIN); return;
    case NIDS_RESET: a->user = NULL; flow_close(f, SIFT_CLOSE_RST); return;
    case NIDS_TIMED_OUT: a->user = NULL; flow_close(f, SIFT_CLOSE_TIMEOUT); return;
    case NIDS_EXITING: a->user = NULL; flow_close(f, SIFT_CLOSE_EOF); return;
    default: return;
    }
}

/* ---- public --------------------------------------------------------------- */

enum sift_status sift_reasm_init(const struct sift_reasm_cbs *cbs, char *err, size_t errlen)
{
    if (g.inited) {
        snprintf(err, errlen, "reassembler already initialised");
        return SIFT_ERR_USAGE;
    }
    memset(&g, 0, sizeof g);
    g.cbs = *cbs;
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
    g.syn = sift_xcalloc(SYN_SLOTS, sizeof *g.syn);
    g.inited = 1;
    return SIFT_OK;
}

/* Remembers the first SYN of a 4-tuple, and refreshes last for a known flow. */
static void note_packet(const uint8_t *ip, uint32_t len)
{
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
    if ((ip[6] & 0x3f) || ip[7] || ip[9] != 6 || len < ihl + 20) return;   /* fragment */
    const uint8_t *th = ip + ihl;
    struct tuple t;
    memcpy(&t.saddr, ip + 12, 4);
    memcpy(&t.daddr, ip + 16, 4);
    t.sport = (uint16_t)(th[0] << 8 | th[1]);
    t.dport = (uint16_t)(th[2] << 8 | th[3]);
    uint8_t fl = th[13];
    if ((fl & 0x02) && !(fl & 0x14)) {          /* SYN without ACK or RST */
        struct syn_slot *s = &g.syn[tuple_hash(&t) & (SYN_SLOTS - 1)];
        if (!s->used || !tuple_eq(&s->t, &t)) {
            s->t = t;
            s->ref = g.cur;
            s->used = 1;
        }
    }
    struct flow *f = *flow_slot(&t);
    if (!f) {
        struct tuple r = { t.daddr, t.saddr, t.dport, t.sport };
        f = *flow_slot(&r);
    }
    if (f) f->last = g.cur;
}

void sift_reasm_feed(const struct sift_frame *fr)
{
    const uint8_t *ip;
    uint32_t len;
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
    if (ws->short_frames != shrt)
        finding_once(ONCE_SHORT, "frame_cut_by_snaplen", SIFT_SEV_MEDIUM,
                     "frames were captured shorter than they were on the wire (snaplen); "
                     "TCP bytes beyond the cut are missing");
    if (v != SIFT_WIRE_IPV4 || len > sizeof g_pkt) return;

    memcpy(g_pkt, ip, len);
    note_packet(g_pkt, len);
    /* Floor division so pre-1970 stamps stay consistent; libnids uses tv_sec only. */
    int64_t sec = fr->ref.ts_us / 1000000, usec = fr->ref.ts_us % 1000000;
    if (usec < 0) { usec += 1000000; sec--; }
    g_hdr.ts.tv_sec = (time_t)sec;
    g_hdr.ts.tv_usec = (suseconds_t)usec;
    g_hdr.caplen = g_hdr.len = len;
    nids_pcap_handler(NULL, &g_hdr, g_pkt);
}

void sift_reasm_finish(void)
{
    if (!g.inited) return;
    nids_exit();                                /* EXITING for every open stream → EOF */
    nids_unregister_tcp((void *)tcp_callback);  /* nids_exit keeps the node: it would leak per init */
    for (size_t i = 0; i < g.nbuckets; i++)     /* streams libnids dropped silently */
        while (g.tab[i]) flow_close(g.tab[i], SIFT_CLOSE_EOF);
    pcap_close(g.dead);
    nids_params.pcap_desc = NULL;
    g_wire_final = *sift_wire_stats(g.wire);
    sift_wire_free(g.wire);
    g.wire = NULL;
    free(g.tab);
    g.tab = NULL;
    free(g.syn);
    g.syn = NULL;
    g.dead = NULL;
    g.inited = 0;
}

const struct sift_wire_stats *sift_reasm_wire_stats(void)
{
    return g.wire ? sift_wire_stats(g.wire) : &g_wire_final;
}

const struct sift_reasm_stats *sift_reasm_stats(void)
{
    return &g.st;
}
