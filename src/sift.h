/* sift.h — types shared by every smtpsift module: status codes, severities,
 * packet references (provenance), a growable byte buffer and allocation
 * helpers that abort on out-of-memory. No third-party library is included here. */
#ifndef SIFT_H
#define SIFT_H

#include <stddef.h>
#include <stdint.h>

#define SIFT_VERSION "0.1.0"

enum sift_status {
    SIFT_OK = 0,
    SIFT_ERR_IO,          /* a file could not be opened or read */
    SIFT_ERR_FORMAT,      /* input is not what it claims (not a capture, truncated) */
    SIFT_ERR_DB,          /* SQLite reported an error */
    SIFT_ERR_USAGE,       /* caller passed something invalid */
    SIFT_ERR_INTERRUPTED  /* SIGINT/SIGTERM asked us to stop */
};

enum sift_severity { SIFT_SEV_INFO = 0, SIFT_SEV_LOW, SIFT_SEV_MEDIUM, SIFT_SEV_HIGH };
const char *sift_severity_name(enum sift_severity s);   /* "info", "low", ... */

/* Direction of bytes inside a TCP connection. The client is the side that
 * opened the connection (sent the SYN). */
enum sift_dir { SIFT_DIR_C2S = 0, SIFT_DIR_S2C = 1 };

/* Where something was seen in the capture: which input file (0-based index in
 * the order given on the command line), which frame in that file (1-based, as
 * Wireshark numbers them) and the packet's own timestamp in microseconds since
 * the Unix epoch. Never the wall clock. */
struct sift_pktref {
    uint32_t file_idx;
    uint64_t frame_no;
    int64_t  ts_us;
};

/* Finding sink used by all parsers: rule is a stable lower_snake name
 * (borrowed, usually a literal), detail is evidence text (borrowed for the
 * call), where may be NULL. */
typedef void (*sift_finding_fn)(void *user, const char *rule, enum sift_severity sev,
                                const char *detail, const struct sift_pktref *where);

/* Growable byte buffer. len bytes of data are valid; data is always
 * NUL-terminated one past len (so text can be used as a C string) once
 * anything was appended. Zero-initialise to start empty. */
struct sift_buf {
    uint8_t *data;
    size_t   len;
    size_t   cap;
};
void sift_buf_append(struct sift_buf *b, const void *p, size_t n);
void sift_buf_putc(struct sift_buf *b, uint8_t c);
void sift_buf_reset(struct sift_buf *b);      /* len = 0, keeps memory */
void sift_buf_free(struct sift_buf *b);       /* releases memory, back to empty */
/* Detach the bytes: returns data (caller frees with free()), buffer becomes empty. */
uint8_t *sift_buf_steal(struct sift_buf *b, size_t *len_out);

/* Allocation: these never return NULL; out of memory aborts (as Redis does). */
void *sift_xmalloc(size_t n);
void *sift_xcalloc(size_t n, size_t size);
void *sift_xrealloc(void *p, size_t n);
char *sift_xstrdup(const char *s);
char *sift_xstrndup(const char *s, size_t n);
void *sift_xmemdup(const void *p, size_t n);   /* copies n bytes, adds a NUL after them */

/* Small string helpers. */
int  sift_strcaseprefix(const char *s, const char *prefix);   /* 1 if s starts with prefix, ASCII case-insensitive */
void sift_hex(const uint8_t *in, size_t n, char *out);         /* out gets 2n hex chars + NUL */

/* UTF-8: 1 if the n bytes are valid UTF-8 (no overlongs, no surrogates). */
int sift_utf8_valid(const uint8_t *s, size_t n);
/* Copy of the n bytes with each invalid sequence replaced by U+FFFD; NUL-terminated,
 * caller frees. *out_len (may be NULL) gets the length. */
char *sift_utf8_fix(const uint8_t *s, size_t n, size_t *out_len);

/* Temporary files for bytes too large to keep in memory (a spooled message):
 * created owner-only (0600) in dir (NULL: $TMPDIR, else /tmp) and already
 * unlinked, so they vanish on every exit path, SIGKILL included. Returns the
 * descriptor or -1 (errno set). */
int sift_tmpfile(const char *dir);
/* Whole writes and reads at an offset: 0 on success, -1 (errno) on failure or EOF. */
int sift_write_all(int fd, const void *p, size_t n);
int sift_pread_all(int fd, void *p, size_t n, uint64_t off);

#define SIFT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
