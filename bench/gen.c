/* gen.c — bench_gen: writes a synthetic capture (pcap, Ethernet, IPv4 and IPv6) of a chosen
 * size, deterministically from a seed, and a ground-truth TSV of every message in it. About
 * half the bytes are SMTP (RFC 5321, pipelining RFC 2920, BDAT RFC 3030, STARTTLS RFC 3207,
 * AUTH RFC 4954, MIME RFC 2045/2047/2231), the rest HTTP-like TCP and DNS/QUIC-like UDP.
 * Not a model of any real network's traffic mix; not installed; benchmark and test input only.
 *
 * Usage: bench_gen SIZE_MB SEED OUT.pcap TRUTH.tsv   (SIZE_MB in MiB, may be fractional) */
#include <arpa/inet.h>
#include <math.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSS        1448
#define N_ACTIVE   24         /* concurrent flows */
#define P_REORDER  0.004      /* per multi-segment step: swap two adjacent segments */
#define P_LOSSY    0.015      /* per SMTP session with content: one client segment not captured */

/* ---- helpers ------------------------------------------------------------- */

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) { fprintf(stderr, "bench_gen: out of memory\n"); abort(); }
    return q;
}

struct buf { uint8_t *p; size_t n, cap; };

static void b_reserve(struct buf *b, size_t more)
{
    if (b->n + more <= b->cap) return;
    size_t c = b->cap ? b->cap : 256;
    while (c < b->n + more) c *= 2;
    b->p = xrealloc(b->p, c);
    b->cap = c;
}
static void b_put(struct buf *b, const void *d, size_t n)
{
    b_reserve(b, n);
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void b_str(struct buf *b, const char *s) { b_put(b, s, strlen(s)); }
static void b_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void b_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    b_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

/* xoshiro256** — one generator for structure, one for bulk bytes. */
struct rng { uint64_t s[4]; };
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t r_next(struct rng *r)
{
    uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return res;
}
static void r_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {   /* splitmix64 */
        uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        r->s[i] = z ^ (z >> 31);
    }
}
static struct rng R, RB;
static uint32_t rnd(uint32_t n) { return n ? (uint32_t)((r_next(&R) >> 32) % n) : 0; }
static double rndf(void) { return (double)(r_next(&R) >> 11) / 9007199254740992.0; }
/* Log-uniform integer in [lo, hi]. */
static size_t rnd_log(size_t lo, size_t hi)
{
    if (hi <= lo) return lo;
    double l = log((double)lo), h = log((double)hi);
    return (size_t)exp(l + (h - l) * rndf());
}
static void rnd_bytes(uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) { uint64_t v = r_next(&RB); memcpy(p + i, &v, 8); }
    if (i < n) { uint64_t v = r_next(&RB); memcpy(p + i, &v, n - i); }
}

static const char b64tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/* Base64 of d; with wrap, CRLF after every 76 characters and at the end. */
static void b_base64(struct buf *b, const uint8_t *d, size_t n, int wrap)
{
    b_reserve(b, (n + 2) / 3 * 4 + (n / 57 + 2) * 2);
    uint8_t *o = b->p + b->n;
    size_t col = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        o[0] = (uint8_t)b64tab[v >> 18]; o[1] = (uint8_t)b64tab[(v >> 12) & 63];
        o[2] = (uint8_t)b64tab[(v >> 6) & 63]; o[3] = (uint8_t)b64tab[v & 63];
        o += 4;
        if (wrap && (col += 4) == 76) { *o++ = '\r'; *o++ = '\n'; col = 0; }
    }
    if (i < n) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0);
        o[0] = (uint8_t)b64tab[v >> 18]; o[1] = (uint8_t)b64tab[(v >> 12) & 63];
        o[2] = i + 1 < n ? (uint8_t)b64tab[(v >> 6) & 63] : '='; o[3] = '=';
        o += 4; col += 4;
    }
    if (wrap && col) { *o++ = '\r'; *o++ = '\n'; }
    b->n = (size_t)(o - b->p);
}

static void hex32(const uint8_t *h, char out[65])
{
    for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", h[i]);
}

/* ---- pcap output ------------------------------------------------------- */

static FILE *out;
static uint64_t now_us = 1700000000ULL * 1000000ULL;
static uint64_t written, budget, pending, bytes_smtp, bytes_other, n_packets, n_dropped, n_reordered;
static uint8_t frame[14 + 40 + 20 + MSS + 64];

static uint32_t csum_add(uint32_t s, const uint8_t *p, size_t n)
{
    uint64_t acc = s;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) { uint32_t w; memcpy(&w, p + i, 4); acc += w; }
    for (; i + 2 <= n; i += 2) { uint16_t w; memcpy(&w, p + i, 2); acc += w; }
    if (i < n) acc += p[i];   /* little-endian host: odd byte is the low half of its word */
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return (uint32_t)acc;
}
static uint16_t csum_fold(uint32_t s) { return (uint16_t)~s; }

