/* fuzz_smtp.c — libFuzzer target for the SMTP state machine (dissectors/smtp.c,
 * RFC 5321/2920/3030). The input is a script of records [h][n][n bytes]: bit 0
 * of h is the direction, h >= 0xFE makes the record a gap of n*37 bytes instead
 * of data; so both directions, any split and capture loss are exercised. The
 * first byte picks default or tiny limits. It checks memory safety only. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

static volatile size_t sink_bytes;   /* keeps the reads below from being optimised away */

static void touch(const char *s)
{
    if (s) sink_bytes += strlen(s);
}

static void on_command(void *user, const struct sift_smtp_cmd *c)
{
    (void)user;
    touch(c->verb);
    touch(c->args);
    touch(c->enhanced);
    touch(c->reply_text);
    for (size_t i = 0; i < c->line_len; i++) sink_bytes += c->line[i];
}

static void on_txn(void *user, struct sift_smtp_txn *t)
{
    (void)user;
    touch(t->mail_from);
    touch(t->mail_from_raw);
    touch(t->mail_params);
    touch(t->mail_reply_text);
    for (size_t i = 0; i < t->n_rcpts; i++) {
        touch(t->rcpts[i].address);
        touch(t->rcpts[i].raw);
        touch(t->rcpts[i].params);
        touch(t->rcpts[i].reply_text);
    }
    for (size_t i = 0; i < t->content.len; i++) sink_bytes += t->content.data[i];
    if (t->spooled) {   /* read a spooled message back */
        uint8_t back[512];
        size_t n = t->spool_len < sizeof back ? (size_t)t->spool_len : sizeof back;
        if (sift_pread_all(t->spool_fd, back, n, 0) == 0)
            for (size_t i = 0; i < n; i++) sink_bytes += back[i];
    }
    touch(t->terminator);
    touch(t->data_reply_text);
    touch(t->queue_id);
    touch(sift_smtp_disposition_name(t->disposition));
    sift_smtp_txn_free(t);
}

static void on_finding(void *user, const char *rule, enum sift_severity sev,
                       const char *detail, const struct sift_pktref *where)
{
    (void)user; (void)sev; (void)where;
    touch(rule);
    touch(detail);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const struct sift_smtp_limits tiny = { .max_line = 64, .max_pending = 4, .max_rcpts = 3,
                                                  .max_message = 256, .max_reply_lines = 3,
                                                  .spill_above = 100,     /* spooled past 100 bytes */
                                                  .mem_budget = 1 };      /* always over budget */
    struct sift_smtp_sink sink = { .on_command = on_command, .on_txn = on_txn, .on_finding = on_finding };
    struct sift_smtp *s = sift_smtp_new(&sink, (data[0] & 1) ? &tiny : NULL);
    struct sift_pktref pkt = { 0, 0, 0 };
    size_t i = 1;
    while (i + 2 <= size) {
        uint8_t h = data[i], n = data[i + 1];
        enum sift_dir dir = (h & 1) ? SIFT_DIR_S2C : SIFT_DIR_C2S;
        i += 2;
        pkt.frame_no++;
        pkt.ts_us += 1000;
        if (h >= 0xFE) {
            sift_smtp_gap(s, dir, (uint64_t)n * 37, &pkt);
            continue;
        }
        size_t len = n < size - i ? n : size - i;
        /* probe on the first bytes of each side too, as the registry would */
        (void)sift_smtp_probe(data + i, len, dir);
        if (dir == SIFT_DIR_C2S) (void)sift_smtp_probe_verb(data + i, len);
        sift_smtp_feed(s, dir, data + i, len, &pkt);
        i += len;
    }
    const struct sift_smtp_session *si = sift_smtp_session_info(s);
    touch(si->banner);
    touch(si->helo_name);
    for (size_t k = 0; k < si->n_extensions; k++) touch(si->extensions[k]);
    pkt.frame_no++;
    sift_smtp_close(s, &pkt);
    sift_smtp_free(s);
    /* every byte counted while a message was received is uncounted by now */
    if (sift_smtp_assembling_bytes() != 0) abort();
    return 0;
}
