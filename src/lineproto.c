/* lineproto.c — bounded line assembler for text protocols (RFC 5321 §2.3.8 lines).
 * Splits on LF, strips one CR before it (CRLF) and reports bare LF; a CR not
 * followed by LF stays inside the line for the caller to flag. It does NOT
 * interpret the lines, and never stores more than max_line bytes of one line. */
#include "lineproto.h"

#include <string.h>

void sift_linebuf_init(struct sift_linebuf *lb, size_t max_line)
{
    memset(lb, 0, sizeof *lb);
    lb->max_line = max_line;
}

void sift_linebuf_free(struct sift_linebuf *lb)
{
    sift_buf_free(&lb->buf);
    lb->dropped = 0;
    lb->last_cr = 0;
}

/* Append n bytes of the current line: keep what fits under max_line, count the
 * rest in dropped. Remembers whether the last byte was CR. */
static void keep_bounded(struct sift_linebuf *lb, const uint8_t *p, size_t n)
{
    if (n == 0) return;
    size_t room = lb->buf.len < lb->max_line ? lb->max_line - lb->buf.len : 0;
    size_t keep = n < room ? n : room;
    if (keep) sift_buf_append(&lb->buf, p, keep);
    lb->dropped += n - keep;
    lb->last_cr = p[n - 1] == '\r';
}

/* Forget the current line. The bytes stay in memory (len = 0 only), so a line
 * handed out from the buffer stays readable until the next call. */
static void start_new_line(struct sift_linebuf *lb)
{
    lb->buf.len = 0;
    lb->dropped = 0;
    lb->last_cr = 0;
}

size_t sift_linebuf_take(struct sift_linebuf *lb, const uint8_t *data, size_t len,
                         struct sift_line *line)
{
    memset(line, 0, sizeof *line);
    if (len == 0) return 0;
    const uint8_t *nl = memchr(data, '\n', len);
    size_t n = nl ? (size_t)(nl - data) : len;   /* line bytes in this chunk, before LF */

    if (nl && lb->buf.len == 0 && lb->dropped == 0 && !lb->last_cr) {
        /* Fast path: the whole line is inside data, point into it. */
        size_t content = n;
        int cr = content > 0 && data[content - 1] == '\r';
        if (cr) content--;
        line->data = data;
        line->full_len = content;
        line->len = content < lb->max_line ? content : lb->max_line;
        line->overlong = content > lb->max_line;
        line->eol = cr ? SIFT_EOL_CRLF : SIFT_EOL_LF;
        return n + 1;
    }

    keep_bounded(lb, data, n);
    if (!nl) return len;

    int cr = lb->last_cr;
    if (cr) {
        /* The CR is the last byte of the line: dropped if anything was dropped,
         * otherwise the last stored byte. */
        if (lb->dropped) lb->dropped--;
        else lb->buf.len--;
    }
    line->data = lb->buf.data ? lb->buf.data : (const uint8_t *)"";
    line->len = lb->buf.len;
    line->full_len = (uint64_t)lb->buf.len + lb->dropped;
    line->overlong = lb->dropped > 0;
    line->eol = cr ? SIFT_EOL_CRLF : SIFT_EOL_LF;
    start_new_line(lb);
    return n + 1;
}

int sift_linebuf_flush(struct sift_linebuf *lb, struct sift_line *line)
{
    memset(line, 0, sizeof *line);
    if (!sift_linebuf_pending(lb)) return 0;
    line->data = lb->buf.data ? lb->buf.data : (const uint8_t *)"";
    line->len = lb->buf.len;
    line->full_len = (uint64_t)lb->buf.len + lb->dropped;
    line->overlong = lb->dropped > 0;
    line->eol = SIFT_EOL_NONE;
    start_new_line(lb);
    return 1;
}

int sift_linebuf_pending(const struct sift_linebuf *lb)
{
    return lb->buf.len > 0 || lb->dropped > 0;
}
