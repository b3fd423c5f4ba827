/* util.c — allocation helpers that abort on out-of-memory, the growable byte
 * buffer, small string helpers shared by all modules, and the owner-only
 * temporary files that large messages are spooled to. No libraries. */
#include "sift.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "smtpsift: out of memory (allocating %zu bytes)\n", n);
    abort();
}

void *sift_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *sift_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *sift_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *sift_xstrdup(const char *s)
{
    return sift_xmemdup(s, strlen(s));
}

char *sift_xstrndup(const char *s, size_t n)
{
    size_t len = 0;
    while (len < n && s[len]) len++;
    return sift_xmemdup(s, len);
}

void *sift_xmemdup(const void *p, size_t n)
{
    char *q = sift_xmalloc(n + 1);
    if (n) memcpy(q, p, n);
    q[n] = '\0';
    return q;
}

static void buf_reserve(struct sift_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;      /* +1 keeps room for the NUL */
    if (need < b->len) oom(SIZE_MAX);      /* overflow */
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) { cap = need; break; }
        cap *= 2;
    }
    b->data = sift_xrealloc(b->data, cap);
    b->cap = cap;
}

void sift_buf_append(struct sift_buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sift_buf_putc(struct sift_buf *b, uint8_t c)
{
    buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void sift_buf_reset(struct sift_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void sift_buf_free(struct sift_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

uint8_t *sift_buf_steal(struct sift_buf *b, size_t *len_out)
{
    uint8_t *d = b->data;
    if (!d) d = sift_xcalloc(1, 1);
    if (len_out) *len_out = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

int sift_strcaseprefix(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (tolower((unsigned char)*s) != tolower((unsigned char)*prefix)) return 0;
    return 1;
}

void sift_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

const char *sift_severity_name(enum sift_severity s)
{
    switch (s) {
    case SIFT_SEV_INFO: return "info";
    case SIFT_SEV_LOW: return "low";
    case SIFT_SEV_MEDIUM: return "medium";
    case SIFT_SEV_HIGH: return "high";
    }
    return "info";
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
    if (cp >= 0xd800 && cp <= 0xdfff) return 0;
    return len;
}

int sift_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        size_t l = utf8_seq(s + i, n - i);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

char *sift_utf8_fix(const uint8_t *s, size_t n, size_t *out_len)
{
    struct sift_buf b = {0};
    size_t i = 0;
    while (i < n) {
        size_t l = utf8_seq(s + i, n - i);
        if (l) {
            sift_buf_append(&b, s + i, l);
            i += l;
        } else {
            sift_buf_append(&b, "\xef\xbf\xbd", 3);
            i++;
        }
    }
    size_t len;
    char *out = (char *)sift_buf_steal(&b, &len);
    if (out_len) *out_len = len;
    return out;
}

int sift_tmpfile(const char *dir)
{
    if (!dir || !*dir) dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
#ifdef O_TMPFILE
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
#endif
    size_t n = strlen(dir) + 32;
    char *path = sift_xmalloc(n);
    snprintf(path, n, "%s/smtpsift-spool-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);   /* 0600 */
    if (fd >= 0) unlink(path);
    free(path);
    return fd;
}

int sift_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int sift_pread_all(int fd, void *p, size_t n, uint64_t off)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = pread(fd, b, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) { errno = EIO; return -1; }
        b += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}
