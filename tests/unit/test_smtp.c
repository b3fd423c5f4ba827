/* test_smtp.c — cmocka tests for the SMTP state machine (dissectors/smtp.c): transcript
 * fixtures fed whole, line by line and byte by byte, plus bounds, gaps, close and probe.
 *
 * Fixture format (tests/fixtures/smtp/NAME.txt), one item per line:
 *   C: text   client bytes "text" followed by CRLF      S: text   same for the server
 *   c: text   client bytes "text" exactly (no CRLF)     s: text   same for the server
 *   In text: \r \n \t \\ and \xHH are escapes (so "c: body\n" is a bare-LF line).
 *   L: key=value ...   limits (max_line, max_pending, max_rcpts, max_message, max_reply_lines)
 *   > ...              expected dump line (see dump() below); "#" starts a comment line.
 * Expected dump order: all command rows, then transactions, then AUTH attempts
 * ("auth SEQ MECH user U pass P outcome CODE TEXT [cancelled]") and XCLIENT/XFORWARD
 * rows ("xclient SEQ VERB ATTRS CODE"), then findings, then a "session" line (with
 * "tls_pkt N version V sni S" when STARTTLS succeeded and "auth N failed M" when AUTH
 * was tried). Strings in the dump are quoted with the same escapes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

/* ---------- result collection ---------- */

struct result {
    struct sift_buf cmds, txns, finds, auths;
    struct sift_smtp_txn **kept;    /* transactions, when a test wants to inspect them */
    size_t n_kept;
    int keep;
    int spill;                      /* fixtures run again with every message spooled */
    uint64_t n_spooled;
    uint64_t n_cmds;
    struct sift_smtp_cmd last_cmd;  /* pkt fields only are valid after the callback */
    struct sift_pktref cmd_pkts[64], reply_pkts[64];
};

static void put(struct sift_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sift_buf_append(b, tmp, n < (int)sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void put_str(struct sift_buf *b, const void *p, size_t n)
{
    const uint8_t *s = p;
    if (!p) { sift_buf_putc(b, '-'); return; }
    sift_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '\r': sift_buf_append(b, "\\r", 2); break;
        case '\n': sift_buf_append(b, "\\n", 2); break;
        case '\t': sift_buf_append(b, "\\t", 2); break;
        case '\\': sift_buf_append(b, "\\\\", 2); break;
        case '"': sift_buf_append(b, "\\\"", 2); break;
        default:
            if (s[i] < 0x20 || s[i] >= 0x7f) put(b, "\\x%02x", s[i]);
            else sift_buf_putc(b, s[i]);
        }
    }
    sift_buf_putc(b, '"');
}

static void put_cstr(struct sift_buf *b, const char *s)
{
    put_str(b, s, s ? strlen(s) : 0);
}

static void on_command(void *user, const struct sift_smtp_cmd *c)
{
    struct result *r = user;
    struct sift_buf *b = &r->cmds;
    put(b, "cmd %u %s ", (unsigned)c->seq, c->verb ? c->verb : "-");
    put_cstr(b, c->args);
    put(b, " %d %s ", c->reply_code, c->enhanced ? c->enhanced : "-");
    put_cstr(b, c->reply_text);
    put(b, " txn=%d", (int)c->txn);
    if (c->intermediate_code) put(b, " inter=%dx%u", c->intermediate_code, (unsigned)c->intermediate_replies);
    sift_buf_putc(b, '\n');
    /* a command row always has its raw line (empty only for a DATA assumed after a gap) */
    if (c->verb) assert_non_null(c->line);
    if (r->n_cmds < 64) {
        r->cmd_pkts[r->n_cmds] = c->cmd_pkt;
        r->reply_pkts[r->n_cmds] = c->reply_pkt;
    }
    r->n_cmds++;
}

static void on_txn(void *user, struct sift_smtp_txn *t)
{
    struct result *r = user;
    struct sift_buf *b = &r->txns;
    put(b, "txn %u %s from ", (unsigned)t->index, sift_smtp_disposition_name(t->disposition));
    put_cstr(b, t->mail_from);
    sift_buf_append(b, " params ", 8);
    put_cstr(b, t->mail_params);
    put(b, " mail %d\n", t->mail_reply_code);
    for (size_t i = 0; i < t->n_rcpts; i++) {
        sift_buf_append(b, "rcpt ", 5);
        put_cstr(b, t->rcpts[i].address);
        sift_buf_putc(b, ' ');
        put_cstr(b, t->rcpts[i].params);
        put(b, " %d\n", t->rcpts[i].reply_code);
    }
    if (t->rcpts_dropped) put(b, "dropped %llu\n", (unsigned long long)t->rcpts_dropped);
    put(b, "data %d queue ", t->data_reply_code);
    put_cstr(b, t->queue_id);
    sift_buf_append(b, " term ", 6);
    put_cstr(b, t->terminator);
    put(b, " truncated %d", t->truncated);
    if (t->has_content && t->spooled) {   /* read back from the temporary file */
        assert_int_equal(t->content.len, 0);
        char *back = malloc(t->spool_len + 1);
        assert_int_equal(sift_pread_all(t->spool_fd, back, t->spool_len, 0), 0);
        sift_buf_append(b, " content ", 9);
        put_str(b, back, t->spool_len);
        free(back);
    } else if (t->has_content) {
        sift_buf_append(b, " content ", 9);
        put_str(b, t->content.data ? (const char *)t->content.data : "", t->content.len);
    } else {
        sift_buf_append(b, " nocontent", 10);
    }
    sift_buf_putc(b, '\n');
    if (r->keep) {
        r->kept = realloc(r->kept, (r->n_kept + 1) * sizeof *r->kept);
        r->kept[r->n_kept++] = t;
    } else {
        sift_smtp_txn_free(t);
    }
}

static void on_auth(void *user, const struct sift_smtp_auth *a)
{
    struct result *r = user;
    struct sift_buf *b = &r->auths;
    put(b, "auth %u %s user ", (unsigned)a->seq, a->mechanism);
    put_cstr(b, a->username);
    sift_buf_append(b, " pass ", 6);
    put_cstr(b, a->password);
    put(b, " outcome %d ", a->outcome_code);
    put_cstr(b, a->outcome_text);
    if (a->cancelled) sift_buf_append(b, " cancelled", 10);
    put(b, " tls %d\n", a->tls);
}

static void on_xclient(void *user, const struct sift_smtp_xclient *x)
{
    struct result *r = user;
    struct sift_buf *b = &r->auths;
    put(b, "xclient %u %s ", (unsigned)x->seq, x->verb);
    put_cstr(b, x->attributes);
    put(b, " %d\n", x->reply_code);
}