/* One packet: is_v6 selects IPv4/IPv6; proto 6 (TCP, with seq/ack/flags) or 17 (UDP). */
static void emit(int smtp, int v6, const uint8_t *src, const uint8_t *dst, uint16_t sport,
                 uint16_t dport, int proto, uint32_t seq, uint32_t ack, uint8_t flags,
                 const uint8_t *payload, size_t plen, int drop)
{
    now_us += 1 + rnd(60);
    if (drop) { n_dropped++; return; }
    uint8_t *f = frame;
    memcpy(f, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
    f[12] = v6 ? 0x86 : 0x08; f[13] = v6 ? 0xdd : 0x00;
    size_t iph = v6 ? 40 : 20, l4 = proto == 6 ? 20 : 8;
    uint8_t *ip = f + 14, *th = ip + iph;
    size_t l4len = l4 + plen;
    if (v6) {
        memset(ip, 0, 8);
        ip[0] = 0x60;
        ip[4] = (uint8_t)(l4len >> 8); ip[5] = (uint8_t)l4len; ip[6] = (uint8_t)proto; ip[7] = 64;
        memcpy(ip + 8, src, 16); memcpy(ip + 24, dst, 16);
    } else {
        size_t tot = 20 + l4len;
        ip[0] = 0x45; ip[1] = 0; ip[2] = (uint8_t)(tot >> 8); ip[3] = (uint8_t)tot;
        ip[4] = 0; ip[5] = 0; ip[6] = 0x40; ip[7] = 0; ip[8] = 64; ip[9] = (uint8_t)proto;
        ip[10] = ip[11] = 0;
        memcpy(ip + 12, src, 4); memcpy(ip + 16, dst, 4);
        uint16_t c = csum_fold(csum_add(0, ip, 20));
        memcpy(ip + 10, &c, 2);
    }
    th[0] = (uint8_t)(sport >> 8); th[1] = (uint8_t)sport; th[2] = (uint8_t)(dport >> 8); th[3] = (uint8_t)dport;
    if (proto == 6) {
        uint32_t s = htonl(seq), a = htonl(ack);
        memcpy(th + 4, &s, 4); memcpy(th + 8, &a, 4);
        th[12] = 5 << 4; th[13] = flags; th[14] = 0xff; th[15] = 0xff;
        th[16] = th[17] = th[18] = th[19] = 0;
    } else {
        th[4] = (uint8_t)(l4len >> 8); th[5] = (uint8_t)l4len; th[6] = th[7] = 0;
    }
    if (plen) memcpy(th + l4, payload, plen);
    uint8_t pseudo[40];
    size_t alen = v6 ? 16 : 4;
    memcpy(pseudo, src, alen); memcpy(pseudo + alen, dst, alen);
    uint32_t s = csum_add(0, pseudo, 2 * alen);
    uint8_t tail[4] = { 0, (uint8_t)proto, (uint8_t)(l4len >> 8), (uint8_t)l4len };
    s = csum_add(s, tail, 4);
    s = csum_add(s, th, l4len);
    uint16_t c = csum_fold(s);
    if (proto == 17 && c == 0) c = 0xffff;
    memcpy(th + (proto == 6 ? 16 : 6), &c, 2);

    uint32_t len = (uint32_t)(14 + iph + l4len);
    uint32_t rec[4] = { (uint32_t)(now_us / 1000000), (uint32_t)(now_us % 1000000), len, len };
    fwrite(rec, 1, 16, out);
    fwrite(f, 1, len, out);
    written += 16 + len;
    if (smtp) bytes_smtp += 16 + len; else bytes_other += 16 + len;
    n_packets++;
}

/* ---- flows --------------------------------------------------------------- */

enum { K_SMTP, K_HTTP, K_UDP };
enum { SYN = 0x02, FIN = 0x01, RST = 0x04, PSH = 0x08, ACKF = 0x10 };

struct chunk {
    int dir;                 /* 0 client→server, 1 server→client */
    struct buf b;
    size_t drop_off;         /* offset inside b whose segment is not captured, or SIZE_MAX */
    struct chunk *next;
};

struct msg;
struct flow {
    int kind, v6;
    uint8_t ip[2][16];       /* [0] client, [1] server */
    uint16_t port[2];
    uint32_t seq[2];         /* next sequence number each side sends */
    int hs;                  /* 0..2 handshake, 3 established, 10..12 closing, 13 done */
    struct chunk *head, *tail;
    size_t off;
    int unacked, need_ack;
    int step, script_done;
    /* SMTP script */
    int n_msgs, msg_i, pipelining, chunking, tls, auth, lossy, id;
    char helo[64], srvname[64];
    /* HTTP / UDP */
    int n_req;
};

static struct chunk *q_add(struct flow *f, int dir)
{
    struct chunk *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->dir = dir;
    c->drop_off = SIZE_MAX;
    if (f->tail) f->tail->next = c; else f->head = c;
    f->tail = c;
    return c;
}
static void q_say(struct flow *f, int dir, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void q_say(struct flow *f, int dir, const char *fmt, ...)
{
    struct chunk *c = q_add(f, dir);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    b_reserve(&c->b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf((char *)c->b.p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    c->b.n = (size_t)n;
}

static FILE *truth;
static uint64_t seed_g, n_sessions, n_flows, n_msgs_total, n_msgs_lossy, n_tls, n_atts;

/* ---- message content ----------------------------------------------------- */

static const char *words[] = {
    "the", "report", "meeting", "budget", "please", "find", "attached", "review", "project",
    "status", "update", "invoice", "contract", "schedule", "deadline", "customer", "order",
    "shipment", "delivery", "payment", "account", "team", "office", "regards", "thanks",
    "tomorrow", "Monday", "Friday", "agenda", "minutes", "draft", "final", "version", "numbers",
    "sales", "forecast", "approval", "signature", "Grüße", "Büro", "naïve", "déjà", "vu",
    "server", "network", "backup", "release", "plan", "quarterly", "risk", "audit", "travel",
};
#define N_WORDS (sizeof words / sizeof *words)

/* Subjects, UTF-8. Those marked latin1 use only U+0000..U+00FF. */
static const struct { const char *s; int latin1; } subjects[] = {
    { "Quarterly report", 1 }, { "Meeting notes", 1 }, { "Invoice attached", 1 },
    { "Project status update", 1 }, { "Rechnung für März", 1 }, { "Café réservation", 1 },
    { "Überweisung bestätigt — bitte prüfen", 0 }, { "Привет, отчёт за квартал", 0 },
    { "会议纪要和附件", 0 }, { "Re: Angebot Nr. 2023-äöü", 1 }, { "Fwd: Résumé", 1 },
    { "Weekly numbers, please review before Friday's meeting with the whole team", 1 },
};
#define N_SUBJ (sizeof subjects / sizeof *subjects)

static const char *exts[] = { "pdf", "docx", "xlsx", "zip", "jpg", "png", "bin" };
static const uint8_t magics[][8] = {
    "%PDF-1.7", "PK\3\4\24\0\6\0", "PK\3\4\24\0\6\0", "PK\3\4\24\0\0\0",
    { 0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F' }, { 0x89, 'P', 'N', 'G', 13, 10, 26, 10 },
    { 0, 0, 0, 0, 0, 0, 0, 0 },
};
static const char *ctypes[] = {
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/zip", "image/jpeg", "image/png", "application/octet-stream",
};

/* UTF-8 string of Latin-1 characters only → ISO-8859-1 bytes. */
static void to_latin1(const char *s, struct buf *o)
{
    for (const uint8_t *p = (const uint8_t *)s; *p; p++) {
        if (*p < 0x80) { b_put(o, p, 1); continue; }
        uint8_t c = (uint8_t)(((p[0] & 0x1f) << 6) | (p[1] & 0x3f));
        b_put(o, &c, 1);
        p++;
    }
}

static void q_encode(struct buf *o, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == ' ') b_str(o, "_");
        else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '!' || c == '*' || c == '+' || c == '-' || c == '/') b_put(o, &c, 1);
        else b_printf(o, "=%02X", c);
    }
}

/* Subject header value for the UTF-8 text s (decoded form = s). */
static void subject_header(struct buf *h, const char *s, int latin1)
{
    int ascii = 1;
    for (const char *p = s; *p; p++) if ((uint8_t)*p >= 0x80) ascii = 0;
    int how = ascii ? (rnd(4) ? 0 : 1) : 1 + (int)rnd(3);   /* 0 raw, 1 B utf-8, 2 Q, 3 "Re:"+B */
    if (how == 2) {
        if (latin1 && rnd(2)) {
            struct buf l = { 0 };
            to_latin1(s, &l);
            b_str(h, "=?ISO-8859-1?Q?");
            q_encode(h, l.p, l.n);
            free(l.p);
        } else {
            b_str(h, "=?utf-8?q?");
            q_encode(h, (const uint8_t *)s, strlen(s));
        }
        b_str(h, "?=");
        return;
    }
    if (how == 0) { b_str(h, s); return; }
    if (how == 3 && strncmp(s, "Re: ", 4) == 0) { b_str(h, "Re: "); s += 4; }
    /* B encoding, split on character boundaries into words of at most 30 bytes, folded. */
    size_t n = strlen(s), i = 0;
    int first = 1;
    while (i < n) {
        size_t j = i + 30 < n ? i + 30 : n;
        while (j < n && ((uint8_t)s[j] & 0xc0) == 0x80) j--;
        if (!first) b_str(h, "\r\n ");
        b_str(h, "=?UTF-8?B?");
        b_base64(h, (const uint8_t *)s + i, j - i, 0);
        b_str(h, "?=");
        first = 0;
        i = j;
    }
}

static void body_text(struct buf *m, int lines)
{
    for (int l = 0; l < lines; l++) {
        if (rnd(25) == 0) b_str(m, rnd(2) ? "." : "..and a line that starts with a dot");
        if (rnd(400) == 0) b_str(m, "zebrafish ");   /* a rare word for the full-text query */
        int col = 0;
        while (col < 60) {
            const char *w = words[rnd(N_WORDS)];
            if (col) b_str(m, " ");
            b_str(m, w);
            col += (int)strlen(w) + 1;
        }
        b_str(m, "\r\n");
    }
}

static size_t max_attachment(void)
{
    size_t cap = 4u << 20, by_budget = (size_t)(budget / 16);
    size_t left = written + pending < budget ? (size_t)((budget - written - pending) / 4) : 0;
    if (by_budget < cap) cap = by_budget;
    if (left < cap) cap = left;
    return cap < 1024 ? 1024 : cap;
}

struct msgtruth {
    char mail_from[80];
    char rcpt_ok[512], rcpt_bad[256];
    int n_ok, n_bad;
    struct buf subject, atts, raw;
    char msgid[96];
};

/* Builds one message (raw, unstuffed) and its truth. */
static void make_message(struct flow *f, struct msgtruth *t)
{
    uint64_t n = n_msgs_total++;
    int sender = (int)rnd(500);
    snprintf(t->mail_from, sizeof t->mail_from, "user%d@corp%d.example", sender, sender % 17);
    int nr = 1 + (int)(rnd(4) == 0 ? rnd(4) : 0);
    t->rcpt_ok[0] = t->rcpt_bad[0] = '\0';
    t->n_ok = t->n_bad = 0;
    struct buf to = { 0 };
    for (int i = 0; i < nr; i++) {
        char a[64];
        snprintf(a, sizeof a, "rcpt%u@mail%u.example", rnd(2000), rnd(9));
        if (i > 0 && rnd(8) == 0) {
            size_t l = strlen(t->rcpt_bad);
            snprintf(t->rcpt_bad + l, sizeof t->rcpt_bad - l, "%s%s", t->n_bad ? "," : "", a);
            t->n_bad++;
        } else {
            size_t l = strlen(t->rcpt_ok);
            snprintf(t->rcpt_ok + l, sizeof t->rcpt_ok - l, "%s%s", t->n_ok ? "," : "", a);
            t->n_ok++;
            b_printf(&to, "%s<%s>", to.n ? ", " : "", a);
        }
    }
    int si = (int)rnd(N_SUBJ);
    t->subject.n = 0;
    b_printf(&t->subject, "%s #%llu", subjects[si].s, (unsigned long long)n);
    b_put(&t->subject, "", 1); t->subject.n--;
    snprintf(t->msgid, sizeof t->msgid, "bench.%llu.%llu@gen.example", (unsigned long long)seed_g,
             (unsigned long long)n);

    struct buf *m = &t->raw;
    m->n = 0;
    char cip[64];
    inet_ntop(f->v6 ? AF_INET6 : AF_INET, f->ip[0], cip, sizeof cip);
    time_t ts = (time_t)(now_us / 1000000);
    char date[64];
    struct tm tm;
    gmtime_r(&ts, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    b_printf(m, "Received: from %s (%s [%s])\r\n\tby %s (Postfix) with ESMTP id Q%llX\r\n"
             "\tfor <%.60s>; %s\r\n", f->helo, f->helo, cip, f->srvname, (unsigned long long)n,
             t->rcpt_ok, date);
    b_printf(m, "From: \"User %d\" <%s>\r\nTo: %.*s\r\nSubject: ", sender, t->mail_from,
             (int)to.n, (const char *)to.p);
    free(to.p);
    subject_header(m, (const char *)t->subject.p, subjects[si].latin1);
    b_printf(m, "\r\nDate: %s\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n", date, t->msgid);

    int natt = rnd(10) < 4 ? 0 : (rnd(6) ? 1 : 2 + (int)rnd(2));
    t->atts.n = 0;
    if (natt == 0 && rnd(2)) {
        b_str(m, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
        body_text(m, 3 + (int)rnd(40));
    } else {
        char bnd[48];
        snprintf(bnd, sizeof bnd, "=_bench_%llu_%u", (unsigned long long)n, rnd(100000));
        b_printf(m, "Content-Type: multipart/%s; boundary=\"%s\"\r\n\r\n"
                 "This is a multi-part message in MIME format.\r\n\r\n",
                 natt ? "mixed" : "alternative", bnd);
        b_printf(m, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "Content-Transfer-Encoding: 8bit\r\n\r\n", bnd);
        body_text(m, 3 + (int)rnd(30));
        if (!natt) {
            b_printf(m, "\r\n--%s\r\nContent-Type: text/html; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: 8bit\r\n\r\n<html><body><p>", bnd);
            body_text(m, 3 + (int)rnd(20));
            b_str(m, "</p></body></html>\r\n");
        }
        static uint8_t *data;
        static size_t data_cap;
        for (int a = 0; a < natt; a++) {
            size_t mx = max_attachment(), sz = rnd(10) ? rnd_log(1024, mx < 204800 ? mx : 204800) : rnd_log(mx < 204800 ? mx : 204800, mx);
            if (sz < 8) sz = 8;
            if (sz > data_cap) { data = xrealloc(data, sz); data_cap = sz; }
            rnd_bytes(data, sz);
            int e = (int)rnd(sizeof exts / sizeof *exts);
            memcpy(data, magics[e], 8);   /* so content sniffing agrees with the declared type */
            uint8_t h[32];
            char hx[65];
            SHA256(data, sz, h);
            hex32(h, hx);
            char fname[96], fname_hdr[200];
            int kind = (int)rnd(10);
            if (kind == 0) {   /* RFC 2231 UTF-8 */
                snprintf(fname, sizeof fname, "Prüfbericht_%llu_%d.%s", (unsigned long long)n, a, exts[e]);
                snprintf(fname_hdr, sizeof fname_hdr, "filename*=UTF-8''Pr%%C3%%BCfbericht_%llu_%d.%s",
                         (unsigned long long)n, a, exts[e]);
            } else if (kind == 1) {   /* quoted, with a space */
                snprintf(fname, sizeof fname, "scan %llu-%d.%s", (unsigned long long)n, a, exts[e]);
                snprintf(fname_hdr, sizeof fname_hdr, "filename=\"%s\"", fname);
            } else {
                snprintf(fname, sizeof fname, "file_%llu_%d.%s", (unsigned long long)n, a, exts[e]);
                snprintf(fname_hdr, sizeof fname_hdr, "filename=\"%s\"", fname);
            }
            b_printf(m, "\r\n--%s\r\nContent-Type: %s\r\nContent-Disposition: attachment;\r\n\t%s\r\n"
                     "Content-Transfer-Encoding: base64\r\n\r\n", bnd, ctypes[e], fname_hdr);
            b_base64(m, data, sz, 1);
            b_printf(&t->atts, "%s%s:%zu:%s", t->atts.n ? "|" : "", hx, sz, fname);
            n_atts++;
        }
        b_printf(m, "\r\n--%s--\r\n", bnd);
    }
    b_put(&t->atts, "", 1); t->atts.n--;
}

static void write_truth(struct flow *f, struct msgtruth *t, int expected, const char *loss, int bdat)
{
    char c[64], s[64];
    inet_ntop(f->v6 ? AF_INET6 : AF_INET, f->ip[0], c, sizeof c);
    inet_ntop(f->v6 ? AF_INET6 : AF_INET, f->ip[1], s, sizeof s);
    fprintf(truth, "%llu\t%s\t%s\t%d\t%s\t%u\t%s\t%u\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
            (unsigned long long)(n_msgs_total - 1), expected ? "complete" : "incomplete", loss,
            f->v6 ? 6 : 4, c, f->port[0], s, f->port[1], t->mail_from, t->rcpt_ok, t->rcpt_bad,
            (const char *)t->subject.p, t->msgid, t->atts.n ? (const char *)t->atts.p : "",
            bdat ? "bdat" : "data", f->auth == 1 ? "plain" : f->auth == 2 ? "login" : "");
}

/* Client bytes of a DATA body: dot-stuffed, with the terminator. */
static void stuff(struct buf *o, const struct buf *m)
{
    b_reserve(o, m->n + m->n / 64 + 8);
    int bol = 1;
    for (size_t i = 0; i < m->n; i++) {
        if (bol && m->p[i] == '.') o->p[o->n++] = '.';
        o->p[o->n++] = m->p[i];
        bol = m->p[i] == '\n';
        if (o->n + 4 > o->cap) b_reserve(o, 4096);
    }
    b_str(o, ".\r\n");
}

static void smtp_tls(struct flow *f)
{
    /* Random TLS-looking records: ClientHello, ServerHello..., then application data. */
    struct chunk *c = q_add(f, 0);
    uint8_t hdr[5] = { 0x16, 0x03, 0x01, 0x01, 0x00 };
    b_put(&c->b, hdr, 5);
    b_reserve(&c->b, 256); rnd_bytes(c->b.p + c->b.n, 256); c->b.n += 256;
    c = q_add(f, 1);
    size_t n = 2000 + rnd(3000);
    uint8_t sh[5] = { 0x16, 0x03, 0x03, (uint8_t)(n >> 8), (uint8_t)n };
    b_put(&c->b, sh, 5);
    b_reserve(&c->b, n); rnd_bytes(c->b.p + c->b.n, n); c->b.n += n;
    size_t total = rnd_log(2000, max_attachment() * 2);
    for (int dir = 0; dir < 2; dir++) {
        c = q_add(f, dir);
        size_t left = dir ? 500 + rnd(2000) : total;
        while (left) {
            size_t r = left > 16384 ? 16384 : left;
            uint8_t ad[5] = { 0x17, 0x03, 0x03, (uint8_t)(r >> 8), (uint8_t)r };
            b_put(&c->b, ad, 5);
            b_reserve(&c->b, r); rnd_bytes(c->b.p + c->b.n, r); c->b.n += r;
            left -= r;
        }
    }
}

/* Appends the chunks of the next SMTP step; sets script_done after QUIT. */
static void smtp_next(struct flow *f)
{
    if (f->step == 0) {
        q_say(f, 1, "220 %s ESMTP Postfix (Debian/GNU)\r\n", f->srvname);
        q_say(f, 0, "EHLO %s\r\n", f->helo);
        struct buf e = { 0 };
        b_printf(&e, "250-%s\r\n", f->srvname);
        if (f->pipelining) b_str(&e, "250-PIPELINING\r\n");
        b_str(&e, "250-SIZE 52428800\r\n250-ETRN\r\n250-STARTTLS\r\n");
        if (f->auth) b_str(&e, "250-AUTH PLAIN LOGIN\r\n");
        b_str(&e, "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n");
        if (f->chunking) b_str(&e, "250-CHUNKING\r\n");
        b_str(&e, "250 DSN\r\n");
        struct chunk *c = q_add(f, 1);
        c->b = e;
        f->step = 1;
        return;
    }
    if (f->step == 1) {
        if (f->tls) {
            q_say(f, 0, "STARTTLS\r\n");
            q_say(f, 1, "220 2.0.0 Ready to start TLS\r\n");
            smtp_tls(f);
            n_tls++;
            f->script_done = 1;
            return;
        }
        char user[32], pass[32], cred[80];
        snprintf(user, sizeof user, "user%d", f->id % 500);
        snprintf(pass, sizeof pass, "pw%06x", rnd(1u << 24));
        if (f->auth == 1) {
            int n = snprintf(cred, sizeof cred, "%c%s%c%s", 0, user, 0, pass);
            struct buf b = { 0 };
            b_base64(&b, (const uint8_t *)cred, (size_t)n, 0);
            q_say(f, 0, "AUTH PLAIN %.*s\r\n", (int)b.n, (const char *)b.p);
            q_say(f, 1, "235 2.7.0 Authentication successful\r\n");
            free(b.p);
        } else if (f->auth == 2) {
            struct buf u = { 0 }, p = { 0 };
            b_base64(&u, (const uint8_t *)user, strlen(user), 0);
            b_base64(&p, (const uint8_t *)pass, strlen(pass), 0);
            q_say(f, 0, "AUTH LOGIN\r\n");
            q_say(f, 1, "334 VXNlcm5hbWU6\r\n");
            q_say(f, 0, "%.*s\r\n", (int)u.n, (const char *)u.p);
            q_say(f, 1, "334 UGFzc3dvcmQ6\r\n");
            q_say(f, 0, "%.*s\r\n", (int)p.n, (const char *)p.p);
            q_say(f, 1, "235 2.7.0 Authentication successful\r\n");
            free(u.p); free(p.p);
        }
        f->step = 2;
        return;
    }
    if (f->msg_i < f->n_msgs && f->msg_i > 0 && written + pending >= budget)
        f->msg_i = f->n_msgs;   /* size reached: end the session after this message */
    if (f->msg_i < f->n_msgs) {
        static struct msgtruth t;
        make_message(f, &t);
        int last = f->msg_i == f->n_msgs - 1;
        int bdat = f->chunking && rnd(3) == 0;
        struct buf env = { 0 }, rep = { 0 };
        int pipe = f->pipelining && rnd(10) < 8;
        /* envelope: MAIL, RCPTs (accepted first then rejected, interleaved by order of list) */
        const char *ok = t.rcpt_ok, *bad = t.rcpt_bad;
        b_printf(&env, "MAIL FROM:<%s> SIZE=%zu BODY=8BITMIME\r\n", t.mail_from, t.raw.n);
        b_printf(&rep, "250 2.1.0 Ok\r\n");
        if (!pipe) { q_add(f, 0)->b = env; q_add(f, 1)->b = rep; memset(&env, 0, sizeof env); memset(&rep, 0, sizeof rep); }
        for (int pass = 0; pass < 2; pass++) {
            const char *s = pass ? bad : ok;
            while (*s) {
                const char *e = strchr(s, ',');
                size_t l = e ? (size_t)(e - s) : strlen(s);
                b_printf(&env, "RCPT TO:<%.*s>\r\n", (int)l, s);
                if (pass) b_printf(&rep, "550 5.1.1 <%.*s>: Recipient address rejected: User unknown in virtual mailbox table\r\n", (int)l, s);
                else b_str(&rep, "250 2.1.5 Ok\r\n");
                if (!pipe) { q_add(f, 0)->b = env; q_add(f, 1)->b = rep; memset(&env, 0, sizeof env); memset(&rep, 0, sizeof rep); }
                s += l + (e ? 1 : 0);
            }
        }
        /* loss: one client segment of a long body is not captured; the receiver acks it */
        int lossy = last && f->lossy && t.raw.n > 4 * MSS;
        char loss[64] = "";
        if (!bdat) {
            b_str(&env, "DATA\r\n");
            b_str(&rep, "354 End data with <CR><LF>.<CR><LF>\r\n");
            q_add(f, 0)->b = env; q_add(f, 1)->b = rep;
            struct chunk *c = q_add(f, 0);
            stuff(&c->b, &t.raw);
            if (lossy) {
                c->drop_off = MSS * (1 + rnd((uint32_t)(c->b.n / MSS - 2)));
                snprintf(loss, sizeof loss, "c2s_body_offset_%zu", c->drop_off);
            }
            q_say(f, 1, "250 2.0.0 Ok: queued as %llX\r\n", (unsigned long long)n_msgs_total);
        } else {
            if (env.n) { q_add(f, 0)->b = env; q_add(f, 1)->b = rep; }
            size_t off = 0, csz = rnd(2) ? t.raw.n : 65536 + rnd(200000);
            while (off < t.raw.n) {
                size_t l = t.raw.n - off < csz ? t.raw.n - off : csz;
                int lastc = off + l == t.raw.n;
                struct chunk *c = q_add(f, 0);
                b_printf(&c->b, "BDAT %zu%s\r\n", l, lastc ? " LAST" : "");
                size_t hdr = c->b.n;
                b_put(&c->b, t.raw.p + off, l);
                if (lossy && lastc && l > 4 * MSS) {
                    c->drop_off = hdr + MSS * (1 + rnd((uint32_t)(l / MSS - 2)));
                    snprintf(loss, sizeof loss, "c2s_bdat_last_offset_%zu", c->drop_off);
                }
                if (lastc) q_say(f, 1, "250 2.0.0 Ok: queued as %llX\r\n", (unsigned long long)n_msgs_total);
                else q_say(f, 1, "250 2.0.0 %zu octets received\r\n", l);
                off += l;
            }
            lossy = loss[0] != '\0';
        }
        if (lossy) n_msgs_lossy++;
        write_truth(f, &t, !lossy, lossy ? loss : "", bdat);
        f->msg_i++;
        return;
    }
    q_say(f, 0, "QUIT\r\n");
    q_say(f, 1, "221 2.0.0 Bye\r\n");
    f->script_done = 1;
}

static void http_next(struct flow *f)
{
    if (f->step >= f->n_req || (f->step > 0 && written + pending >= budget)) { f->script_done = 1; return; }
    q_say(f, 0, "GET /static/%u/%08x.bin HTTP/1.1\r\nHost: www%u.example.org\r\nUser-Agent: bench/1.0\r\n"
          "Accept: */*\r\nConnection: keep-alive\r\n\r\n", rnd(100), rnd(1u << 30), rnd(50));
    size_t n = rnd_log(500, max_attachment() * 2);
    struct chunk *c = q_add(f, 1);
    b_printf(&c->b, "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/octet-stream\r\n"
             "Content-Length: %zu\r\n\r\n", n);
    b_reserve(&c->b, n); rnd_bytes(c->b.p + c->b.n, n); c->b.n += n;
    f->step++;
}

static void udp_next(struct flow *f)
{
    if (f->step >= f->n_req) { f->script_done = 1; return; }
    if (f->port[1] == 53) {
        struct chunk *c = q_add(f, 0);
        uint8_t q[12] = { (uint8_t)rnd(256), (uint8_t)rnd(256), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
        b_put(&c->b, q, 12);
        b_printf(&c->b, "%c%s%u%c%s%c%s", 4, "host", rnd(1000) % 10, 7, "example", 3, "org");
        b_put(&c->b, "\0\0\1\0\1", 5);
        c = q_add(f, 1);
        size_t n = 60 + rnd(300);
        b_reserve(&c->b, n); rnd_bytes(c->b.p, n); c->b.n = n;
    } else {
        struct chunk *c = q_add(f, rnd(4) ? 1 : 0);
        size_t n = 1200;
        b_reserve(&c->b, n); rnd_bytes(c->b.p, n); c->b.n = n;
        c->b.p[0] = 0x40;
    }
    f->step++;
}

static void flow_init(struct flow *f)
{
    memset(f, 0, sizeof *f);
    uint64_t id = n_flows++;
    f->id = (int)id;
    int smtp = bytes_smtp <= bytes_other;
    f->kind = smtp ? K_SMTP : (rnd(8) ? K_HTTP : K_UDP);
    f->v6 = rnd(5) == 0;
    if (f->v6) {
        static const uint8_t c6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1 }, s6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x25 };
        memcpy(f->ip[0], c6, 16); memcpy(f->ip[1], s6, 16);
        uint32_t h = rnd(60000) + 1;
        f->ip[0][14] = (uint8_t)(h >> 8); f->ip[0][15] = (uint8_t)h;
        f->ip[1][15] = (uint8_t)(1 + rnd(20));
    } else {
        f->ip[0][0] = 10; f->ip[0][1] = (uint8_t)(1 + rnd(200)); f->ip[0][2] = (uint8_t)rnd(256); f->ip[0][3] = (uint8_t)(1 + rnd(254));
        f->ip[1][0] = 192; f->ip[1][1] = 0; f->ip[1][2] = 2; f->ip[1][3] = (uint8_t)(1 + rnd(40));
    }
    f->port[0] = (uint16_t)(1024 + id % 64000);   /* unique among the flows alive at once */
    f->seq[0] = (uint32_t)r_next(&R); f->seq[1] = (uint32_t)r_next(&R);
    if (f->kind == K_SMTP) {
        n_sessions++;
        f->auth = rnd(10) < 3 ? 1 + (int)rnd(2) : 0;
        f->port[1] = f->auth ? 587 : 25;
        f->tls = rnd(12) == 0;
        f->pipelining = rnd(10) < 8;
        f->chunking = rnd(3) == 0;
        f->n_msgs = rnd(10) < 7 ? 1 : 2 + (int)rnd(4);
        f->lossy = rndf() < P_LOSSY;
        snprintf(f->helo, sizeof f->helo, "ws%llu.corp.example", (unsigned long long)id);
        snprintf(f->srvname, sizeof f->srvname, "mx%u.example.net", f->ip[1][15]);
    } else if (f->kind == K_HTTP) {
        f->port[1] = rnd(3) ? 80 : 8080;
        f->n_req = 1 + (int)rnd(3);
    } else {
        f->port[1] = rnd(2) ? 53 : 443;
        f->n_req = f->port[1] == 53 ? 1 : 5 + (int)rnd(40);
        f->hs = 3;
    }
}

static void flow_free(struct flow *f)
{
    while (f->head) { struct chunk *c = f->head; f->head = c->next; free(c->b.p); free(c); }
    f->tail = NULL;
}

static void tcp_pkt(struct flow *f, int dir, uint8_t flags, const uint8_t *p, size_t n, int drop)
{
    emit(f->kind == K_SMTP, f->v6, f->ip[dir], f->ip[!dir], f->port[dir], f->port[!dir],
         f->kind == K_UDP ? 17 : 6, f->seq[dir], f->seq[!dir], flags, p, n, drop);
}

/* Emits the flow's next packet(s). Returns 0 when the flow is finished. */
static int flow_step(struct flow *f)
{
    if (f->hs < 3) {
        if (f->hs == 0) { tcp_pkt(f, 0, SYN, NULL, 0, 0); f->seq[0]++; }
        else if (f->hs == 1) { emit(f->kind == K_SMTP, f->v6, f->ip[1], f->ip[0], f->port[1], f->port[0], 6,
                                    f->seq[1], f->seq[0], SYN | ACKF, NULL, 0, 0); f->seq[1]++; }
        else tcp_pkt(f, 0, ACKF, NULL, 0, 0);
        f->hs++;
        return 1;
    }
    if (f->hs >= 10) {   /* server closes after the last exchange */
        if (f->kind == K_UDP) return 0;
        if (f->hs == 10) { tcp_pkt(f, 1, FIN | ACKF, NULL, 0, 0); f->seq[1]++; }
        else if (f->hs == 11) { tcp_pkt(f, 0, FIN | ACKF, NULL, 0, 0); f->seq[0]++; }
        else { tcp_pkt(f, 1, ACKF, NULL, 0, 0); return 0; }
        f->hs++;
        return 1;
    }
    if (f->need_ack) {
        tcp_pkt(f, !f->head->dir, ACKF, NULL, 0, 0);
        f->need_ack = 0;
        f->unacked = 0;
        if (f->off == f->head->b.n) {
            struct chunk *c = f->head;
            f->head = c->next;
            if (!f->head) f->tail = NULL;
            free(c->b.p); free(c);
            f->off = 0;
        }
        return 1;
    }
    if (!f->head) {
        if (f->script_done) { f->hs = 10; return flow_step(f); }
        while (!f->head && !f->script_done) {   /* a step may queue nothing (no AUTH) */
            if (f->kind == K_SMTP) smtp_next(f);
            else if (f->kind == K_HTTP) http_next(f);
            else udp_next(f);
        }
        for (struct chunk *c = f->head; c; c = c->next) pending += c->b.n;
        return flow_step(f);
    }
    struct chunk *c = f->head;
    int dir = c->dir;
    if (f->kind == K_UDP) {
        emit(0, f->v6, f->ip[dir], f->ip[!dir], f->port[dir], f->port[!dir], 17, 0, 0, 0, c->b.p, c->b.n, 0);
        pending -= c->b.n;
        f->head = c->next;
        if (!f->head) f->tail = NULL;
        free(c->b.p); free(c);
        return 1;
    }
    size_t left = c->b.n - f->off;
    uint32_t base = f->seq[dir];
    if (left > 2 * MSS && rndf() < P_REORDER) {   /* second segment overtakes the first */
        size_t l2 = left - MSS < MSS ? left - MSS : MSS;
        f->seq[dir] = base + MSS;
        tcp_pkt(f, dir, ACKF | PSH, c->b.p + f->off + MSS, l2, c->drop_off >= f->off + MSS && c->drop_off < f->off + MSS + l2);
        f->seq[dir] = base;
        tcp_pkt(f, dir, ACKF, c->b.p + f->off, MSS, c->drop_off >= f->off && c->drop_off < f->off + MSS);
        f->seq[dir] = base + MSS + (uint32_t)l2;
        f->off += MSS + l2;
        pending -= MSS + l2;
        f->unacked += 2;
        n_reordered++;
    } else {
        size_t l = left < MSS ? left : MSS;
        tcp_pkt(f, dir, ACKF | (l == left ? PSH : 0), c->b.p + f->off, l,
                c->drop_off >= f->off && c->drop_off < f->off + l);
        f->seq[dir] += (uint32_t)l;
        f->off += l;
        pending -= l;
        f->unacked++;
    }
    int done = f->off == c->b.n;
    if (f->unacked >= 2 || (done && c->b.n > MSS) || (done && (!c->next || c->next->dir == dir)))
        f->need_ack = 1;
    if (done && !f->need_ack) {
        f->head = c->next;
        if (!f->head) f->tail = NULL;
        free(c->b.p); free(c);
        f->off = 0;
        f->unacked = 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_gen SIZE_MB SEED OUT.pcap TRUTH.tsv\n");
        return 2;
    }
    double mb = strtod(argv[1], NULL);
    seed_g = strtoull(argv[2], NULL, 10);
    budget = (uint64_t)(mb * 1048576.0);
    r_seed(&R, seed_g);
    r_seed(&RB, seed_g ^ 0x5bd1e995ULL);
    out = fopen(argv[3], "wb");
    truth = fopen(argv[4], "w");
    if (!out || !truth) { perror("bench_gen: open"); return 1; }
    static char obuf[1 << 22];
    setvbuf(out, obuf, _IOFBF, sizeof obuf);
    uint32_t gh[6] = { 0xa1b2c3d4, 2 | (4u << 16), 0, 0, 262144, 1 };
    fwrite(gh, 1, 24, out);
    written = 24;
    fprintf(truth, "# bench_gen size_mb=%s seed=%llu\n", argv[1], (unsigned long long)seed_g);
    fprintf(truth, "n\texpected\tloss\tip_version\tclient_ip\tclient_port\tserver_ip\tserver_port\t"
                   "mail_from\trcpt_accepted\trcpt_rejected\tsubject\tmessage_id\tattachments\t"
                   "transfer\tauth\n");

    static struct flow fl[N_ACTIVE];
    int n_active = 0;
    while (n_active < N_ACTIVE) flow_init(&fl[n_active++]);
    while (n_active > 0) {
        int i = (int)rnd((uint32_t)n_active);
        int burst = 1 + (int)rnd(4), alive = 1;
        for (int k = 0; k < burst && alive; k++) alive = flow_step(&fl[i]);
        if (!alive) {
            flow_free(&fl[i]);
            if (written + pending < budget) flow_init(&fl[i]);
            else fl[i] = fl[--n_active];
        }
    }
    if (fclose(out) != 0 || ferror(truth) || fclose(truth) != 0) { perror("bench_gen: write"); return 1; }
    fprintf(stderr, "bench_gen: %llu bytes, %llu packets (%llu not captured, %llu reordered pairs), "
            "smtp %.1f%%, %llu flows, %llu smtp sessions (%llu tls), %llu messages (%llu lossy), %llu attachments\n",
            (unsigned long long)written, (unsigned long long)n_packets, (unsigned long long)n_dropped,
            (unsigned long long)n_reordered, 100.0 * (double)bytes_smtp / (double)(written ? written : 1),
            (unsigned long long)n_flows, (unsigned long long)n_sessions, (unsigned long long)n_tls,
            (unsigned long long)n_msgs_total, (unsigned long long)n_msgs_lossy, (unsigned long long)n_atts);
    return 0;
}
