/* test_bounds.c — hostile-size inputs from issue 8 that the parsers must survive
 * with bounded memory and a recorded finding: a 10 MB header line, a 100,000-level
 * MIME nesting attempt, a 1 MB boundary string (mime.c over GMime), one SMTP
 * connection sending one byte per packet, a million-SYN flood with real sessions
 * inside it (reasm.c + smtp.c), and compressed attachments claiming 4 GiB / 1 TiB
 * (mime.c). Memory is checked with getrusage (peak RSS growth; the live heap
 * under ASan where a case frees a million blocks), never with timings. 100,000
 * recipients in one transaction is test_many_recipients in test_smtp.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "filetype.h"
#include "mime.h"
#include "reasm.h"
#include "smtp.h"

/* Under AddressSanitizer freed blocks wait in a 256 MB quarantine and shadow
 * memory is added, so peaks grow by up to that much more; the tight bounds are
 * checked by the non-sanitized build (and valgrind). */
#if defined(__SANITIZE_ADDRESS__)
#define SLACK_KB (320L * 1024)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLACK_KB (320L * 1024)
#endif
#endif
#ifndef SLACK_KB
#define SLACK_KB 0L
#endif

/* Under valgrind (tests/valgrind/run.sh sets SIFT_VALGRIND) RSS says nothing
 * about the program: only memcheck's verdict counts there. */
static long slack_kb(void)
{
    return getenv("SIFT_VALGRIND") ? 1L << 40 : SLACK_KB;
}

/* Live heap in KiB under AddressSanitizer, where RSS mostly measures the
 * quarantine (a case that frees a million blocks fills all of it, ~400 MB of
 * RSS); -1 in other builds, where RSS is the measure. */
#if SLACK_KB > 0
size_t __sanitizer_get_current_allocated_bytes(void);   /* sanitizer/allocator_interface.h */
static long heap_kb(void) { return (long)(__sanitizer_get_current_allocated_bytes() / 1024); }
#else
static long heap_kb(void) { return -1; }
#endif

/* Peak resident set size so far, in KiB. */
static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* What a case reports from its child process. */
struct outcome {
    int parsed;
    size_t subject_len, n_headers, n_parts;
    uint64_t n_findings, count[4];
    char rules[16][40];
    size_t n_rules;
    long start_kb, grew_kb;          /* peak RSS at the start of the case, and its growth */
    uint64_t x[48];                  /* further figures, per case */
    char str[4][80];
};

static void note_rule(struct outcome *o, const char *rule)
{
    o->n_findings++;
    for (size_t i = 0; i < o->n_rules; i++)
        if (!strcmp(o->rules[i], rule)) return;
    if (o->n_rules < 16) snprintf(o->rules[o->n_rules++], sizeof o->rules[0], "%s", rule);
}

static void on_finding(void *user, const char *rule, enum sift_severity sev,
                       const char *detail, const struct sift_pktref *where)
{
    (void)sev; (void)detail; (void)where;
    note_rule(user, rule);
}

static int has(const struct outcome *o, const char *rule)
{
    for (size_t i = 0; i < o->n_rules; i++)
        if (!strcmp(o->rules[i], rule)) return 1;
    return 0;
}

/* Runs fn in a forked child so that its peak RSS is its own (Linux resets the
 * high-water mark to the current RSS at fork); the child sends back its outcome. */