static void on_finding(void *user, const char *rule, enum sift_severity sev, const char *detail,
                       const struct sift_pktref *where)
{
    struct result *r = user;
    (void)sev;
    (void)where;
    assert_non_null(detail);
    if (r->spill && !strcmp(rule, "message_spooled")) { r->n_spooled++; return; }
    put(&r->finds, "finding %s\n", rule);
}

static void result_free(struct result *r)
{
    sift_buf_free(&r->cmds);
    sift_buf_free(&r->txns);
    sift_buf_free(&r->finds);
    sift_buf_free(&r->auths);
    for (size_t i = 0; i < r->n_kept; i++) sift_smtp_txn_free(r->kept[i]);
    free(r->kept);
    memset(r, 0, sizeof *r);
}

static struct sift_smtp *new_session(struct result *r, const struct sift_smtp_limits *lim)
{
    struct sift_smtp_sink sink = { .user = r, .on_command = on_command, .on_txn = on_txn,
                                   .on_finding = on_finding, .on_auth = on_auth,
                                   .on_xclient = on_xclient };
    return sift_smtp_new(&sink, lim);
}

/* Full dump: commands, transactions, findings, session summary. Caller frees. */
static char *dump(struct result *r, const struct sift_smtp *s)
{
    struct sift_buf b = { 0 };
    const struct sift_smtp_session *in = sift_smtp_session_info(s);
    sift_buf_append(&b, r->cmds.data ? (char *)r->cmds.data : "", r->cmds.len);
    sift_buf_append(&b, r->txns.data ? (char *)r->txns.data : "", r->txns.len);
    sift_buf_append(&b, r->auths.data ? (char *)r->auths.data : "", r->auths.len);
    sift_buf_append(&b, r->finds.data ? (char *)r->finds.data : "", r->finds.len);
    put(&b, "session banner %d helo ", in->banner_code);
    put_cstr(&b, in->helo_name);
    put(&b, " ext %zu offered %d used %d quit %d tls %d txns %u\n", in->n_extensions,
        in->pipelining_offered, in->pipelining_used, in->quit_seen, in->tls_started,
        (unsigned)in->n_txns);
    if (in->tls_started) {
        b.len--;   /* before the newline */
        put(&b, " tls_pkt %llu version ", (unsigned long long)in->tls_pkt.frame_no);
        put_cstr(&b, in->tls_version);
        sift_buf_append(&b, " sni ", 5);
        put_cstr(&b, in->tls_sni);
        sift_buf_putc(&b, '\n');
    }
    if (in->n_auth) {
        b.len--;
        put(&b, " auth %u failed %u\n", (unsigned)in->n_auth, (unsigned)in->n_auth_failed);
    }
    sift_buf_putc(&b, 0);
    return (char *)sift_buf_steal(&b, NULL);
}

/* ---------- fixtures ---------- */

struct item { int dir; uint8_t *data; size_t len; unsigned lineno; };

struct fixture {
    struct item *items;
    size_t n;
    struct sift_smtp_limits lim;
    struct sift_buf expect;
};

static size_t unescape(const char *in, uint8_t *out)
{
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        if (*p != '\\' || !p[1]) { out[o++] = (uint8_t)*p; continue; }
        p++;
        switch (*p) {
        case 'r': out[o++] = '\r'; break;
        case 'n': out[o++] = '\n'; break;
        case 't': out[o++] = '\t'; break;
        case 'x': {
            unsigned v = 0;
            sscanf(p + 1, "%2x", &v);
            out[o++] = (uint8_t)v;
            p += 2;
            break;
        }
        default: out[o++] = (uint8_t)*p; break;
        }
    }
    return o;
}

static void fixture_load(const char *path, struct fixture *f)
{
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "r");
    if (!fp) fail_msg("cannot open %s", path);
    char line[8192];
    unsigned lineno = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n') line[--n] = '\0';
        if (n >= 2 && line[0] == '>' && line[1] == ' ') {
            sift_buf_append(&f->expect, line + 2, n - 2);
            sift_buf_putc(&f->expect, '\n');
            continue;
        }
        if (n >= 2 && line[0] == 'L' && line[1] == ':') {
            char *tok = strtok(line + 2, " ");
            for (; tok; tok = strtok(NULL, " ")) {
                size_t v = 0;
                char key[64];
                if (sscanf(tok, "%63[a-z_]=%zu", key, &v) != 2) fail_msg("bad limit %s", tok);
                if (!strcmp(key, "max_line")) f->lim.max_line = v;
                else if (!strcmp(key, "max_pending")) f->lim.max_pending = v;
                else if (!strcmp(key, "max_rcpts")) f->lim.max_rcpts = v;
                else if (!strcmp(key, "max_message")) f->lim.max_message = v;
                else if (!strcmp(key, "max_reply_lines")) f->lim.max_reply_lines = v;
                else fail_msg("unknown limit %s", key);
            }
            continue;
        }
        if (n >= 2 && strchr("CSsc", line[0]) && line[1] == ':') {
            const char *text = line + 2;
            if (*text == ' ') text++;
            uint8_t *buf = malloc(strlen(text) + 3);
            size_t len = unescape(text, buf);
            if (line[0] == 'C' || line[0] == 'S') { buf[len++] = '\r'; buf[len++] = '\n'; }
            f->items = realloc(f->items, (f->n + 1) * sizeof *f->items);
            f->items[f->n].dir = (line[0] == 'C' || line[0] == 'c') ? SIFT_DIR_C2S : SIFT_DIR_S2C;
            f->items[f->n].data = buf;
            f->items[f->n].len = len;
            f->items[f->n].lineno = lineno;
            f->n++;
            continue;
        }
        if (n == 0 || line[0] == '#') continue;
        fail_msg("%s:%u: unrecognised fixture line", path, lineno);
    }
    fclose(fp);
    sift_buf_putc(&f->expect, 0);
}

static void fixture_free(struct fixture *f)
{
    for (size_t i = 0; i < f->n; i++) free(f->items[i].data);
    free(f->items);
    sift_buf_free(&f->expect);
}

enum mode { WHOLE, BY_LINE, BY_BYTE, SPILL_WHOLE, SPILL_BYTE };

/* Feed a fixture in one mode; returns the dump (caller frees). The SPILL
 * modes spool every message past 5 bytes to a temporary file: the dump must
 * not change (the message_spooled findings are counted, not dumped). */
