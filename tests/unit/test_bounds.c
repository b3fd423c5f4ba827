/* test_bounds.c — hostile-size inputs from issue 8 that the parsers must survive
 * with bounded memory and a recorded finding: a 10 MB header line, a 100,000-level
 * MIME nesting attempt, a 1 MB boundary string (mime.c over GMime), and one SMTP
 * connection sending one byte per packet (reasm.c + smtp.c). Memory is checked
 * with getrusage (peak RSS growth), never with timings. 100,000 recipients in one
 * transaction is test_many_recipients in test_smtp.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

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
    o->count[1] = t->content.len;
    struct sift_mime_summary *m = sift_mime_parse(t->content.data, t->content.len, on_finding, o);
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

/* Feeds one raw-IPv4 TCP segment (DLT_RAW) from one side straight to reasm. */
static void send_seg(struct conn *c, int from_client, uint8_t flags, const void *pay, size_t n)
{
    uint8_t p[1600] = {0}, *t = p + 20;
    static const uint8_t ca[4] = { 10, 0, 0, 1 }, sa[4] = { 10, 0, 0, 2 };
    uint32_t *seq = from_client ? &c->cseq : &c->sseq, ack = from_client ? c->sseq : c->cseq;
    p[0] = 0x45; w16(p + 2, (unsigned)(40 + n)); p[8] = 64; p[9] = 6;
    memcpy(p + 12, from_client ? ca : sa, 4); memcpy(p + 16, from_client ? sa : ca, 4);
    w16(p + 10, fold(sum16(0, p, 20)));
    w16(t, from_client ? 40000 : 25); w16(t + 2, from_client ? 25 : 40000);
    w32(t + 4, *seq); w32(t + 8, (flags & ACK) ? ack : 0);
    t[12] = 5 << 4; t[13] = flags; w16(t + 14, 65535);
    if (n) memcpy(t + 20, pay, n);
    w16(t + 16, fold(sum16(sum16(0, p + 12, 8) + 6 + (uint32_t)(20 + n), t, 20 + n)));
    *seq += (uint32_t)n + ((flags & (SYN | FIN)) ? 1 : 0);
    c->frame_no++;
    struct sift_frame f = {
        .data = p, .caplen = (uint32_t)(40 + n), .wirelen = (uint32_t)(40 + n), .dlt = 12,
        .ref = { 0, c->frame_no, 1700000000000000LL + (int64_t)c->frame_no * 10 },
    };
    sift_reasm_feed(&f);
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

int main(void)
{
    sift_mime_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_line_10mb),
        cmocka_unit_test(test_nesting_100000),
        cmocka_unit_test(test_boundary_1mb),
        cmocka_unit_test(test_one_byte_per_packet),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sift_mime_shutdown();
    return rc;
}