static void isolated(const char *what, void (*fn)(struct outcome *), struct outcome *o)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct outcome r;
        memset(&r, 0, sizeof r);
        close(fd[0]);
        r.start_kb = maxrss_kb();
        fn(&r);
        r.grew_kb = maxrss_kb() - r.start_kb;
        ssize_t w = write(fd[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fd[1]);
    memset(o, 0, sizeof *o);
    size_t got = 0;
    while (got < sizeof *o) {
        ssize_t n = read(fd[0], (char *)o + got, sizeof *o - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "# %s: child %s %d\n", what, WIFEXITED(status) ? "exited with" : "killed by signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(got, sizeof *o);
    fprintf(stderr, "# %s: RSS at start %ld KiB, peak growth %ld KiB, %llu findings:", what,
            o->start_kb, o->grew_kb, (unsigned long long)o->n_findings);
    for (size_t i = 0; i < o->n_rules; i++) fprintf(stderr, " %s", o->rules[i]);
    fprintf(stderr, "\n");
}

static void fill_summary(struct outcome *o, struct sift_mime_summary *m)
{
    o->parsed = m->parsed;
    o->subject_len = m->subject ? strlen(m->subject) : 0;
    o->n_headers = m->n_headers;
    o->n_parts = m->n_parts;
}

/* ---------- 10 MB header line: SMTP flags the line, MIME keeps it ---------- */

#define BIG_LINE (10u << 20)

static void on_txn_parse(void *user, struct sift_smtp_txn *t)
{
    struct outcome *o = user;
    o->count[0]++;
    o->count[1] = sift_smtp_content_len(t);
    o->count[2] = t->spooled;   /* past 2 MiB: in a temporary file, parsed from there */
    struct sift_mime_summary *m = t->spooled ? sift_mime_parse_fd(t->spool_fd, t->spool_len, NULL, on_finding, o)
                                             : sift_mime_parse(t->content.data, t->content.len, on_finding, o);
    fill_summary(o, m);
    sift_mime_free(m);
    sift_smtp_txn_free(t);
}

static void case_header_line(struct outcome *o)
{
    struct sift_smtp_sink sink = { .user = o, .on_txn = on_txn_parse, .on_finding = on_finding };
    struct sift_smtp *s = sift_smtp_new(&sink, NULL);
    struct sift_pktref pk = { 0, 1, 0 };
#define FEED(d, str) sift_smtp_feed(s, d, (const uint8_t *)(str), strlen(str), &pk)
    FEED(SIFT_DIR_S2C, "220 mx ESMTP\r\n");
    FEED(SIFT_DIR_C2S, "EHLO c\r\n");
    FEED(SIFT_DIR_S2C, "250 mx\r\n");
    FEED(SIFT_DIR_C2S, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
    FEED(SIFT_DIR_S2C, "250 ok\r\n250 ok\r\n354 go\r\n");
    FEED(SIFT_DIR_C2S, "From: a@b\r\nSubject: ");
    static uint8_t chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    for (size_t i = 0; i < BIG_LINE / sizeof chunk; i++)
        sift_smtp_feed(s, SIFT_DIR_C2S, chunk, sizeof chunk, &pk);
    FEED(SIFT_DIR_C2S, "\r\nTo: c@d\r\n\r\nbody\r\n.\r\n");
    FEED(SIFT_DIR_S2C, "250 queued\r\n");
#undef FEED
    sift_smtp_close(s, &pk);
    sift_smtp_free(s);
}

static void test_header_line_10mb(void **state)
{
    (void)state;
    struct outcome o;
    isolated("10 MB header line", case_header_line, &o);
    assert_int_equal(o.count[0], 1);                        /* one transaction */
    assert_int_equal(o.count[1], 11 + 9 + BIG_LINE + 2 + 9 + 2 + 6);
    assert_true(has(&o, "line_too_long"));                  /* RFC 5321 4.5.3.1.6, from smtp.c */
    assert_int_equal(o.count[2], 1);                        /* spooled (over 2 MiB) */
    assert_true(has(&o, "message_spooled"));
    assert_int_equal(o.parsed, 1);
    assert_int_equal(o.subject_len, BIG_LINE);
    assert_int_equal(o.n_headers, 3);
    /* the message buffer plus a few copies of the line (raw, unfolded, decoded) */
    assert_true(o.grew_kb < 12 * 10 * 1024 + slack_kb());
}

/* ---------- 100,000-level MIME nesting attempt ---------- */

static void case_nesting(struct outcome *o)
{
    struct sift_buf b = {0};
    char line[128];
    sift_buf_append(&b, "From: a@b\r\nSubject: deep\r\n", 26);
    for (int i = 0; i < 100000; i++) {
        int k = snprintf(line, sizeof line,
                         "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i);
        sift_buf_append(&b, line, (size_t)k);
    }
    sift_buf_append(&b, "Content-Type: text/plain\r\n\r\ninnermost\r\n", 40);
    long before = maxrss_kb();
    struct sift_mime_summary *m = sift_mime_parse(b.data, b.len, on_finding, o);
    o->count[0] = (uint64_t)(maxrss_kb() - before);        /* growth during the parse alone */
    o->count[1] = b.len;
    fill_summary(o, m);
    sift_mime_free(m);
    sift_buf_free(&b);
}

static void test_nesting_100000(void **state)
{
    (void)state;
    struct outcome o;
    isolated("100,000-level nesting", case_nesting, &o);
    assert_int_equal(o.parsed, 1);
    assert_int_equal(o.subject_len, 4);
    assert_true(has(&o, "mime_nesting_overflow"));          /* GMime stops at 1024 levels */
    assert_true(has(&o, "mime_too_many_warnings"));         /* and the warnings are capped */
    assert_true(o.n_findings <= 202);
    assert_true(o.n_parts <= 10000);
    assert_true((long)o.count[0] < 256 * 1024 + slack_kb());                   /* input is 5.6 MB */
}

/* ---------- 1 MB boundary string ---------- */

static void case_boundary(struct outcome *o)
{
    const size_t n = 1u << 20;
    char *bnd = sift_xmalloc(n + 1);
    memset(bnd, 'B', n);
    bnd[n] = '\0';
    struct sift_buf b = {0};
    const char *h = "From: a@b\r\nSubject: wide\r\nContent-Type: multipart/mixed; boundary=\"";
    sift_buf_append(&b, h, strlen(h));
    sift_buf_append(&b, bnd, n);
    sift_buf_append(&b, "\"\r\n\r\n", 5);
    for (int i = 0; i < 3; i++) {
        sift_buf_append(&b, "--", 2);
        sift_buf_append(&b, bnd, n);
        const char *part = i < 2 ? "\r\nContent-Type: text/plain\r\n\r\npart\r\n" : "--\r\n";
        sift_buf_append(&b, part, strlen(part));
    }
    free(bnd);
    long before = maxrss_kb();
    struct sift_mime_summary *m = sift_mime_parse(b.data, b.len, on_finding, o);
    o->count[0] = (uint64_t)(maxrss_kb() - before);
    fill_summary(o, m);
    sift_mime_free(m);
    sift_buf_free(&b);
}

static void test_boundary_1mb(void **state)
{
    (void)state;
    struct outcome o;
    isolated("1 MB boundary", case_boundary, &o);
    assert_int_equal(o.parsed, 1);
    assert_int_equal(o.subject_len, 4);
    /* GMime never matches a boundary line that long: the multipart is reported
     * truncated (its closing boundary is "missing") and no part is invented */
    assert_true(has(&o, "mime_truncated"));
    assert_true(o.n_parts <= 1);
    assert_true((long)o.count[0] < 64 * 1024 + slack_kb());                    /* input is 4 MB */
}

/* ---------- one byte per packet through reassembly and SMTP ---------- */

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

#define SYN 0x02
#define FIN 0x01
#define PSH 0x08
#define ACK 0x10

struct conn { uint32_t cseq, sseq; uint64_t frame_no; };

/* Builds one raw-IPv4 TCP segment (DLT_RAW, valid checksums) in memory and
 * feeds it straight to reasm as frame frame_no, stamped frame_no * 10 us. */
static void feed_tcp4(const uint8_t src[4], unsigned sport, const uint8_t dst[4], unsigned dport,
                      uint32_t seq, uint32_t ack, uint8_t flags, const void *pay, size_t n,
                      uint64_t frame_no)
{
    uint8_t p[1600], *t = p + 20;
    memset(p, 0, 40);
    p[0] = 0x45; w16(p + 2, (unsigned)(40 + n)); p[8] = 64; p[9] = 6;
    memcpy(p + 12, src, 4); memcpy(p + 16, dst, 4);
    w16(p + 10, fold(sum16(0, p, 20)));
    w16(t, sport); w16(t + 2, dport);
    w32(t + 4, seq); w32(t + 8, ack);
    t[12] = 5 << 4; t[13] = flags; w16(t + 14, 65535);
    if (n) memcpy(t + 20, pay, n);
    w16(t + 16, fold(sum16(sum16(0, p + 12, 8) + 6 + (uint32_t)(20 + n), t, 20 + n)));
    struct sift_frame f = {
        .data = p, .caplen = (uint32_t)(40 + n), .wirelen = (uint32_t)(40 + n), .dlt = 12,
        .ref = { 0, frame_no, 1700000000000000LL + (int64_t)frame_no * 10 },
    };
    sift_reasm_feed(&f);
}

/* Feeds one segment of the connection 10.0.0.1:40000 -> 10.0.0.2:25 from one side. */
static void send_seg(struct conn *c, int from_client, uint8_t flags, const void *pay, size_t n)
{
    static const uint8_t ca[4] = { 10, 0, 0, 1 }, sa[4] = { 10, 0, 0, 2 };
    uint32_t *seq = from_client ? &c->cseq : &c->sseq, ack = from_client ? c->sseq : c->cseq;
    uint32_t s = *seq;
    *seq += (uint32_t)n + ((flags & (SYN | FIN)) ? 1 : 0);
    c->frame_no++;
    feed_tcp4(from_client ? ca : sa, from_client ? 40000 : 25, from_client ? sa : ca,
              from_client ? 25 : 40000, s, (flags & ACK) ? ack : 0, flags, pay, n, c->frame_no);
}

struct flow_state {
    struct sift_smtp *smtp;
    uint64_t cmds, noops_answered, bytes[2];
    struct outcome *o;
    int closed;
};

static void on_command(void *user, const struct sift_smtp_cmd *c)
{
    struct flow_state *fs = user;
    fs->cmds++;
    if (c->verb && !strcmp(c->verb, "NOOP") && c->reply_code == 250) fs->noops_answered++;
}
static void on_txn(void *user, struct sift_smtp_txn *t) { (void)user; sift_smtp_txn_free(t); }
static void smtp_finding(void *user, const char *rule, enum sift_severity sev,
                         const char *detail, const struct sift_pktref *where)
{
    on_finding(((struct flow_state *)user)->o, rule, sev, detail, where);
}

static void *r_open(void *user, const struct sift_flow_info *fi)
{
    (void)fi;
    struct flow_state *fs = user;
    struct sift_smtp_sink sink = { .user = fs, .on_command = on_command, .on_txn = on_txn,
                                   .on_finding = smtp_finding };
    fs->smtp = sift_smtp_new(&sink, NULL);
    return fs;
}
static int r_data(void *user, void *flow, enum sift_dir dir, const uint8_t *data, size_t len,
                  const struct sift_pktref *pkt)
{
    (void)user;
    struct flow_state *fs = flow;
    fs->bytes[dir] += len;
    sift_smtp_feed(fs->smtp, dir, data, len, pkt);
    return 0;
}
static void r_close(void *user, void *flow, enum sift_close_reason why, const struct sift_pktref *last)
{
    (void)user; (void)why;
    struct flow_state *fs = flow;
    sift_smtp_close(fs->smtp, last);
    sift_smtp_free(fs->smtp);
    fs->smtp = NULL;
    fs->closed = 1;
}

#define ONE_BYTE_TOTAL 1000000u        /* client bytes, one per packet */

static void case_one_byte(struct outcome *o)
{
    static struct flow_state fs;
    memset(&fs, 0, sizeof fs);
    fs.o = o;
    struct sift_reasm_cbs cbs = { .user = &fs, .on_open = r_open, .on_data = r_data,
                                  .on_close = r_close };
    char err[256];
    if (sift_reasm_init(&cbs, err, sizeof err) != SIFT_OK) return;
    struct conn c = { 1000, 90000, 0 };
    send_seg(&c, 1, SYN, NULL, 0);
    send_seg(&c, 0, SYN | ACK, NULL, 0);
    send_seg(&c, 1, ACK, NULL, 0);
    send_seg(&c, 0, PSH | ACK, "220 mx ESMTP\r\n", 14);
    const char noop[] = "NOOP\r\n";
    long rss_early = 0;
    for (uint64_t i = 0; i < ONE_BYTE_TOTAL; i++) {
        send_seg(&c, 1, PSH | ACK, &noop[i % 6], 1);
        if (i % 6 == 5) send_seg(&c, 0, PSH | ACK, "250 ok\r\n", 8);
        if (i == ONE_BYTE_TOTAL / 10) rss_early = maxrss_kb();
    }
    send_seg(&c, 1, FIN | ACK, NULL, 0);
    send_seg(&c, 0, FIN | ACK, NULL, 0);
    send_seg(&c, 1, ACK, NULL, 0);
    sift_reasm_finish();
    o->count[0] = fs.bytes[SIFT_DIR_C2S];
    o->count[1] = fs.bytes[SIFT_DIR_S2C];
    o->count[2] = fs.cmds;
    o->count[3] = fs.noops_answered;
    o->parsed = fs.closed;
    o->n_parts = (size_t)(maxrss_kb() - rss_early);          /* growth over the last 90% */
}

static void test_one_byte_per_packet(void **state)
{
    (void)state;
    struct outcome o;
    isolated("one byte per packet", case_one_byte, &o);
    const uint64_t total = ONE_BYTE_TOTAL;
    assert_int_equal(o.parsed, 1);                              /* the flow was closed */
    assert_int_equal(o.count[0], total);
    assert_int_equal(o.count[1], 14 + 8 * (total / 6));
    assert_int_equal(o.count[2], 1 + total / 6 + 1);            /* greeting, NOOPs, "NOOP" left at FIN */
    assert_int_equal(o.count[3], total / 6);
    fprintf(stderr, "# one byte per packet: peak RSS growth over the last 90%%: %zu KiB\n", o.n_parts);
    assert_true((long)o.n_parts < 8 * 1024 + slack_kb());                          /* flat: no per-packet state kept */
}

/* ---------- SYN flood: a million connection attempts never answered ---------- */

/* One million pure SYNs to port 25, each from its own address and port, never
 * answered nor closed, fed straight to reasm (frames built in memory, 10 us of
 * packet time apart: 10 s in all, so nothing goes idle). After 900,000 of them
 * four real SMTP sessions start, one packet every 500 SYNs, and each server
 * takes 50,000 SYNs (more than the flow bound) to accept the message: all four
 * must still be followed from the greeting to the FIN. Each ends with a late
 * copy of the client's FIN, a straggler the closed flow must swallow. */

#define FLOOD_SYNS    1000000u
#define FLOOD_BOUND   40000u        /* reasm.h: default max_flows */
#define FLOOD_SMTP    4             /* real sessions late in the flood */
#define FLOOD_LATE    900000u       /* they start after this many SYNs */
#define FLOOD_STAGGER 5000u         /* SYNs between the starts of two sessions */
#define FLOOD_GAP     500u          /* SYNs between two packets of a session */
#define FLOOD_PAUSE   50000u        /* SYNs while the server scans the message */

/* x[] of the outcome */
enum { X_OPENED, X_CLOSED, X_CLOSED_FIN, X_OTHER_FLOWS, X_ST_OPENED, X_ST_CLOSED, X_EVICTED,
       X_EXPIRED, X_MIDSTREAM, X_ONE_SIDED, X_NIDS_WARN, X_BAD_CSUM, X_GAPS, X_BYTES_C2S,
       X_BYTES_S2C, X_RSS_FULL, X_FLAT, X_MS, X_FRAMES, X_HEAP_ON, X_HEAP, X_HEAP_FLAT, X_SESS };
enum { S_CMDS, S_TXNS, S_TXN_OK, S_C2S, S_S2C, S_COMPLETE, S_N };   /* x[X_SESS + k * S_N + ...] */
_Static_assert(X_SESS + FLOOD_SMTP * S_N <= SIFT_ARRAY_LEN(((struct outcome *)0)->x), "outcome.x");
_Static_assert(FLOOD_PAUSE > FLOOD_BOUND, "the pause must outlast the flow bound");

struct fstep { int client; uint8_t flags; const char *fmt; int pause_before; int retx; };
static const struct fstep flood_script[] = {
    { 1, SYN, NULL, 0, 0 },
    { 0, SYN | ACK, NULL, 0, 0 },
    { 1, ACK, NULL, 0, 0 },
    { 0, PSH | ACK, "220 mx.example.net ESMTP\r\n", 0, 0 },
    { 1, PSH | ACK, "EHLO client%d.example.org\r\n", 0, 0 },
    { 0, PSH | ACK, "250-mx.example.net\r\n250-PIPELINING\r\n250 8BITMIME\r\n", 0, 0 },
    { 1, PSH | ACK, "MAIL FROM:<sender%d@example.org>\r\n", 0, 0 },
    { 0, PSH | ACK, "250 2.1.0 Ok\r\n", 0, 0 },
    { 1, PSH | ACK, "RCPT TO:<rcpt%d@example.net>\r\n", 0, 0 },
    { 0, PSH | ACK, "250 2.1.5 Ok\r\n", 0, 0 },
    { 1, PSH | ACK, "DATA\r\n", 0, 0 },
    { 0, PSH | ACK, "354 End data with <CR><LF>.<CR><LF>\r\n", 0, 0 },
    { 1, PSH | ACK, "From: <sender%d@example.org>\r\nTo: <rcpt%d@example.net>\r\n"
                    "Subject: during the flood\r\n\r\nstill seen\r\n.\r\n", 0, 0 },
    { 0, PSH | ACK, "250 2.0.0 Ok: queued as 4FLD%d\r\n", 1, 0 },
    { 1, PSH | ACK, "QUIT\r\n", 0, 0 },
    { 0, PSH | ACK, "221 2.0.0 Bye\r\n", 0, 0 },
    { 0, FIN | ACK, NULL, 0, 0 },
    { 1, FIN | ACK, NULL, 0, 0 },
    { 0, ACK, NULL, 0, 0 },
    { 1, FIN | ACK, NULL, 0, 1 },       /* the client's FIN again: a straggler */
};
#define FLOOD_STEPS SIFT_ARRAY_LEN(flood_script)
#define FLOOD_MSG_STEP 12

static size_t flood_payload(int k, size_t step, char *buf, size_t cap)
{
    const char *f = flood_script[step].fmt;
    if (!f) return 0;
    int n = snprintf(buf, cap, f, k, k);
    return n > 0 ? (size_t)n : 0;
}

/* What session k sends, in bytes per direction, and its message's length. */
static void flood_expect(int k, uint64_t *c2s, uint64_t *s2c, uint64_t *content)
{
    char buf[256];
    *c2s = *s2c = 0;
    for (size_t j = 0; j < FLOOD_STEPS; j++) {
        size_t n = flood_payload(k, j, buf, sizeof buf);
        *(flood_script[j].client ? c2s : s2c) += n;
        if (j == FLOOD_MSG_STEP) *content = n - 3;                  /* without ".\r\n" */
    }
}

struct fsess { uint32_t cseq, sseq, fin_c; size_t step; uint64_t next_at; };

static void flood_client(int k, uint8_t a[4]) { a[0] = 192; a[1] = 0; a[2] = 2; a[3] = (uint8_t)(10 + k); }
static const uint8_t flood_server[4] = { 198, 51, 100, 25 };

static void flood_step(struct fsess *s, int k, uint64_t frame_no)
{
    const struct fstep *st = &flood_script[s->step];
    char buf[256];
    size_t n = flood_payload(k, s->step, buf, sizeof buf);
    uint8_t ca[4];
    flood_client(k, ca);
    uint32_t *seq = st->client ? &s->cseq : &s->sseq, ack = st->client ? s->sseq : s->cseq;
    uint32_t sq = st->retx ? s->fin_c : *seq;
    if (!st->retx) *seq += (uint32_t)n + ((st->flags & (SYN | FIN)) ? 1 : 0);
    if (st->client && (st->flags & FIN) && !st->retx) s->fin_c = sq;
    if (st->client)
        feed_tcp4(ca, 50000u + (unsigned)k, flood_server, 25, sq, (st->flags & ACK) ? ack : 0,
                  st->flags, buf, n, frame_no);
    else
        feed_tcp4(flood_server, 25, ca, 50000u + (unsigned)k, sq, (st->flags & ACK) ? ack : 0,
                  st->flags, buf, n, frame_no);
    if (++s->step < FLOOD_STEPS)
        s->next_at += flood_script[s->step].pause_before ? FLOOD_PAUSE : FLOOD_GAP;
}

/* SYN number i: from 100.64.0.0/10 + i, port 1024..65023, to the server's port 25. */
static void flood_syn(uint32_t i, uint64_t frame_no)
{
    uint32_t a = 0x64400000u + i;
    uint8_t src[4] = { (uint8_t)(a >> 24), (uint8_t)(a >> 16), (uint8_t)(a >> 8), (uint8_t)a };
    feed_tcp4(src, 1024 + i % 64000, flood_server, 25, i * 2654435761u, 0, SYN, NULL, 0, frame_no);
}

struct fflow { struct sift_smtp *smtp; int k; uint64_t bytes[2], cmds, txns, txn_ok; };
static struct outcome *g_fo;

static void ff_command(void *user, const struct sift_smtp_cmd *c)
{
    (void)c;
    ((struct fflow *)user)->cmds++;
}

static void ff_txn(void *user, struct sift_smtp_txn *t)
{
    struct fflow *ff = user;
    char want[64], qid[16];
    uint64_t c2s, s2c, content;
    ff->txns++;
    if (ff->k >= 0) {
        flood_expect(ff->k, &c2s, &s2c, &content);
        snprintf(want, sizeof want, "sender%d@example.org", ff->k);
        snprintf(qid, sizeof qid, "4FLD%d", ff->k);
        int ok = t->mail_from && !strcmp(t->mail_from, want) && t->mail_reply_code == 250;
        snprintf(want, sizeof want, "rcpt%d@example.net", ff->k);
        ok = ok && t->n_rcpts == 1 && !strcmp(t->rcpts[0].address, want) &&
             t->rcpts[0].reply_code == 250;
        ok = ok && t->has_content && t->content.len == content && !t->truncated &&
             t->disposition == SIFT_SMTP_ACCEPTED && t->data_reply_code == 250 &&
             t->queue_id && !strcmp(t->queue_id, qid);
        ff->txn_ok += ok;
    }
    sift_smtp_txn_free(t);
}

static void ff_finding(void *user, const char *rule, enum sift_severity sev,
                       const char *detail, const struct sift_pktref *where)
{
    (void)user;
    on_finding(g_fo, rule, sev, detail, where);
}

static void *ff_open(void *user, const struct sift_flow_info *fi)
{
    (void)user;
    struct fflow *ff = sift_xcalloc(1, sizeof *ff);
    ff->k = -1;
    for (int k = 0; k < FLOOD_SMTP; k++) {
        char a[16];
        snprintf(a, sizeof a, "192.0.2.%d", 10 + k);
        if (!strcmp(fi->cli_addr, a) && fi->cli_port == 50000 + k && fi->srv_port == 25) ff->k = k;
    }
    struct sift_smtp_sink sink = { .user = ff, .on_command = ff_command, .on_txn = ff_txn,
                                   .on_finding = ff_finding };
    ff->smtp = sift_smtp_new(&sink, NULL);
    g_fo->x[X_OPENED]++;
    if (ff->k < 0) g_fo->x[X_OTHER_FLOWS]++;
    return ff;
}

static int ff_data(void *user, void *flow, enum sift_dir dir, const uint8_t *data, size_t len,
                   const struct sift_pktref *pkt)
{
    (void)user;
    struct fflow *ff = flow;
    ff->bytes[dir] += len;
    sift_smtp_feed(ff->smtp, dir, data, len, pkt);
    return 0;
}

static void ff_close(void *user, void *flow, enum sift_close_reason why,
                     const struct sift_pktref *last)
{
    (void)user;
    struct fflow *ff = flow;
    sift_smtp_close(ff->smtp, last);
    sift_smtp_free(ff->smtp);
    g_fo->x[X_CLOSED]++;
    if (why == SIFT_CLOSE_FIN) g_fo->x[X_CLOSED_FIN]++;
    if (ff->k >= 0) {
        uint64_t *x = &g_fo->x[X_SESS + (size_t)ff->k * S_N];
        x[S_CMDS] += ff->cmds;
        x[S_TXNS] += ff->txns;
        x[S_TXN_OK] += ff->txn_ok;
        x[S_C2S] += ff->bytes[SIFT_DIR_C2S];
        x[S_S2C] += ff->bytes[SIFT_DIR_S2C];
        x[S_COMPLETE] += why == SIFT_CLOSE_FIN && !strcmp(sift_reasm_flow_end()->reassembly, "complete");
    }
    free(ff);
}

static void case_syn_flood(struct outcome *o)
{
    g_fo = o;
    struct sift_reasm_cbs cbs = { .user = o, .on_open = ff_open, .on_data = ff_data,
                                  .on_close = ff_close, .on_finding = on_finding };
    char err[256];
    if (sift_reasm_init(&cbs, err, sizeof err) != SIFT_OK) return;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct fsess ss[FLOOD_SMTP];
    for (int k = 0; k < FLOOD_SMTP; k++)
        ss[k] = (struct fsess){ .cseq = 100000u * (uint32_t)(k + 1), .sseq = 3000000000u + (uint32_t)k,
                                .next_at = FLOOD_LATE + (uint64_t)k * FLOOD_STAGGER };
    uint64_t frame = 0;
    long heap0 = heap_kb(), heap_peak = heap0, heap_full = 0, heap_peak_late = 0;
    for (uint32_t i = 0; i < FLOOD_SYNS; i++) {
        flood_syn(i, ++frame);
        for (int k = 0; k < FLOOD_SMTP; k++)
            if (ss[k].step < FLOOD_STEPS && ss[k].next_at == (uint64_t)i + 1)
                flood_step(&ss[k], k, ++frame);
        if (i + 1 == 2 * FLOOD_BOUND) {
            o->x[X_RSS_FULL] = (uint64_t)maxrss_kb();
            heap_full = heap_peak_late = heap_kb();
        }
        if (heap0 >= 0 && i % 1000 == 999) {                  /* ASan: sample the live heap */
            long h = heap_kb();
            if (h > heap_peak) heap_peak = h;
            if (i + 1 > 2 * FLOOD_BOUND && h > heap_peak_late) heap_peak_late = h;
        }
    }
    o->x[X_FLAT] = (uint64_t)maxrss_kb() - o->x[X_RSS_FULL];   /* growth once the table is full */
    o->x[X_HEAP_ON] = heap0 >= 0;
    o->x[X_HEAP] = (uint64_t)(heap_peak - heap0);
    o->x[X_HEAP_FLAT] = (uint64_t)(heap_peak_late - heap_full);
    o->x[X_FRAMES] = frame;
    for (int k = 0; k < FLOOD_SMTP; k++) o->count[0] += ss[k].step;   /* steps sent */
    sift_reasm_finish();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    o->x[X_MS] = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
    const struct sift_reasm_stats *st = sift_reasm_stats();
    o->x[X_ST_OPENED] = st->flows_opened;
    o->x[X_ST_CLOSED] = st->flows_closed;
    o->x[X_EVICTED] = st->flows_evicted;
    o->x[X_EXPIRED] = st->flows_expired;
    o->x[X_MIDSTREAM] = st->flows_midstream;
    o->x[X_ONE_SIDED] = st->flows_one_sided;
    o->x[X_NIDS_WARN] = st->nids_warnings;
    o->x[X_GAPS] = st->gaps;
    o->x[X_BYTES_C2S] = st->bytes_c2s;
    o->x[X_BYTES_S2C] = st->bytes_s2c;
    const struct sift_wire_stats *ws = sift_reasm_wire_stats();
    o->x[X_BAD_CSUM] = ws->bad_ip_csum + ws->bad_tcp_csum + ws->malformed;
}

static void test_syn_flood(void **state)
{
    (void)state;
    struct outcome o;
    isolated("SYN flood", case_syn_flood, &o);
    fprintf(stderr, "# SYN flood: %llu frames in %llu ms; peak RSS growth %ld KiB, of which "
            "%llu KiB after the first %u SYNs; %llu flows evicted\n",
            (unsigned long long)o.x[X_FRAMES], (unsigned long long)o.x[X_MS], o.grew_kb,
            (unsigned long long)o.x[X_FLAT], 2 * FLOOD_BOUND, (unsigned long long)o.x[X_EVICTED]);
    assert_int_equal(o.count[0], FLOOD_SMTP * FLOOD_STEPS);          /* every session sent whole */
    assert_int_equal(o.x[X_FRAMES], FLOOD_SYNS + FLOOD_SMTP * FLOOD_STEPS);
    assert_int_equal(o.x[X_BAD_CSUM], 0);
    /* Half-open connections never reach the consumer: the only flows opened
     * (on_open) are the four sessions, each closed exactly once by its FIN;
     * the stragglers opened nothing. */
    assert_int_equal(o.x[X_OPENED], FLOOD_SMTP);
    assert_int_equal(o.x[X_OTHER_FLOWS], 0);
    assert_int_equal(o.x[X_CLOSED], FLOOD_SMTP);
    assert_int_equal(o.x[X_CLOSED_FIN], FLOOD_SMTP);
    assert_int_equal(o.x[X_ST_OPENED], FLOOD_SMTP);
    assert_int_equal(o.x[X_ST_CLOSED], FLOOD_SMTP);
    assert_int_equal(o.x[X_MIDSTREAM], 0);
    assert_int_equal(o.x[X_ONE_SIDED], 0);
    assert_int_equal(o.x[X_GAPS], 0);
    assert_int_equal(o.x[X_EXPIRED], 0);                      /* 10 s of packet time: none idle */
    assert_int_equal(o.x[X_NIDS_WARN], 0);                    /* libnids never saw the flood */
    /* 1,000,004 connections, at most 40,000 at once: every half-open one beyond the bound
     * is dropped; the four closed sessions stay as tombstones (60 s), swallowing stragglers */
    assert_int_equal(o.x[X_EVICTED], FLOOD_SYNS + FLOOD_SMTP - FLOOD_BOUND);
    assert_true(has(&o, "tcp_flow_limit"));
    assert_int_equal(o.n_findings, 1);                        /* once, and nothing else */
    uint64_t c2s_all = 0, s2c_all = 0;
    for (int k = 0; k < FLOOD_SMTP; k++) {
        const uint64_t *x = &o.x[X_SESS + (size_t)k * S_N];
        uint64_t c2s, s2c, content;
        flood_expect(k, &c2s, &s2c, &content);
        assert_int_equal(x[S_CMDS], 6);                       /* greeting EHLO MAIL RCPT DATA QUIT */
        assert_int_equal(x[S_TXNS], 1);
        assert_int_equal(x[S_TXN_OK], 1);                     /* sender, recipient, message, 250 */
        assert_int_equal(x[S_C2S], c2s);
        assert_int_equal(x[S_S2C], s2c);
        assert_int_equal(x[S_COMPLETE], 1);                   /* "complete", closed by FIN */
        c2s_all += c2s;
        s2c_all += s2c;
    }
    assert_int_equal(o.x[X_BYTES_C2S], c2s_all);
    assert_int_equal(o.x[X_BYTES_S2C], s2c_all);
    /* 40,000 tracked connections (~0.9 KB of RSS each, libnids' tables included);
     * flat once the bound is reached */
    if (o.x[X_HEAP_ON]) {
        fprintf(stderr, "# SYN flood (ASan): live heap peak growth %llu KiB, of which %llu KiB "
                "after the first %u SYNs\n", (unsigned long long)o.x[X_HEAP],
                (unsigned long long)o.x[X_HEAP_FLAT], 2 * FLOOD_BOUND);
        assert_true((long)o.x[X_HEAP] < 64 * 1024);
        assert_true((long)o.x[X_HEAP_FLAT] < 1024);
    } else {
        assert_true(o.grew_kb < 64 * 1024 + slack_kb());
        assert_true((long)o.x[X_FLAT] < 8 * 1024 + slack_kb());
    }
}

/* ---------- compressed attachments that claim a huge size ---------- */

/* A gzip member whose trailer says 4 GiB - 1 bytes uncompressed, and a ZIP
 * whose local and central headers say 0xFFFFFFFF with a ZIP64 extra field
 * claiming 1 TiB; both parts declare Content-Disposition size=999999999999 and
 * Content-Length headers of 10^12 and 2^32 - 1; the message claims 10^12 too.
 * The bytes are a few KB of noise. Nothing may be decompressed or sized from
 * those claims: each part is reported with its real decoded size, the SHA-256
 * of its bytes and the type libmagic finds, within a small memory bound. */

#define GZ_BODY  3000u
#define ZIP_BODY 2900u

static void le16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void le32(uint8_t *p, uint32_t v) { le16(p, v & 0xffff); le16(p + 2, v >> 16); }
static void le64(uint8_t *p, uint64_t v) { le32(p, (uint32_t)v); le32(p + 4, (uint32_t)(v >> 32)); }

static void noise(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

/* gzip member (RFC 1952) with a file name; ISIZE claims 0xFFFFFFFF bytes. */
static size_t make_gzip(uint8_t *p)
{
    static const uint8_t hdr[10] = { 0x1f, 0x8b, 8, 0x08 /* FNAME */, 0, 0, 0, 0, 0, 3 };
    size_t n = 0;
    memcpy(p, hdr, 10);
    n += 10;
    memcpy(p + n, "claimed-4GiB.bin", 17);
    n += 17;
    noise(p + n, GZ_BODY, 7);                  /* "deflate data" */
    n += GZ_BODY;
    le32(p + n, 0x5eedc0deu);                  /* CRC-32 */
    le32(p + n + 4, 0xffffffffu);              /* ISIZE */
    return n + 8;
}

/* One-entry ZIP: local header, data, central directory, end record. Sizes
 * 0xFFFFFFFF defer to ZIP64 extra fields, which claim 1 TiB uncompressed. */
static size_t make_zip(uint8_t *p)
{
    static const char name[] = "huge.bin";
    const size_t nl = sizeof name - 1;
    const uint64_t claim = (uint64_t)1 << 40;
    size_t n = 0;
    le32(p, 0x04034b50u); le16(p + 4, 45); le16(p + 6, 0); le16(p + 8, 8);
    le16(p + 10, 0); le16(p + 12, 0x5821); le32(p + 14, 0x5eedc0deu);
    le32(p + 18, 0xffffffffu); le32(p + 22, 0xffffffffu);
    le16(p + 26, (unsigned)nl); le16(p + 28, 20);
    n = 30;
    memcpy(p + n, name, nl);
    n += nl;
    le16(p + n, 1); le16(p + n + 2, 16); le64(p + n + 4, claim); le64(p + n + 12, ZIP_BODY);
    n += 20;
    noise(p + n, ZIP_BODY, 11);
    n += ZIP_BODY;
    size_t cd = n;
    le32(p + n, 0x02014b50u); le16(p + n + 4, 45); le16(p + n + 6, 45); le16(p + n + 8, 0);
    le16(p + n + 10, 8); le16(p + n + 12, 0); le16(p + n + 14, 0x5821);
    le32(p + n + 16, 0x5eedc0deu); le32(p + n + 20, 0xffffffffu); le32(p + n + 24, 0xffffffffu);
    le16(p + n + 28, (unsigned)nl); le16(p + n + 30, 28); le16(p + n + 32, 0);
    le16(p + n + 34, 0); le16(p + n + 36, 0); le32(p + n + 38, 0); le32(p + n + 42, 0xffffffffu);
    n += 46;
    memcpy(p + n, name, nl);
    n += nl;
    le16(p + n, 1); le16(p + n + 2, 24);
    le64(p + n + 4, claim); le64(p + n + 12, ZIP_BODY); le64(p + n + 20, 0);
    n += 28;
    size_t cd_len = n - cd;
    le32(p + n, 0x06054b50u); le16(p + n + 4, 0); le16(p + n + 6, 0); le16(p + n + 8, 1);
    le16(p + n + 10, 1); le32(p + n + 12, (uint32_t)cd_len); le32(p + n + 16, (uint32_t)cd);
    le16(p + n + 20, 0);
    return n + 22;
}

/* base64 in lines of 76 characters, CRLF after each. */
static void b64_lines(struct sift_buf *b, const uint8_t *p, size_t n)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t col = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        char q[4] = { al[v >> 18], al[v >> 12 & 63], i + 1 < n ? al[v >> 6 & 63] : '=',
                      i + 2 < n ? al[v & 63] : '=' };
        sift_buf_append(b, q, 4);
        if ((col += 4) == 76) { sift_buf_append(b, "\r\n", 2); col = 0; }
    }
    if (col) sift_buf_append(b, "\r\n", 2);
}

static void sha256_of(const uint8_t *p, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < len && i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* x[] of the outcome */
enum { C_SIZE = 0, C_SHA_OK, C_IS_ATT, C_N };    /* x[1 + part * C_N + ...] for parts 1, 2 */
/* str[part]: "content_type|magic_type|filename" */

static void case_compressed(struct outcome *o)
{
    static uint8_t gz[GZ_BODY + 64], zip[ZIP_BODY + 256];
    size_t ngz = make_gzip(gz), nzip = make_zip(zip);
    struct sift_buf b = {0};
#define PUT(str) sift_buf_append(&b, str, strlen(str))
    PUT("From: a@example.org\r\nTo: b@example.net\r\nSubject: claims\r\nMIME-Version: 1.0\r\n"
        "Content-Length: 1000000000000\r\n"
        "Content-Type: multipart/mixed; boundary=\"sep\"\r\n\r\n"
        "--sep\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        "--sep\r\nContent-Type: application/gzip; name=\"claimed.gz\"\r\n"
        "Content-Disposition: attachment; filename=\"claimed.gz\"; size=999999999999\r\n"
        "Content-Length: 1000000000000\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    b64_lines(&b, gz, ngz);
    PUT("--sep\r\nContent-Type: application/zip; name=\"claimed.zip\"\r\n"
        "Content-Disposition: attachment; filename=\"claimed.zip\"; size=999999999999\r\n"
        "Content-Length: 4294967295\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    b64_lines(&b, zip, nzip);
    PUT("--sep--\r\n");
#undef PUT
    o->count[0] = ngz;
    o->count[1] = nzip;
    o->count[2] = b.len;
    char t[128];
    /* libmagic maps its 8 MB database and pages in what a sniff walks: done
     * now, so the parse's growth below is the parse's own */
    sift_filetype_mime(gz, ngz, t, sizeof t);
    sift_filetype_mime(zip, nzip, t, sizeof t);
#if SLACK_KB == 0
    /* Outside the sanitizers (whose shadow memory needs terabytes of address
     * space) and valgrind, any allocation sized from a claim (4 GiB, 1 TiB,
     * 10^12) fails: address space is limited to what is mapped now + 1 GiB,
     * and an allocation failure aborts (sift_xmalloc, g_malloc). */
    if (!getenv("SIFT_VALGRIND")) {
        unsigned long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (f && fscanf(f, "%lu", &pages) == 1) {
            struct rlimit rl = { 0, 0 };
            getrlimit(RLIMIT_AS, &rl);
            rlim_t want = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)1 << 30);
            if (rl.rlim_max == RLIM_INFINITY || want < rl.rlim_max) {
                rl.rlim_cur = want;
                o->count[3] = setrlimit(RLIMIT_AS, &rl) == 0;
            }
        }
        if (f) fclose(f);
    }
#endif
    long before = maxrss_kb();
    struct sift_mime_summary *m = sift_mime_parse(b.data, b.len, on_finding, o);
    o->x[0] = (uint64_t)(maxrss_kb() - before);                 /* growth during the parse */
    fill_summary(o, m);
    o->subject_len = m->n_attachments;
    const uint8_t *bytes[3] = { NULL, gz, zip };
    const size_t sizes[3] = { 0, ngz, nzip };
    for (size_t i = 0; i < m->n_parts && i < 3; i++) {
        const struct sift_mime_part *p = &m->parts[i];
        snprintf(o->str[i], sizeof o->str[i], "%s|%s|%s", p->content_type,
                 p->magic_type ? p->magic_type : "-", p->filename ? p->filename : "-");
        if (!i) continue;
        char want[65] = "";
        sha256_of(bytes[i], sizes[i], want);
        uint64_t *x = &o->x[1 + (i - 1) * C_N];
        x[C_SIZE] = p->size;
        x[C_SHA_OK] = !strcmp(p->sha256, want);
        x[C_IS_ATT] = (uint64_t)p->is_attachment;
    }
    sift_mime_free(m);
    sift_buf_free(&b);
}

static void test_compressed_claim(void **state)
{
    (void)state;
    struct outcome o;
    isolated("compressed parts claiming 4 GiB / 1 TiB", case_compressed, &o);
    fprintf(stderr, "# compressed claims: message %llu bytes, parts %llu + %llu bytes, parse grew "
            "RSS %llu KiB, address space %s\n", (unsigned long long)o.count[2],
            (unsigned long long)o.count[0], (unsigned long long)o.count[1],
            (unsigned long long)o.x[0], o.count[3] ? "limited to +1 GiB" : "not limited");
    assert_int_equal(o.count[0], 10 + 17 + GZ_BODY + 8);
    assert_int_equal(o.count[1], 30 + 8 + 20 + ZIP_BODY + 46 + 8 + 28 + 22);
    assert_int_equal(o.parsed, 1);
    assert_int_equal(o.n_parts, 3);
    assert_int_equal(o.subject_len, 2);                      /* n_attachments */
    assert_int_equal(o.n_findings, 2);                       /* the two size= claims, nothing else */
    assert_int_equal(o.n_rules, 1);
    assert_string_equal(o.rules[0], "mime_size_mismatch");
    assert_string_equal(o.str[0], "text/plain|-|-");
    assert_string_equal(o.str[1], "application/gzip|application/gzip|claimed.gz");
    assert_string_equal(o.str[2], "application/zip|application/zip|claimed.zip");
    for (int i = 0; i < 2; i++) {
        const uint64_t *x = &o.x[1 + i * C_N];
        assert_int_equal(x[C_SIZE], o.count[i]);             /* the real decoded size */
        assert_int_equal(x[C_SHA_OK], 1);
        assert_int_equal(x[C_IS_ATT], 1);
    }
    /* the message is 9 KB; the parse grows RSS by ~4 MiB (the process's first
     * GMime parse): nothing near any claimed size (4 GiB at least) was touched */
    assert_true((long)o.x[0] < 8 * 1024 + slack_kb());
}


/* ---------- many messages received at once: memory held by all of them is bounded ----------
 * 600 sessions each send a 300 KiB message, a 1400-byte segment at a time in
 * turn, so all 600 are being received together (176 MiB). Under the default
 * budget (64 MiB for all sessions together) the messages move to their
 * temporary files as the total passes it; every message still arrives whole
 * (size and checksum of its bytes, from memory or from its file). With no
 * budget the same run holds them all in memory (the test's control). */

#define CM_SESSIONS 600
#define CM_BYTES (300u << 10)

static uint64_t cm_sum(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

/* Session i's message byte at offset k (lines of 100 bytes, no dots at line starts). */
static uint8_t cm_byte(size_t i, size_t k)
{
    size_t col = k % 100;
    if (col == 98) return '\r';
    if (col == 99) return '\n';
    return (uint8_t)('a' + (i * 7 + k / 100 + col) % 26);
}

struct cm_state {
    struct outcome *o;
    uint64_t want_sum[CM_SESSIONS];
    size_t max_assembling;
};

static void cm_on_txn(void *user, struct sift_smtp_txn *t)
{
    struct cm_state *c = user;
    struct outcome *o = c->o;
    o->count[0]++;
    uint64_t len = sift_smtp_content_len(t), h = 0xcbf29ce484222325u;
    if (t->spooled) {
        o->count[1]++;
        uint8_t *b = malloc((size_t)t->spool_len + 1);
        if (b && pread(t->spool_fd, b, (size_t)t->spool_len, 0) == (ssize_t)t->spool_len)
            h = cm_sum(h, b, (size_t)t->spool_len);
        free(b);
    }
    h = cm_sum(h, t->content.data ? t->content.data : (const uint8_t *)"", t->content.len);
    /* the sender is <s{i}@x>: which session this is */
    size_t i = t->mail_from ? (size_t)strtoul(t->mail_from + 1, NULL, 10) : CM_SESSIONS;
    if (i < CM_SESSIONS && len == CM_BYTES && h == c->want_sum[i] && !t->truncated) o->count[2]++;
    sift_smtp_txn_free(t);
}

static void cm_on_finding(void *user, const char *rule, enum sift_severity sev,
                          const char *detail, const struct sift_pktref *where)
{
    (void)sev; (void)detail; (void)where;
    note_rule(((struct cm_state *)user)->o, rule);
}

#define CM_FEED(s, d, str) sift_smtp_feed(s, d, (const uint8_t *)(str), strlen(str), &pk)

static void cm_run(struct outcome *o, size_t budget)
{
    static struct cm_state c;
    memset(&c, 0, sizeof c);
    c.o = o;
    struct sift_smtp_sink sink = { .user = &c, .on_txn = cm_on_txn, .on_finding = cm_on_finding };
    struct sift_smtp_limits lim = { .mem_budget = budget };
    static struct sift_smtp *ss[CM_SESSIONS];
    struct sift_pktref pk = { 0, 1, 0 };
    char line[128];
    for (size_t i = 0; i < CM_SESSIONS; i++) {
        ss[i] = sift_smtp_new(&sink, &lim);
        CM_FEED(ss[i], SIFT_DIR_S2C, "220 mx\r\n");
        CM_FEED(ss[i], SIFT_DIR_C2S, "EHLO c\r\n");
        CM_FEED(ss[i], SIFT_DIR_S2C, "250-mx\r\n250 PIPELINING\r\n");
        int n = snprintf(line, sizeof line, "MAIL FROM:<s%zu@x>\r\nRCPT TO:<r@y>\r\nDATA\r\n", i);
        sift_smtp_feed(ss[i], SIFT_DIR_C2S, (const uint8_t *)line, (size_t)n, &pk);
        CM_FEED(ss[i], SIFT_DIR_S2C, "250 ok\r\n250 ok\r\n354 go\r\n");
        uint64_t h = 0xcbf29ce484222325u;
        for (size_t k = 0; k < CM_BYTES; k++) { uint8_t b = cm_byte(i, k); h = cm_sum(h, &b, 1); }
        c.want_sum[i] = h;
    }
    uint8_t seg[1400];
    for (size_t off = 0; off < CM_BYTES; off += sizeof seg) {
        size_t n = CM_BYTES - off < sizeof seg ? CM_BYTES - off : sizeof seg;
        for (size_t i = 0; i < CM_SESSIONS; i++) {
            for (size_t k = 0; k < n; k++) seg[k] = cm_byte(i, off + k);
            sift_smtp_feed(ss[i], SIFT_DIR_C2S, seg, n, &pk);
            size_t a = sift_smtp_assembling_bytes();
            if (a > c.max_assembling) c.max_assembling = a;
        }
    }
    for (size_t i = 0; i < CM_SESSIONS; i++) {
        CM_FEED(ss[i], SIFT_DIR_C2S, ".\r\nQUIT\r\n");
        CM_FEED(ss[i], SIFT_DIR_S2C, "250 queued\r\n221 bye\r\n");
        sift_smtp_close(ss[i], &pk);
        sift_smtp_free(ss[i]);
    }
    o->x[0] = c.max_assembling;
    o->x[1] = sift_smtp_assembling_bytes();
}
#undef CM_FEED

static void case_concurrent_budget(struct outcome *o) { cm_run(o, 0); }
static void case_concurrent_nobudget(struct outcome *o) { cm_run(o, SIZE_MAX); }

static void test_concurrent_messages(void **state)
{
    (void)state;
    struct rlimit rl;   /* one temporary file per spooled message (smtpsift raises this itself) */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096 && rl.rlim_max > rl.rlim_cur) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct outcome o, u;
    isolated("600 messages of 300 KiB at once, 64 MiB budget", case_concurrent_budget, &o);
    isolated("the same, no budget", case_concurrent_nobudget, &u);
    fprintf(stderr, "# held at most %llu KiB with the budget, %llu KiB without; %llu of %d spooled\n",
            (unsigned long long)(o.x[0] >> 10), (unsigned long long)(u.x[0] >> 10),
            (unsigned long long)o.count[1], CM_SESSIONS);
    assert_int_equal(o.count[0], CM_SESSIONS);            /* every message arrived */
    assert_int_equal(o.count[2], CM_SESSIONS);            /* whole: size and checksum */
    assert_int_equal(u.count[2], CM_SESSIONS);
    assert_true(o.x[0] <= (64u << 20) + CM_SESSIONS * (32u << 10) + (1u << 20));
    assert_true(u.x[0] >= (uint64_t)CM_SESSIONS * CM_BYTES);   /* the control held everything */
    assert_int_equal(o.x[1], 0);                           /* nothing left counted */
    assert_int_equal(u.x[1], 0);
    assert_true(o.count[1] > CM_SESSIONS / 2);             /* most went to their files */
    assert_int_equal(u.count[1], 0);
    assert_true(has(&o, "message_spooled"));
    assert_int_equal(o.n_rules, 1);                        /* and nothing else to say */
    assert_int_equal(u.n_rules, 0);
    assert_true(o.grew_kb < u.grew_kb);
    assert_true(o.grew_kb < 120 * 1024 + slack_kb());
}

int main(void)
{
    if (getenv("SIFT_TEST_FILTER")) cmocka_set_test_filter(getenv("SIFT_TEST_FILTER"));
    sift_mime_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_line_10mb),
        cmocka_unit_test(test_nesting_100000),
        cmocka_unit_test(test_boundary_1mb),
        cmocka_unit_test(test_one_byte_per_packet),
        cmocka_unit_test(test_syn_flood),
        cmocka_unit_test(test_compressed_claim),
        cmocka_unit_test(test_concurrent_messages),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sift_mime_shutdown();
    return rc;
}