static char *feed_fixture(const struct fixture *f, enum mode m, uint64_t *spooled)
{
    struct result r;
    memset(&r, 0, sizeof r);
    struct sift_smtp_limits lim = f->lim;
    if (m == SPILL_WHOLE || m == SPILL_BYTE) {
        lim.spill_above = 5;
        r.spill = 1;
        m = m == SPILL_WHOLE ? WHOLE : BY_BYTE;
    }
    struct sift_smtp *s = new_session(&r, &lim);
    struct sift_pktref pkt = { 0, 0, 0 };
    for (size_t i = 0; i < f->n;) {
        /* WHOLE: a run of consecutive items of one direction is one chunk */
        size_t j = i + 1;
        if (m == WHOLE)
            while (j < f->n && f->items[j].dir == f->items[i].dir) j++;
        struct sift_buf chunk = { 0 };
        for (size_t k = i; k < j; k++) sift_buf_append(&chunk, f->items[k].data, f->items[k].len);
        pkt.frame_no = f->items[i].lineno;
        pkt.ts_us = (int64_t)f->items[i].lineno * 1000;
        if (m == BY_BYTE) {
            for (size_t k = 0; k < chunk.len; k++)
                sift_smtp_feed(s, f->items[i].dir, chunk.data + k, 1, &pkt);
        } else if (chunk.len) {
            sift_smtp_feed(s, f->items[i].dir, chunk.data, chunk.len, &pkt);
        }
        sift_buf_free(&chunk);
        i = j;
    }
    pkt.frame_no = 999999;
    sift_smtp_close(s, &pkt);
    char *d = dump(&r, s);
    if (spooled) *spooled = r.n_spooled;
    sift_smtp_free(s);
    result_free(&r);
    return d;
}

/* Print both texts line by line, marking the first difference. */
static void show_diff(const char *name, const char *mode, const char *want, const char *got)
{
    fprintf(stderr, "--- %s (%s): expected\n%s--- got\n%s---\n", name, mode, want, got);
}

static void run_fixture(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/smtp/%s.txt", SIFT_FIXTURES, name);
    struct fixture f;
    fixture_load(path, &f);
    static const char *mode_name[] = { "whole", "by line", "by byte", "spooled, whole", "spooled, by byte" };
    int bad = 0;
    uint64_t spooled[5] = { 0 };
    for (int m = WHOLE; m <= SPILL_BYTE; m++) {
        char *got = feed_fixture(&f, (enum mode)m, &spooled[m]);
        if (strcmp(got, (const char *)f.expect.data) != 0) {
            show_diff(name, mode_name[m], (const char *)f.expect.data, got);
            bad = 1;
        }
        free(got);
    }
    /* every message with more than 5 content bytes went through the spool (one
     * cut back to fewer bytes by a "\r.\r" end of data may have been spooled too) */
    const char *e = (const char *)f.expect.data;
    uint64_t big = 0;
    for (const char *p = strstr(e, " content \""); p; p = strstr(p + 1, " content \"")) {
        size_t n = 0;
        for (const char *q = p + 10; *q && *q != '"'; q++) { n++; if (*q == '\\') { q++; if (*q == 'x') q += 2; } }
        if (n > 5) big++;
    }
    if (spooled[SPILL_WHOLE] < big || spooled[SPILL_BYTE] < big || spooled[SPILL_WHOLE] != spooled[SPILL_BYTE]) {
        fprintf(stderr, "%s: %llu messages over 5 bytes, spooled %llu (whole) %llu (by byte)\n", name,
                (unsigned long long)big, (unsigned long long)spooled[SPILL_WHOLE],
                (unsigned long long)spooled[SPILL_BYTE]);
        bad = 1;
    }
    fixture_free(&f);
    if (bad) fail_msg("fixture %s differs", name);
}

/* Every fixture in tests/fixtures/smtp runs as one test case (see main). */
static void test_fixture(void **state)
{
    run_fixture((const char *)*state);
}

/* ---------- targeted tests ---------- */

static void feeds(struct sift_smtp *s, enum sift_dir d, const char *text, uint64_t frame)
{
    struct sift_pktref pkt = { 0, frame, (int64_t)frame };
    sift_smtp_feed(s, d, (const uint8_t *)text, strlen(text), &pkt);
}

static void test_packet_refs(void **state)
{
    (void)state;
    struct result r;
    memset(&r, 0, sizeof r);
    struct sift_smtp *s = new_session(&r, NULL);
    feeds(s, SIFT_DIR_S2C, "220 mx ESMTP\r\n", 1);
    feeds(s, SIFT_DIR_C2S, "HELO ", 2);
    feeds(s, SIFT_DIR_C2S, "a\r\n", 3);
    feeds(s, SIFT_DIR_S2C, "250-mx\r\n", 4);
    feeds(s, SIFT_DIR_S2C, "250 ok\r\n", 5);
    sift_smtp_close(s, NULL);
    assert_int_equal(r.n_cmds, 2);
    assert_int_equal(r.reply_pkts[0].frame_no, 1);
    assert_int_equal(r.cmd_pkts[0].frame_no, 0);
    assert_int_equal(r.cmd_pkts[1].frame_no, 3);
    assert_int_equal(r.reply_pkts[1].frame_no, 5);
    sift_smtp_free(s);
    result_free(&r);
}

static void test_txn_packet_refs_and_content(void **state)
{
    (void)state;
    struct result r;
    memset(&r, 0, sizeof r);
    r.keep = 1;
    struct sift_smtp *s = new_session(&r, NULL);
    feeds(s, SIFT_DIR_S2C, "220 mx\r\n", 1);
    feeds(s, SIFT_DIR_C2S, "MAIL FROM:<a@b>\r\n", 2);
    feeds(s, SIFT_DIR_S2C, "250 ok\r\n", 3);
    feeds(s, SIFT_DIR_C2S, "RCPT TO:<c@d>\r\nDATA\r\n", 4);
    feeds(s, SIFT_DIR_S2C, "250 ok\r\n354 go\r\n", 5);
    feeds(s, SIFT_DIR_C2S, "Subject: x\r\n\r\n", 6);
    feeds(s, SIFT_DIR_C2S, "body\r\n.\r\n", 7);
    feeds(s, SIFT_DIR_S2C, "250 2.0.0 Ok: queued as 4Xyz12AbC\r\n", 8);
    assert_int_equal(r.n_kept, 1);
    struct sift_smtp_txn *t = r.kept[0];
    assert_int_equal(t->first_pkt.frame_no, 2);
    assert_int_equal(t->content_first_pkt.frame_no, 6);
    assert_int_equal(t->content_last_pkt.frame_no, 7);
    assert_int_equal(t->last_pkt.frame_no, 8);
    assert_int_equal(t->rcpts[0].pkt.frame_no, 4);
    assert_string_equal(t->queue_id, "4Xyz12AbC");
    assert_int_equal(t->content.len, strlen("Subject: x\r\n\r\nbody\r\n"));
    assert_int_equal(t->disposition, SIFT_SMTP_ACCEPTED);
    sift_smtp_close(s, NULL);
    sift_smtp_free(s);
    result_free(&r);
}

