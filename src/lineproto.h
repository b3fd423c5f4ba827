/* lineproto.h — line assembler shared by text protocols (SMTP now; POP3, IMAP,
 * LMTP later). Splits a byte stream into lines ending in CRLF, bare LF or (at
 * a flush) nothing; records how each line ended; bounds the buffered line. */
#ifndef SIFT_LINEPROTO_H
#define SIFT_LINEPROTO_H

#include "sift.h"

enum sift_eol {
    SIFT_EOL_CRLF = 0,   /* "\r\n" */
    SIFT_EOL_LF,         /* bare "\n" */
    SIFT_EOL_NONE        /* line cut: end of stream, or the length bound was hit */
};

struct sift_line {
    const uint8_t *data;   /* line bytes without the terminator; borrowed */
    size_t len;            /* bytes kept (at most max_line) */
    uint64_t full_len;     /* bytes the line really had (> len when overlong) */
    enum sift_eol eol;
    int overlong;          /* 1 if bytes were dropped because of max_line */
};

struct sift_linebuf {
    struct sift_buf buf;
    size_t max_line;       /* bytes kept per line; the rest is counted, not stored */
    uint64_t dropped;      /* bytes dropped from the current line */
    int last_cr;           /* last byte taken for the current line was CR (even if dropped) */
};

void sift_linebuf_init(struct sift_linebuf *lb, size_t max_line);
void sift_linebuf_free(struct sift_linebuf *lb);

/* Take bytes from data[0..len). If a complete line is found, fill *line and
 * return how many bytes were consumed (the line is borrowed until the next call);
 * otherwise buffer everything and return len with line->data == NULL.
 * Callers loop: while (len) { n = take(...); data += n; len -= n; if (line.data) use; } */
size_t sift_linebuf_take(struct sift_linebuf *lb, const uint8_t *data, size_t len,
                         struct sift_line *line);

/* Return the buffered partial line (eol = SIFT_EOL_NONE) if any; 0 if empty. */
int sift_linebuf_flush(struct sift_linebuf *lb, struct sift_line *line);

/* 1 if something is buffered. */
int sift_linebuf_pending(const struct sift_linebuf *lb);

#endif