static void test_overlong_line_5mb(void **state)
{
    (void)state;
    struct result r;
    memset(&r, 0, sizeof r);
    struct sift_smtp_limits lim = { .max_line = 4096 };
    struct sift_smtp *s = new_session(&r, &lim);
    feeds(s, SIFT_DIR_S2C, "220 mx\r\n", 1);
    feeds(s, SIFT_DIR_C2S, "NOOP ", 2);
    char *chunk = malloc(65536);
    memset(chunk, 'x', 65535);
    chunk[65535] = '\0';
    for (int i = 0; i < 80; i++) feeds(s, SIFT_DIR_C2S, chunk, 3);   /* ~5 MB */
    feeds(s, SIFT_DIR_C2S, "\r\n", 4);
    feeds(s, SIFT_DIR_S2C, "250 ok\r\n", 5);
    free(chunk);
    sift_smtp_close(s, NULL);
    char *d = dump(&r, s);
    /* the row exists, its args were cut to max_line - 5 bytes */
    assert_non_null(strstr(d, "cmd 1 NOOP \"xxxx"));
    assert_non_null(strstr(d, "finding line_too_long\n"));
    assert_non_null(strstr(d, "finding line_cut\n"));
    free(d);
    sift_smtp_free(s);
    result_free(&r);
}

/* Captures only the line lengths of command rows. */
static size_t max_line_seen;
static void len_cmd(void *user, const struct sift_smtp_cmd *c)
{
    (void)user;
    if (c->line_len > max_line_seen) max_line_seen = c->line_len;
}

static void test_overlong_line_stored_bounded(void **state)
{
    (void)state;
    struct sift_smtp_sink sink = { .on_command = len_cmd };
    struct sift_smtp_limits lim = { .max_line = 1000 };
    struct sift_smtp *s = sift_smtp_new(&sink, &lim);
    max_line_seen = 0;
    size_t total = 5u << 20;
    char *big = malloc(total + 3);
    memcpy(big, "XYZ ", 4);
    memset(big + 4, 'A', total - 4);
    memcpy(big + total, "\r\n", 3);
    sift_smtp_feed(s, SIFT_DIR_C2S, (const uint8_t *)big, total + 2, NULL);
    free(big);
    sift_smtp_close(s, NULL);
    assert_int_equal(max_line_seen, 1000);
    sift_smtp_free(s);
}

static void test_many_recipients(void **state)
{
    (void)state;
    struct result r;
    memset(&r, 0, sizeof r);
    r.keep = 1;
    struct sift_smtp_limits lim = { .max_rcpts = 100 };
    struct sift_smtp *s = new_session(&r, &lim);
    feeds(s, SIFT_DIR_S2C, "220 mx\r\n", 1);
    feeds(s, SIFT_DIR_C2S, "MAIL FROM:<a@b>\r\n", 2);
    feeds(s, SIFT_DIR_S2C, "250 ok\r\n", 3);
    char line[64];
    for (int i = 0; i < 100000; i++) {
        snprintf(line, sizeof line, "RCPT TO:<u%d@x>\r\n", i);
        feeds(s, SIFT_DIR_C2S, line, 4);
        feeds(s, SIFT_DIR_S2C, i % 2 ? "550 no\r\n" : "250 ok\r\n", 5);
    }
    feeds(s, SIFT_DIR_C2S, "QUIT\r\n", 6);
    feeds(s, SIFT_DIR_S2C, "221 bye\r\n", 7);
    sift_smtp_close(s, NULL);
    assert_int_equal(r.n_kept, 1);
    struct sift_smtp_txn *t = r.kept[0];
    assert_int_equal(t->n_rcpts, 100);
    assert_int_equal(t->rcpts_dropped, 100000 - 100);
    assert_string_equal(t->rcpts[99].address, "u99@x");
    assert_int_equal(t->rcpts[99].reply_code, 550);
    assert_int_equal(t->rcpts[98].reply_code, 250);
    assert_int_equal(t->disposition, SIFT_SMTP_ABORTED);
    assert_int_equal(r.n_cmds, 1 + 1 + 100000 + 1);
    assert_non_null(strstr((char *)r.finds.data, "finding too_many_recipients\n"));
    /* reported once per transaction */
    assert_null(strstr(strstr((char *)r.finds.data, "too_many_recipients") + 1, "too_many_recipients"));
    sift_smtp_free(s);
    result_free(&r);
}

static void test_max_pending(void **state)
{
    (void)state;
    struct result r;
    memset(&r, 0, sizeof r);
    struct sift_smtp_limits lim = { .max_pending = 4 };
    struct sift_smtp *s = new_session(&r, &lim);
    feeds(s, SIFT_DIR_S2C, "220 mx\r\n", 1);
    for (int i = 0; i < 10; i++) feeds(s, SIFT_DIR_C2S, "NOOP\r\n", 2);
    for (int i = 0; i < 4; i++) feeds(s, SIFT_DIR_S2C, "250 ok\r\n", 3);
    sift_smtp_close(s, NULL);
    char *d = dump(&r, s);
    /* 6 flushed unanswered, 4 answered, greeting answered */
    assert_int_equal(r.n_cmds, 11);
    assert_non_null(strstr(d, "cmd 1 NOOP \"\" 0 - - txn=-1\n"));
    assert_non_null(strstr(d, "cmd 10 NOOP \"\" 250 - \"ok\" txn=-1\n"));
    assert_non_null(strstr(d, "finding too_many_pending\n"));
    free(d);
    sift_smtp_free(s);
    result_free(&r);
}

static void test_message_bound(void **state)
{
    (void)state;
    struct result r;
    memset(&r, 0, sizeof r);
    r.keep = 1;
    struct sift_smtp_limits lim = { .max_message = 1000 };
    struct sift_smtp *s = new_session(&r, &lim);
    feeds(s, SIFT_DIR_S2C, "220 mx\r\n", 1);
    feeds(s, SIFT_DIR_C2S, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", 2);
    feeds(s, SIFT_DIR_S2C, "250 ok\r\n250 ok\r\n354 go\r\n", 3);
    for (int i = 0; i < 10000; i++) feeds(s, SIFT_DIR_C2S, "0123456789012345678\r\n", 4);
    feeds(s, SIFT_DIR_C2S, ".\r\n", 5);
    feeds(s, SIFT_DIR_S2C, "250 ok id=1abc-000123-AB\r\n", 6);
    sift_smtp_close(s, NULL);
    assert_int_equal(r.n_kept, 1);
    assert_int_equal(r.kept[0]->content.len, 1000);
    assert_true(r.kept[0]->truncated);
    assert_string_equal(r.kept[0]->queue_id, "1abc-000123-AB");
    assert_int_equal(r.kept[0]->disposition, SIFT_SMTP_ACCEPTED);
    assert_non_null(strstr((char *)r.finds.data, "finding message_too_large\n"));
    sift_smtp_free(s);
    result_free(&r);
}

static void test_bdat_huge_size_not_preallocated(void **state)
{
    (void)state;
    struct result r;
    memset(&r, 0, sizeof r);
    r.keep = 1;
    struct sift_smtp_limits lim = { .max_message = 64 };
    struct sift_smtp *s = new_session(&r, &lim);
    feeds(s, SIFT_DIR_S2C, "220 mx\r\n", 1);
    feeds(s, SIFT_DIR_C2S, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 18446744073709551615 LAST\r\n", 2);
    for (int i = 0; i < 1000; i++) feeds(s, SIFT_DIR_C2S, "QUIT\r\nQUIT\r\nQUIT\r\n", 3);
    sift_smtp_close(s, NULL);
    assert_int_equal(r.n_kept, 1);
    assert_int_equal(r.kept[0]->content.len, 64);
    assert_true(r.kept[0]->truncated);
    assert_int_equal(r.kept[0]->disposition, SIFT_SMTP_INCOMPLETE);
    /* the octets were content, never commands */
    assert_null(strstr((char *)r.cmds.data, "QUIT"));
    sift_smtp_free(s);
    result_free(&r);
}

static void test_gap_in_content(void **state)
{
    (void)state;
    struct result r;
    memset(&r, 0, sizeof r);
    r.keep = 1;
    struct sift_smtp *s = new_session(&r, NULL);
    feeds(s, SIFT_DIR_S2C, "220 mx\r\n", 1);
    feeds(s, SIFT_DIR_C2S, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", 2);
    feeds(s, SIFT_DIR_S2C, "250 ok\r\n250 ok\r\n354 go\r\n", 3);
    feeds(s, SIFT_DIR_C2S, "Subject: x\r\n\r\nfirst part", 4);
    sift_smtp_gap(s, SIFT_DIR_C2S, 1000, NULL);
    /* A hole of known length inside content: the content goes on after it and the
     * terminator still ends it, so the protocol stays in step. */
    feeds(s, SIFT_DIR_C2S, "lost\r\n.\r\n", 5);
    feeds(s, SIFT_DIR_S2C, "250 ok queued as ABC\r\n", 6);
    feeds(s, SIFT_DIR_C2S, "MAIL FROM:<e@f>\r\n", 7);
    feeds(s, SIFT_DIR_S2C, "250 ok\r\n", 8);
    feeds(s, SIFT_DIR_C2S, "QUIT\r\n", 9);
    feeds(s, SIFT_DIR_S2C, "221 bye\r\n", 10);
    sift_smtp_close(s, NULL);
    assert_int_equal(r.n_kept, 2);
    assert_true(r.kept[0]->truncated);
    assert_int_equal(r.kept[0]->missing_bytes, 1000);
    assert_int_equal(r.kept[0]->disposition, SIFT_SMTP_ACCEPTED);
    assert_string_equal(r.kept[0]->queue_id, "ABC");
    assert_int_equal(r.kept[0]->content.len, strlen("Subject: x\r\n\r\nfirst partlost\r\n"));
    assert_memory_equal(r.kept[0]->content.data, "Subject: x\r\n\r\nfirst partlost\r\n", r.kept[0]->content.len);
    assert_string_equal(r.kept[1]->mail_from, "e@f");
    assert_int_equal(r.kept[1]->mail_reply_code, 250);
    assert_int_equal(r.kept[1]->disposition, SIFT_SMTP_ABORTED);
    assert_non_null(strstr((char *)r.finds.data, "finding capture_gap\n"));
    assert_null(strstr((char *)r.finds.data, "data_reply_before_terminator"));
    assert_non_null(strstr((char *)r.cmds.data, "cmd 3 DATA \"\" 250 - \"ok queued as ABC\" txn=0"));
    sift_smtp_free(s);
    result_free(&r);
}

static void test_gap_then_354(void **state)
{
    (void)state;
    struct result r;
    memset(&r, 0, sizeof r);
    r.keep = 1;
    struct sift_smtp *s = new_session(&r, NULL);
    sift_smtp_gap(s, SIFT_DIR_S2C, 500, NULL);
    feeds(s, SIFT_DIR_S2C, "354 go\r\n", 1);
    feeds(s, SIFT_DIR_C2S, "Subject: y\r\n\r\nhi\r\n.\r\n", 2);
    feeds(s, SIFT_DIR_S2C, "250 ok\r\n", 3);
    sift_smtp_close(s, NULL);
    assert_int_equal(r.n_kept, 1);
    assert_null(r.kept[0]->mail_from);
    assert_string_equal((char *)r.kept[0]->content.data, "Subject: y\r\n\r\nhi\r\n");
    assert_int_equal(r.kept[0]->disposition, SIFT_SMTP_ACCEPTED);
    sift_smtp_free(s);
    result_free(&r);
}

static void test_close_partial_reply_and_command(void **state)
{
    (void)state;
    struct result r;
    memset(&r, 0, sizeof r);
    struct sift_smtp *s = new_session(&r, NULL);
    feeds(s, SIFT_DIR_S2C, "220 mx\r\n", 1);
    feeds(s, SIFT_DIR_C2S, "NOOP\r\nHELP", 2);
    feeds(s, SIFT_DIR_S2C, "250-one\r\n250 two", 3);   /* partial final line counts */
    sift_smtp_close(s, NULL);
    assert_string_equal((char *)r.cmds.data,
                        "cmd 0 - \"\" 220 - \"mx\" txn=-1\n"
                        "cmd 1 NOOP \"\" 250 - \"one\\ntwo\" txn=-1\n"
                        "cmd 2 HELP \"\" 0 - - txn=-1\n");
    sift_smtp_free(s);
    result_free(&r);
}

static void test_feed_after_close_and_null_sink(void **state)
{
    (void)state;
    struct sift_smtp *s = sift_smtp_new(NULL, NULL);
    feeds(s, SIFT_DIR_S2C, "220 mx\r\n", 1);
    feeds(s, SIFT_DIR_C2S, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n", 2);
    sift_smtp_gap(s, SIFT_DIR_S2C, 3, NULL);
    sift_smtp_close(s, NULL);
    sift_smtp_close(s, NULL);
    feeds(s, SIFT_DIR_C2S, "NOOP\r\n", 3);
    assert_int_equal(sift_smtp_session_info(s)->n_txns, 1);
    sift_smtp_free(s);
    sift_smtp_free(NULL);
}

/* Deterministic pseudo-random splits of a busy transcript: same dump for every split. */
static void test_random_splits(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/smtp/pipelined.txt", SIFT_FIXTURES);
    struct fixture f;
    fixture_load(path, &f);
    char *want = feed_fixture(&f, WHOLE, NULL);
    uint32_t seed = 12345;
    for (int round = 0; round < 200; round++) {
        struct result r;
        memset(&r, 0, sizeof r);
        struct sift_smtp *s = new_session(&r, &f.lim);
        for (size_t i = 0; i < f.n;) {
            size_t j = i + 1;
            while (j < f.n && f.items[j].dir == f.items[i].dir) j++;
            struct sift_buf chunk = { 0 };
            for (size_t k = i; k < j; k++) sift_buf_append(&chunk, f.items[k].data, f.items[k].len);
            size_t pos = 0;
            while (pos < chunk.len) {
                seed = seed * 1103515245u + 12345u;
                size_t n = 1 + (seed >> 16) % 17;
                if (n > chunk.len - pos) n = chunk.len - pos;
                sift_smtp_feed(s, f.items[i].dir, chunk.data + pos, n, NULL);
                pos += n;
            }
            sift_buf_free(&chunk);
            i = j;
        }
        sift_smtp_close(s, NULL);
        char *got = dump(&r, s);
        assert_string_equal(got, want);
        free(got);
        sift_smtp_free(s);
        result_free(&r);
    }
    free(want);
    fixture_free(&f);
}

/* Random sequences of protocol fragments, both directions, gaps and odd splits:
 * must never crash or leak (run under ASan/UBSan), and must stay bounded. */
static void test_random_garbage(void **state)
{
    (void)state;
    static const char *const cfrag[] = {
        "EHLO a\r\n", "MAIL FROM:<a@b>\r\n", "RCPT TO:<c@d>\r\n", "DATA\r\n", "x\r\n",
        ".\r\n", "..\r\n", "\n.\n", "BDAT 5\r\n", "BDAT 3 LAST\r\n", "BDAT x\r\n",
        "AUTH LOGIN\r\n", "*\r\n", "STARTTLS\r\n", "RSET\r\n", "QUIT\r\n", "\r", "\n",
        "MAIL FROM: <@x:y@z> SIZE=1\r\n", "RCPT TO:<\"a>b\"@c>\r\n", "abc",
    };
    static const char *const sfrag[] = {
        "220 mx\r\n", "250 ok\r\n", "250-a\r\n", "354 go\r\n", "334 x\r\n", "235 ok\r\n",
        "550 no\r\n", "421 bye\r\n", "220 tls\r\n", "xyz\r\n", "25", "0 2.0.0 queued as Q\r\n",
        "999 odd\r\n", "\n",
    };
    uint32_t seed = 7;
    for (int round = 0; round < 3000; round++) {
        struct result r;
        memset(&r, 0, sizeof r);
        struct sift_smtp_limits lim = { .max_line = 64, .max_pending = 8, .max_rcpts = 3,
                                        .max_message = 100, .max_reply_lines = 4 };
        struct sift_smtp *s = new_session(&r, (round & 1) ? &lim : NULL);
        int steps = 1 + (int)(seed % 60);
        for (int k = 0; k < steps; k++) {
            seed = seed * 1103515245u + 12345u;
            uint32_t v = seed >> 8;
            if (v % 41 == 0) {
                sift_smtp_gap(s, (v >> 6) & 1 ? SIFT_DIR_S2C : SIFT_DIR_C2S, v % 100, NULL);
                continue;
            }
            int dir = (v >> 5) % 3 == 0 ? SIFT_DIR_S2C : SIFT_DIR_C2S;
            const char *f = dir == SIFT_DIR_S2C ? sfrag[(v >> 9) % SIFT_ARRAY_LEN(sfrag)]
                                                : cfrag[(v >> 9) % SIFT_ARRAY_LEN(cfrag)];
            size_t n = strlen(f), pos = 0;
            while (pos < n) {
                size_t m = 1 + (v >> 13) % 4;
                if (m > n - pos) m = n - pos;
                sift_smtp_feed(s, (enum sift_dir)dir, (const uint8_t *)f + pos, m, NULL);
                pos += m;
            }
        }
        sift_smtp_close(s, NULL);
        const struct sift_smtp_session *in = sift_smtp_session_info(s);
        assert_true(in->n_txns < 1000);
        sift_smtp_free(s);
        result_free(&r);
    }
}

static void test_probe(void **state)
{
    (void)state;
    const uint8_t *p;
    p = (const uint8_t *)"220 mx.example ESMTP\r\n";
    assert_int_equal(sift_smtp_probe(p, 22, SIFT_DIR_S2C), 1);
    /* the whole first line is needed (to tell FTP's 220 apart) */
    assert_int_equal(sift_smtp_probe((const uint8_t *)"220-", 4, SIFT_DIR_S2C), -1);
    assert_int_equal(sift_smtp_probe((const uint8_t *)"220-mx ESMTP\r\n", 14, SIFT_DIR_S2C), 1);
    assert_int_equal(sift_smtp_probe((const uint8_t *)"554 no\r\n", 8, SIFT_DIR_S2C), 1);
    assert_int_equal(sift_smtp_probe((const uint8_t *)"220\r\n", 5, SIFT_DIR_S2C), 1);
    assert_int_equal(sift_smtp_probe((const uint8_t *)"220 (vsFTPd 3.0.3)\r\n", 20, SIFT_DIR_S2C), 0);
    assert_int_equal(sift_smtp_probe((const uint8_t *)"220 ProFTPD Server ready.\r\n", 27, SIFT_DIR_S2C), 0);
    assert_int_equal(sift_smtp_probe((const uint8_t *)"220 mx.ftp.example ESMTP\r\n", 26, SIFT_DIR_S2C), 1);
    assert_int_equal(sift_smtp_probe_verb((const uint8_t *)"QUIT\r\n", 6), 1);
    assert_int_equal(sift_smtp_probe_verb((const uint8_t *)"mail from:<a@b>\r\n", 17), 1);
    assert_int_equal(sift_smtp_probe_verb((const uint8_t *)"USER anonymous\r\n", 16), 0);
    assert_int_equal(sift_smtp_probe_verb((const uint8_t *)"QUITE", 5), 0);
    assert_int_equal(sift_smtp_probe((const uint8_t *)"22", 2, SIFT_DIR_S2C), -1);
    assert_int_equal(sift_smtp_probe((const uint8_t *)"", 0, SIFT_DIR_S2C), -1);
    assert_int_equal(sift_smtp_probe((const uint8_t *)"HTTP/1.1 200", 12, SIFT_DIR_S2C), 0);
    assert_int_equal(sift_smtp_probe((const uint8_t *)"250 ok", 6, SIFT_DIR_S2C), 0);
    assert_int_equal(sift_smtp_probe((const uint8_t *)"ehlo x\r\n", 8, SIFT_DIR_C2S), 1);
    assert_int_equal(sift_smtp_probe((const uint8_t *)"HELO x", 6, SIFT_DIR_C2S), 1);
    assert_int_equal(sift_smtp_probe((const uint8_t *)"LHLO x", 6, SIFT_DIR_C2S), 1);
    assert_int_equal(sift_smtp_probe((const uint8_t *)"EHL", 3, SIFT_DIR_C2S), -1);
    assert_int_equal(sift_smtp_probe((const uint8_t *)"GET / HTTP/1.1", 14, SIFT_DIR_C2S), 0);
    assert_int_equal(sift_smtp_probe((const uint8_t *)"220 ", 4, SIFT_DIR_C2S), 0);
}

static void test_disposition_names(void **state)
{
    (void)state;
    assert_string_equal(sift_smtp_disposition_name(SIFT_SMTP_ACCEPTED), "accepted");
    assert_string_equal(sift_smtp_disposition_name(SIFT_SMTP_REJECTED), "rejected");
    assert_string_equal(sift_smtp_disposition_name(SIFT_SMTP_ABORTED), "aborted");
    assert_string_equal(sift_smtp_disposition_name(SIFT_SMTP_INCOMPLETE), "incomplete");
}

static void test_b64decode(void **state)
{
    (void)state;
    uint8_t out[64];
    assert_int_equal(sift_smtp_b64decode("", 0, out, sizeof out), 0);
    assert_int_equal(sift_smtp_b64decode("Zg==", 4, out, sizeof out), 1);
    assert_memory_equal(out, "f", 1);
    assert_int_equal(sift_smtp_b64decode("Zm8=", 4, out, sizeof out), 2);
    assert_int_equal(sift_smtp_b64decode("Zm9vYmFy", 8, out, sizeof out), 6);
    assert_memory_equal(out, "foobar", 6);
    assert_int_equal(sift_smtp_b64decode("Zm9vYg", 6, out, sizeof out), 4);   /* unpadded */
    assert_memory_equal(out, "foob", 4);
    assert_int_equal(sift_smtp_b64decode("AGFsaWNlAHB3", 12, out, sizeof out), 9);
    assert_memory_equal(out, "\0alice\0pw", 9);
    assert_int_equal(sift_smtp_b64decode("+/+/", 4, out, sizeof out), 3);
    assert_memory_equal(out, "\xfb\xff\xbf", 3);
    /* not base64: bad byte, data after padding, a lone sixth, too much padding */
    assert_int_equal(sift_smtp_b64decode("Zm9v!", 5, out, sizeof out), -1);
    assert_int_equal(sift_smtp_b64decode("Zg==Zg==", 8, out, sizeof out), -1);
    assert_int_equal(sift_smtp_b64decode("Z", 1, out, sizeof out), -1);
    assert_int_equal(sift_smtp_b64decode("Zg===", 5, out, sizeof out), -1);
    assert_int_equal(sift_smtp_b64decode("Zm9v YmFy", 9, out, sizeof out), -1);
    /* the output bound is respected */
    assert_int_equal(sift_smtp_b64decode("Zm9vYmFy", 8, out, 5), -1);
    assert_int_equal(sift_smtp_b64decode("Zm9vYmFy", 8, out, 6), 6);
}

/* A TLS 1.2-style ClientHello with SNI "a.example" and supported_versions
 * {GREASE, 0x0304, 0x0303}; every prefix must give "need more", never a crash. */
static void test_tls_client_hello(void **state)
{
    (void)state;
    static const uint8_t body[] = {
        0x03, 0x03,                                     /* legacy_version TLS 1.2 */
        1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,
        0x00,                                           /* session id */
        0x00, 0x02, 0x13, 0x01,                         /* cipher suites */
        0x01, 0x00,                                     /* compression */
        0x00, 0x1d,                                     /* extensions: 29 bytes */
        0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00, 0x09,
        'a', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e',    /* server_name */
        0x00, 0x2b, 0x00, 0x07, 0x06, 0x3a, 0x3a, 0x03, 0x04, 0x03, 0x03, /* supported_versions */
    };
    uint8_t rec[5 + 4 + sizeof body];
    size_t hl = 4 + sizeof body;
    rec[0] = 0x16; rec[1] = 0x03; rec[2] = 0x01; rec[3] = (uint8_t)(hl >> 8); rec[4] = (uint8_t)hl;
    rec[5] = 0x01; rec[6] = 0; rec[7] = 0; rec[8] = (uint8_t)sizeof body;
    memcpy(rec + 9, body, sizeof body);
    char *ver, *sni;
    assert_int_equal(sift_smtp_tls_client_hello(rec, sizeof rec, &ver, &sni), 1);
    assert_string_equal(ver, "TLS 1.3");
    assert_string_equal(sni, "a.example");
    free(ver);
    free(sni);
    for (size_t n = 0; n < sizeof rec; n++) {
        assert_int_equal(sift_smtp_tls_client_hello(rec, n, &ver, &sni), 0);
        assert_null(ver);
        assert_null(sni);
    }
    /* supported_versions without 1.3: legacy version counts */
    uint8_t v12[sizeof rec];
    memcpy(v12, rec, sizeof rec);
    v12[sizeof rec - 4] = 0x03; v12[sizeof rec - 3] = 0x02;   /* 0x0304 -> 0x0302 */
    assert_int_equal(sift_smtp_tls_client_hello(v12, sizeof v12, &ver, &sni), 1);
    assert_string_equal(ver, "TLS 1.2");
    free(ver);
    free(sni);
    /* an extension length running past the handshake is malformed */
    uint8_t bad[sizeof rec];
    memcpy(bad, rec, sizeof rec);
    bad[9 + 41] = 0x00; bad[9 + 42] = 0x40;                   /* extensions: 64 bytes */
    assert_int_equal(sift_smtp_tls_client_hello(bad, sizeof bad, &ver, &sni), -1);
    assert_null(ver);
    assert_null(sni);
    /* not a handshake record / not a ClientHello */
    assert_int_equal(sift_smtp_tls_client_hello((const uint8_t *)"EHLO x\r\n", 8, &ver, &sni), -1);
    memcpy(bad, rec, sizeof rec);
    bad[5] = 0x02;                                            /* ServerHello */
    assert_int_equal(sift_smtp_tls_client_hello(bad, sizeof bad, &ver, &sni), -1);
    /* random bytes after a valid record header: never a crash */
    uint32_t seed = 99;
    for (int round = 0; round < 2000; round++) {
        memcpy(bad, rec, 9);
        for (size_t i = 9; i < sizeof bad; i++) {
            seed = seed * 1103515245u + 12345u;
            bad[i] = (uint8_t)(seed >> 16);
        }
        if (sift_smtp_tls_client_hello(bad, sizeof bad, &ver, &sni) == 1) {
            free(ver);
            free(sni);
        }
    }
}

/* AUTH attempts carry the AUTH command's packet; a session of AUTH PLAIN lines
 * mixed with random garbage never crashes. */
static struct sift_pktref auth_pkt;
static void grab_auth(void *user, const struct sift_smtp_auth *a)
{
    (void)user;
    auth_pkt = a->pkt;
}

static void test_auth_packet_and_garbage(void **state)
{
    (void)state;
    struct sift_smtp_sink sink = { .on_auth = grab_auth };
    struct sift_smtp *s = sift_smtp_new(&sink, NULL);
    feeds(s, SIFT_DIR_S2C, "220 mx\r\n", 1);
    feeds(s, SIFT_DIR_C2S, "AUTH LOGIN\r\n", 2);
    feeds(s, SIFT_DIR_S2C, "334 VXNlcm5hbWU6\r\n", 3);
    feeds(s, SIFT_DIR_C2S, "dXNlcg==\r\n", 4);
    feeds(s, SIFT_DIR_S2C, "535 no\r\n", 5);
    assert_int_equal(auth_pkt.frame_no, 2);
    assert_int_equal(sift_smtp_session_info(s)->n_auth_failed, 1);
    sift_smtp_close(s, NULL);
    sift_smtp_free(s);
    static const char *const mechs[] = { "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "NTLM",
                                         "OAUTHBEARER", "SCRAM-SHA-256", "DIGEST-MD5" };
    uint32_t seed = 5;
    for (int round = 0; round < 400; round++) {
        s = sift_smtp_new(&sink, NULL);
        feeds(s, SIFT_DIR_S2C, "220 mx\r\n", 1);
        char line[200];
        snprintf(line, sizeof line, "AUTH %s\r\n", mechs[round % 8]);
        feeds(s, SIFT_DIR_C2S, line, 2);
        for (int k = 0; k < 3; k++) {
            feeds(s, SIFT_DIR_S2C, "334 \r\n", 3);
            size_t n = 0;
            seed = seed * 1103515245u + 12345u;
            size_t len = (seed >> 16) % 120;
            static const char b64c[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            for (; n < len; n++) {
                seed = seed * 1103515245u + 12345u;
                line[n] = b64c[(seed >> 16) % 64];
            }
            if (round % 3 == 0) memcpy(line, "TlRMTVNTUAAD", n >= 12 ? 12 : 0);   /* "NTLMSSP\0\3" */
            memcpy(line + n, "\r\n", 3);
            feeds(s, SIFT_DIR_C2S, line, 4);
        }
        feeds(s, SIFT_DIR_S2C, "535 no\r\n", 5);
        sift_smtp_close(s, NULL);
        sift_smtp_free(s);
    }
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_packet_refs),
        cmocka_unit_test(test_txn_packet_refs_and_content),
        cmocka_unit_test(test_overlong_line_5mb),
        cmocka_unit_test(test_overlong_line_stored_bounded),
        cmocka_unit_test(test_many_recipients),
        cmocka_unit_test(test_max_pending),
        cmocka_unit_test(test_message_bound),
        cmocka_unit_test(test_bdat_huge_size_not_preallocated),
        cmocka_unit_test(test_gap_in_content),
        cmocka_unit_test(test_gap_then_354),
        cmocka_unit_test(test_close_partial_reply_and_command),
        cmocka_unit_test(test_feed_after_close_and_null_sink),
        cmocka_unit_test(test_random_splits),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_disposition_names),
        cmocka_unit_test(test_b64decode),
        cmocka_unit_test(test_tls_client_hello),
        cmocka_unit_test(test_auth_packet_and_garbage),
    };
    /* One test case per fixture file, named after it. */
    char dirpath[1024];
    snprintf(dirpath, sizeof dirpath, "%s/smtp", SIFT_FIXTURES);
    DIR *dir = opendir(dirpath);
    char **names = NULL;
    size_t n_names = 0;
    if (dir) {
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            size_t l = strlen(de->d_name);
            if (l > 4 && strcmp(de->d_name + l - 4, ".txt") == 0) {
                names = realloc(names, (n_names + 1) * sizeof *names);
                names[n_names++] = strndup(de->d_name, l - 4);
            }
        }
        closedir(dir);
    }
    qsort(names, n_names, sizeof *names, cmpstr);
    size_t n_fixed = sizeof fixed / sizeof fixed[0];
    struct CMUnitTest *tests = calloc(n_fixed + n_names, sizeof *tests);
    memcpy(tests, fixed, sizeof fixed);
    for (size_t i = 0; i < n_names; i++) {
        tests[n_fixed + i].name = names[i];
        tests[n_fixed + i].test_func = test_fixture;
        tests[n_fixed + i].initial_state = names[i];
    }
    int rc = _cmocka_run_group_tests("smtp", tests, n_fixed + n_names, NULL, NULL);
    for (size_t i = 0; i < n_names; i++) free(names[i]);
    free(names);
    free(tests);
    if (n_names < 25) {
        fprintf(stderr, "expected at least 25 fixtures in %s, found %zu\n", dirpath, n_names);
        return rc + 1;
    }
    return rc;
}
