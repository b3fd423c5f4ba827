/* mime.c — message decoding with GMime 3.2 (RFC 5322, 2045-2049, 2047, 2231):
 * headers, addresses, trace/authentication headers, MIME parts with streamed
 * MD5/SHA-1/SHA-256 and libmagic type, text bodies as UTF-8, URLs, optional
 * attachment extraction, classic uuencoded blocks inside text/plain bodies as
 * extra parts. Works around gmime#133 (RFC 2047), #150 (base64 with
 * inner padding), #165 (never touch parsed objects). Does NOT keep decoded
 * attachment bytes in memory (they stream to hashes and, if asked, a file). */
#include "mime.h"

#include "filetype.h"
#include "hash.h"
#include "html.h"
#include "outfile.h"

#include <errno.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#define MIME_TEXT_CAP      (1u << 20)   /* bytes of text kept per text part */
#define MIME_MAX_PARTS     10000        /* parts walked per message */
#define MIME_MAX_WARNINGS  200          /* parser-warning findings per message */
#define MIME_DETAIL_ITEM   200          /* bytes of an attacker string quoted in a finding */
#define MIME_MAX_RECEIVED  100
#define MIME_MAX_AUTH      200
#define MIME_MAX_DKIM      100
#define MIME_MAX_URLS      5000

static const char utf8_replacement[] = "\xEF\xBF\xBD";   /* U+FFFD */

/* ---- per-parse context ------------------------------------------------- */

struct mime_ctx {
    sift_finding_fn finding;
    void *user;
    GMimeParserOptions *opts;
    GMimeParserOptions *quiet;    /* same without the warning callback */
    size_t n_warnings;
    const uint8_t *data;          /* the input, borrowed for the parse */
    size_t len;
    GMimeMessage *top;
    uint64_t msg_hash_budget;     /* bytes left for hashing embedded messages */
    struct sift_mime_summary *sum;
    size_t cap_headers, cap_addresses, cap_parts;
    int said_hash_skipped, said_unknown_charset;   /* once per message: bounded findings */
    int extract_dirfd;            /* -1: no extraction */
    size_t n_uu;                  /* uuencoded blocks begun in this message */
    int said_uu_cap;
    size_t cap_urls;
};

static void ctx_finding(struct mime_ctx *c, const char *rule, enum sift_severity sev,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void ctx_finding(struct mime_ctx *c, const char *rule, enum sift_severity sev,
                        const char *fmt, ...)
{
    if (!c->finding) return;
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    c->finding(c->user, rule, sev, detail, NULL);
}

/* A quotable copy of an attacker-controlled string: valid UTF-8, at most
 * MIME_DETAIL_ITEM bytes (cut on a character boundary). g_free the result. */
static char *detail_item(const char *s)
{
    if (!s) return g_strdup("");
    size_t n = strlen(s);
    if (n > MIME_DETAIL_ITEM) n = MIME_DETAIL_ITEM;
    while (n && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' ')) n--;
    char *v = g_utf8_make_valid(s, (gssize)n);
    size_t m = strlen(v);
    if (m > MIME_DETAIL_ITEM) {
        const char *end = v + MIME_DETAIL_ITEM;
        while (end > v && ((unsigned char)*end & 0xC0) == 0x80) end--;
        v[end - v] = '\0';
    }
    return v;
}

/* ---- parser warnings -> findings ---------------------------------------- */

static const char *warning_rule(GMimeParserWarning code, enum sift_severity *sev)
{
    *sev = SIFT_SEV_LOW;
    switch (code) {
    case GMIME_WARN_DUPLICATED_HEADER:            return "mime_duplicated_header";
    case GMIME_WARN_DUPLICATED_PARAMETER:         return "mime_duplicated_parameter";
    case GMIME_WARN_UNENCODED_8BIT_HEADER:        return "mime_8bit_header";
    case GMIME_WARN_INVALID_CONTENT_TYPE:         return "mime_invalid_content_type";
    case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE: return "mime_invalid_rfc2047";
    case GMIME_WARN_MALFORMED_MULTIPART:          return "mime_malformed_multipart";
    case GMIME_WARN_TRUNCATED_MESSAGE:            return "mime_truncated";
    case GMIME_WARN_MALFORMED_MESSAGE:            return "mime_malformed_message";
    case GMIME_WARN_INVALID_PARAMETER:            return "mime_invalid_parameter";
    case GMIME_WARN_INVALID_ADDRESS_LIST:         return "mime_invalid_address";
    case GMIME_WARN_PART_WITHOUT_CONTENT:         return "mime_part_without_content";
    case GMIME_CRIT_INVALID_HEADER_NAME:          *sev = SIFT_SEV_MEDIUM; return "mime_invalid_header";
    case GMIME_CRIT_CONFLICTING_HEADER:           *sev = SIFT_SEV_MEDIUM; return "mime_conflicting_header";
    case GMIME_CRIT_CONFLICTING_PARAMETER:        *sev = SIFT_SEV_MEDIUM; return "mime_conflicting_parameter";
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:   *sev = SIFT_SEV_MEDIUM; return "mime_multipart_without_boundary";
    case GMIME_CRIT_NESTING_OVERFLOW:             *sev = SIFT_SEV_HIGH;   return "mime_nesting_overflow";
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
                                                  *sev = SIFT_SEV_MEDIUM; return "mime_part_without_headers";
    }
    return "mime_parser_warning";
}

/* GMime calls this during parsing and during lazy address parsing. */
static void on_gmime_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
                             gpointer user)
{
    struct mime_ctx *c = user;
    c->n_warnings++;
    if (c->n_warnings > MIME_MAX_WARNINGS) {
        if (c->n_warnings == MIME_MAX_WARNINGS + 1)
            ctx_finding(c, "mime_too_many_warnings", SIFT_SEV_MEDIUM,
                        "more than %d GMime parser warnings; further ones not reported",
                        MIME_MAX_WARNINGS);
        return;
    }
    enum sift_severity sev;
    const char *rule = warning_rule(code, &sev);
    char *it = detail_item(item);
    if (offset >= 0)
        ctx_finding(c, rule, sev, "offset %lld: %s", (long long)offset, it);
    else
        ctx_finding(c, rule, sev, "%s", it);
    g_free(it);
}

/* ---- charset conversion ------------------------------------------------- */

static int label_is(const char *label, const char *const *names)
{
    for (; *names; names++)
        if (!g_ascii_strcasecmp(label, *names)) return 1;
    return 0;
}

static const char *const ascii_labels[] = { "us-ascii", "ascii", "ansi_x3.4-1968", "us", NULL };
static const char *const utf8_labels[]  = { "utf-8", "utf8", NULL };
/* As WHATWG does: mail labelled latin-1 is in practice windows-1252 (0x80-0x9F). */
static const char *const latin1_labels[] = { "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1",
                                             "latin-1", "l1", "cp819", "ibm819", NULL };

/* Appends p[0..n) to b as UTF-8 decoded from charset cs with iconv; every
 * byte iconv rejects becomes U+FFFD (nothing is dropped silently).
 * Returns 0 if iconv does not know cs (b unchanged). */
static int iconv_to_utf8(const char *cs, const char *p, size_t n, struct sift_buf *b)
{
    iconv_t cd = g_mime_iconv_open("UTF-8", cs);
    if (cd == (iconv_t)-1) return 0;
    iconv(cd, NULL, NULL, NULL, NULL);          /* descriptors are cached: reset state */
    char *in = (char *)p;
    size_t inleft = n;
    char out[4096];
    while (inleft) {
        char *op = out;
        size_t oleft = sizeof out;
        size_t r = iconv(cd, &in, &inleft, &op, &oleft);
        int err = (r == (size_t)-1) ? errno : 0;
        sift_buf_append(b, out, (size_t)(op - out));
        if (!err || err == E2BIG) continue;
        if (err == EILSEQ) {                    /* invalid byte: U+FFFD, skip it */
            sift_buf_append(b, utf8_replacement, 3);
            in++; inleft--;
            continue;
        }
        if (err == EINVAL) sift_buf_append(b, utf8_replacement, 3);   /* cut sequence at the end */
        break;
    }
    for (;;) {                                  /* flush any shift state */
        char *op = out;
        size_t oleft = sizeof out;
        size_t r = iconv(cd, NULL, NULL, &op, &oleft);
        sift_buf_append(b, out, (size_t)(op - out));
        if (r == (size_t)-1 && errno == E2BIG) continue;
        break;
    }
    g_mime_iconv_close(cd);
    return 1;
}

/* Converts n decoded bytes to valid UTF-8 (NOTES-libs S3). label is the
 * declared charset (may be NULL). Unlabelled or US-ASCII text is UTF-8 if it
 * validates, else windows-1252; an unknown label falls back the same way and
 * sets *unknown. NUL bytes become U+FFFD so the result is a C string.
 * Returns a malloc'd string. */
static char *to_utf8(const char *p, size_t n, const char *label, int *unknown)
{
    struct sift_buf b = {0};
    const char *cs = NULL;
    if (unknown) *unknown = 0;
    if (label && *label && !label_is(label, ascii_labels)) {
        if (label_is(label, utf8_labels)) cs = "UTF-8";
        else if (label_is(label, latin1_labels)) cs = "windows-1252";
        else cs = label;
    }
    if (!cs) cs = g_utf8_validate_len(p, n, NULL) ? "UTF-8" : "windows-1252";

    if (!g_ascii_strcasecmp(cs, "UTF-8")) {
        sift_buf_append(&b, p, n);
    } else if (!iconv_to_utf8(cs, p, n, &b)) {
        if (unknown) *unknown = 1;
        if (g_utf8_validate_len(p, n, NULL)) sift_buf_append(&b, p, n);
        else if (!iconv_to_utf8("windows-1252", p, n, &b)) sift_buf_append(&b, p, n);
    }
    /* NUL bytes become U+FFFD so the result is a C string of the whole text. */
    struct sift_buf o = {0};
    size_t start = 0;
    for (size_t i = 0; i < b.len; i++) {
        if (b.data[i]) continue;
        sift_buf_append(&o, b.data + start, i - start);
        sift_buf_append(&o, utf8_replacement, 3);
        start = i + 1;
    }
    sift_buf_append(&o, b.data ? b.data + start : (const uint8_t *)"", b.len - start);
    sift_buf_free(&b);
    gchar *valid = g_utf8_make_valid((const char *)o.data, (gssize)o.len);
    sift_buf_free(&o);
    char *r = sift_xstrdup(valid);
    g_free(valid);
    return r;
}

/* ---- RFC 2047: workaround for gmime#133 --------------------------------- */

struct ew {                  /* one encoded-word =?charset?e?text?= */
    const char *cs; size_t cs_len;
    char enc;                /* 'B' or 'Q' */
    const char *txt; size_t txt_len;
    size_t len;              /* whole word */
};

static int ew_parse(const char *s, struct ew *w)
{
    if (s[0] != '=' || s[1] != '?') return 0;
    size_t i = 2;
    while (s[i] && s[i] != '?' && (unsigned char)s[i] > ' ' && i < 80) i++;
    if (s[i] != '?' || i == 2) return 0;
    w->cs = s + 2; w->cs_len = i - 2;
    char e = s[i + 1];
    if (e != 'B' && e != 'b' && e != 'Q' && e != 'q') return 0;
    if (s[i + 2] != '?') return 0;
    w->enc = (char)g_ascii_toupper(e);
    size_t t = i + 3, j = t;
    while (s[j] && s[j] != '?' && (unsigned char)s[j] > ' ') j++;
    if (s[j] != '?' || s[j + 1] != '=') return 0;
    w->txt = s + t; w->txt_len = j - t;
    w->len = j + 2;
    return 1;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Decodes one word's payload on its own (fresh base64 state per word: the fix). */
static void ew_decode(const struct ew *w, struct sift_buf *out)
{
    if (w->enc == 'B') {
        guchar *tmp = sift_xmalloc(w->txt_len / 4 * 3 + 4);
        gint state = 0; guint save = 0;
        gsize m = g_base64_decode_step(w->txt, w->txt_len, tmp, &state, &save);
        sift_buf_append(out, tmp, m);
        free(tmp);
        return;
    }
    for (size_t i = 0; i < w->txt_len; i++) {
        char ch = w->txt[i];
        int hi, lo;
        if (ch == '_') sift_buf_putc(out, ' ');
        else if (ch == '=' && i + 2 < w->txt_len && (hi = hexval(w->txt[i + 1])) >= 0 &&
                 (lo = hexval(w->txt[i + 2])) >= 0) {
            sift_buf_putc(out, (uint8_t)(hi << 4 | lo));
            i += 2;
        } else sift_buf_putc(out, (uint8_t)ch);
    }
}

static void ew_charset(const struct ew *w, char *cs, size_t cap)
{
    size_t n = w->cs_len;
    const char *star = memchr(w->cs, '*', n);   /* RFC 2231 language suffix */
    if (star) n = (size_t)(star - w->cs);
    if (n >= cap) n = cap - 1;
    memcpy(cs, w->cs, n);
    cs[n] = '\0';
}

/* Decodes a run of adjacent encoded-words to UTF-8, joining the bytes of
 * consecutive same-charset words (so a character split across words
 * survives) but decoding each word separately. Appends to out. */
static void ew_run_to_utf8(const struct ew *ws, size_t n, struct sift_buf *out)
{
    size_t i = 0;
    while (i < n) {
        char cs[80], cs2[80];
        ew_charset(&ws[i], cs, sizeof cs);
        struct sift_buf bytes = {0};
        size_t j = i;
        for (; j < n; j++) {
            ew_charset(&ws[j], cs2, sizeof cs2);
            if (g_ascii_strcasecmp(cs, cs2)) break;
            ew_decode(&ws[j], &bytes);
        }
        char *u = to_utf8(bytes.len ? (const char *)bytes.data : "", bytes.len, cs, NULL);
        sift_buf_append(out, u, strlen(u));
        free(u);
        sift_buf_free(&bytes);
        i = j;
    }
}

static int is_lwsp(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

/* gmime#133: GMime drops the words after a '='-padded B-word when the next
 * word has the same charset. If s contains a run of adjacent encoded-words in
 * which a word other than the last is a padded B-word, returns a copy of s
 * (malloc'd) where each such run is replaced by a single =?UTF-8?B?...?= word
 * holding the correctly decoded text; GMime then decodes that faithfully in
 * any header (unstructured text or address phrase). Returns NULL otherwise. */
static char *rfc2047_fix_runs(const char *s)
{
    struct sift_buf out = {0};
    int fixed = 0;
    size_t n = strlen(s), i = 0;
    struct ew *ws = NULL;
    size_t cap = 0;
    while (i < n) {
        struct ew w;
        if (!ew_parse(s + i, &w)) { sift_buf_putc(&out, (uint8_t)s[i++]); continue; }
        size_t nw = 0, j = i, end = i;
        int padded_inside = 0;
        for (;;) {
            if (nw == cap) { cap = cap ? cap * 2 : 8; ws = sift_xrealloc(ws, cap * sizeof *ws); }
            ws[nw++] = w;
            end = j + w.len;
            size_t k = end;
            while (k < n && is_lwsp(s[k])) k++;
            if (k == end || !ew_parse(s + k, &w)) break;
            const struct ew *prev = &ws[nw - 1];
            if (prev->enc == 'B' && prev->txt_len && prev->txt[prev->txt_len - 1] == '=')
                padded_inside = 1;
            j = k;
        }
        if (nw >= 2 && padded_inside) {
            struct sift_buf u = {0};
            ew_run_to_utf8(ws, nw, &u);
            gchar *b64 = g_base64_encode(u.data ? u.data : (const guchar *)"", u.len);
            sift_buf_append(&out, "=?UTF-8?B?", 10);
            sift_buf_append(&out, b64, strlen(b64));
            sift_buf_append(&out, "?=", 2);
            g_free(b64);
            sift_buf_free(&u);
            fixed = 1;
        } else {
            sift_buf_append(&out, s + i, end - i);
        }
        i = end;
    }
    free(ws);
    if (!fixed) { sift_buf_free(&out); return NULL; }
    return (char *)sift_buf_steal(&out, NULL);
}

/* ---- small helpers ------------------------------------------------------ */

/* malloc'd valid-UTF-8 copy of a GMime string, or NULL for NULL. */
static char *dup_valid(const char *s)
{
    if (!s) return NULL;
    gchar *v = g_utf8_make_valid(s, -1);
    char *r = sift_xstrdup(v);
    g_free(v);
    return r;
}

static char *dup_trimmed_valid(const char *s)
{
    if (!s) return NULL;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) n--;
    gchar *v = g_utf8_make_valid(s, (gssize)n);
    char *r = sift_xstrdup(v);
    g_free(v);
    return r;
}

static char *dup_lower(const char *s)
{
    if (!s) return NULL;
    char *r = dup_trimmed_valid(s);
    for (char *p = r; *p; p++) *p = g_ascii_tolower(*p);
    return r;
}

/* ---- a GMimeStream sink: hashes, counts, keeps a bounded text prefix ---- */

struct uu_scan;
static void uu_feed(struct uu_scan *u, const char *buf, size_t len);

typedef struct {
    GMimeStream parent;
    struct sift_digests *dg;              /* MD5, SHA-1, SHA-256 (OpenSSL, via hash.c) */
    int sniff_wanted;                     /* run libmagic on the first bytes (attachments) */
    guint64 n;
    uint8_t sniff[SIFT_FILETYPE_SNIFF];   /* first bytes, for libmagic */
    size_t n_sniff;
    struct sift_outfile *out;             /* optional: extraction file */
    struct sift_buf *text;    /* optional: first text_cap bytes */
    size_t text_cap;
    int text_cut;
    struct uu_scan *uu;       /* optional: look for uuencoded blocks (text/plain) */
} SiftSink;
typedef struct { GMimeStreamClass parent_class; } SiftSinkClass;

G_DEFINE_TYPE(SiftSink, sift_sink, GMIME_TYPE_STREAM)

static ssize_t sink_write(GMimeStream *st, const char *buf, size_t len)
{
    SiftSink *s = (SiftSink *)st;
    sift_digests_update(s->dg, buf, len);
    if (s->sniff_wanted && s->n_sniff < sizeof s->sniff) {
        size_t k = sizeof s->sniff - s->n_sniff;
        if (k > len) k = len;
        memcpy(s->sniff + s->n_sniff, buf, k);
        s->n_sniff += k;
    }
    if (s->out) sift_outfile_write(s->out, buf, len);
    s->n += len;
    if (s->text) {
        size_t room = s->text_cap - s->text->len;
        if (len > room) s->text_cut = 1;
        sift_buf_append(s->text, buf, len < room ? len : room);
    }
    if (s->uu) uu_feed(s->uu, buf, len);
    return (ssize_t)len;
}
static ssize_t sink_read(GMimeStream *st, char *buf, size_t len) { (void)st; (void)buf; (void)len; return -1; }
static int sink_flush(GMimeStream *st) { (void)st; return 0; }
static int sink_close(GMimeStream *st) { (void)st; return 0; }
static gboolean sink_eos(GMimeStream *st) { (void)st; return TRUE; }
static int sink_reset(GMimeStream *st) { (void)st; return 0; }
static gint64 sink_seek(GMimeStream *st, gint64 o, GMimeSeekWhence w) { (void)st; (void)o; (void)w; return -1; }
static gint64 sink_tell(GMimeStream *st) { return (gint64)((SiftSink *)st)->n; }
static gint64 sink_length(GMimeStream *st) { (void)st; return -1; }
static GMimeStream *sink_substream(GMimeStream *st, gint64 a, gint64 b) { (void)st; (void)a; (void)b; return NULL; }

static void sift_sink_finalize(GObject *o)
{
    SiftSink *s = (SiftSink *)o;
    sift_digests_free(s->dg);
    s->dg = NULL;
    G_OBJECT_CLASS(sift_sink_parent_class)->finalize(o);
}

static void sift_sink_class_init(SiftSinkClass *k)
{
    GMimeStreamClass *sc = GMIME_STREAM_CLASS(k);
    G_OBJECT_CLASS(k)->finalize = sift_sink_finalize;
    sc->read = sink_read;   sc->write = sink_write;   sc->flush = sink_flush;
    sc->close = sink_close; sc->eos = sink_eos;       sc->reset = sink_reset;
    sc->seek = sink_seek;   sc->tell = sink_tell;     sc->length = sink_length;
    sc->substream = sink_substream;
}

static void sift_sink_init(SiftSink *s)
{
    s->dg = sift_digests_new();
    s->sniff_wanted = 1;
}

static SiftSink *sink_new(void)
{
    SiftSink *s = g_object_new(sift_sink_get_type(), NULL);
    g_mime_stream_construct(GMIME_STREAM(s), 0, -1);
    return s;
}

/* Fills the part's hashes and libmagic type from what went through the sink. */
static void sink_digest(SiftSink *s, struct sift_mime_part *p)
{
    sift_digests_final(s->dg, p->md5, p->sha1, p->sha256);
    char t[256];
    if (s->sniff_wanted && sift_filetype_mime(s->sniff, s->n_sniff, t, sizeof t) == 0 && t[0])
        p->magic_type = dup_valid(t);
}

/* ---- parts -------------------------------------------------------------- */

/* base64 alphabet value of each byte plus one; 0 for anything else ('=' included),
 * so that (uint8_t)(b64p1[c] - 1) is the value or 0xff. */
static const uint8_t b64p1[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
    ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};
#define B64RANK(c) ((uint32_t)(uint8_t)(b64p1[(c)] - 1))

/* g_base64_decode_step with a fast path giving the same bytes. While GLib's
 * state is between quads (state 0), whole quads of four alphabet characters
 * (no '=', nothing to skip inside) decode to their three bytes whatever came
 * before (GLib's save then only matters for its low 24 bits, which the next
 * quad replaces), and CR/LF between quads are skipped as GLib skips them.
 * Anything else (a quad split by a line end or by the end of a read, inner
 * '=' padding, junk characters, a quad left pending by the previous call) goes
 * to GLib one byte at a time until its state is back between quads (0; a
 * negative state is a pending '=', not 0), and then the fast path resumes.
 * GLib's decoder gives the same bytes for any split of its input, so feeding
 * it byte by byte changes nothing; every round consumes at least one byte. */
static gsize b64_decode_step(const guchar *in, gsize len, guchar *out, gint *state, guint *save)
{
    const guchar *p = in, *end = in + len;
    guchar *o = out;
    while (p < end) {
        if (*state == 0) {
            while (end - p >= 4) {
                if (*p == '\r' || *p == '\n') { p++; continue; }
                uint32_t a = B64RANK(p[0]), b = B64RANK(p[1]), c = B64RANK(p[2]), d = B64RANK(p[3]);
                if ((a | b | c | d) & 0x80) break;
                uint32_t v = a << 18 | b << 12 | c << 6 | d;
                o[0] = (guchar)(v >> 16);
                o[1] = (guchar)(v >> 8);
                o[2] = (guchar)v;
                o += 3;
                p += 4;
                *save = v;
            }
            if (p == end) break;
        }
        /* slow path: at least one byte, then on until GLib is between quads */
        do {
            o += g_base64_decode_step((const gchar *)p, 1, o, state, save);
            p++;
        } while (p < end && *state != 0);
    }
    return (gsize)(o - out);
}

/* Streams a leaf's decoded content into sink. base64 is decoded here
 * (gmime#150: GMime stops at an inner '=' pad); other encodings by GMime. */
static void decode_leaf(GMimePart *part, SiftSink *sink)
{
    GMimeDataWrapper *w = g_mime_part_get_content(part);          /* borrowed */
    if (!w) return;
    if (g_mime_data_wrapper_get_encoding(w) != GMIME_CONTENT_ENCODING_BASE64) {
        g_mime_data_wrapper_write_to_stream(w, GMIME_STREAM(sink));
        return;
    }
    GMimeStream *raw = g_mime_data_wrapper_get_stream(w);          /* encoded, borrowed */
    if (!raw) return;
    enum { IN = 64 * 1024 };
    char *in = g_malloc(IN);
    guchar *out = g_malloc(IN);   /* 4 characters give at most 3 bytes */
    gint state = 0;
    guint save = 0;
    ssize_t n;
    g_mime_stream_reset(raw);
    while ((n = g_mime_stream_read(raw, in, IN)) > 0) {
        gsize m = b64_decode_step((const guchar *)in, (gsize)n, out, &state, &save);
        if (m && g_mime_stream_write(GMIME_STREAM(sink), (const char *)out, m) < 0) break;
    }
    g_free(in);
    g_free(out);
}

/* RFC 2183 2.7: Content-Disposition may carry the size in octets. A size that
 * disagrees with the decoded one (an archive "claiming" gigabytes, a part cut
 * short) is reported; nothing is ever sized from it. */
static void check_declared_size(struct mime_ctx *c, GMimeObject *obj, const struct sift_mime_part *p)
{
    const char *v = g_mime_object_get_content_disposition_parameter(obj, "size");
    if (!v) return;
    while (*v == ' ' || *v == '\t') v++;
    size_t n = strspn(v, "0123456789");
    if (!n || n > 19 || v[n]) return;
    uint64_t declared = strtoull(v, NULL, 10);
    if (declared == p->size) return;
    ctx_finding(c, "mime_size_mismatch", SIFT_SEV_LOW,
                "part %s%s%s declares size=%llu, decodes to %llu bytes", p->path,
                p->filename ? " " : "", p->filename ? p->filename : "",
                (unsigned long long)declared, (unsigned long long)p->size);
}

static struct sift_mime_part *add_part(struct mime_ctx *c)
{
    struct sift_mime_summary *s = c->sum;
    if (s->n_parts == c->cap_parts) {
        c->cap_parts = c->cap_parts ? c->cap_parts * 2 : 8;
        s->parts = sift_xrealloc(s->parts, c->cap_parts * sizeof *s->parts);
    }
    struct sift_mime_part *p = &s->parts[s->n_parts++];
    memset(p, 0, sizeof *p);
    return p;
}

/* Our part paths, as IMAP numbers them: the children of a top-level
 * multipart are "1", "2", ...; a non-multipart top-level body is "1" (GMime's
 * iterator says "0"); the body parts of an embedded message at "2" are "2.1",
 * "2.2" (GMime agrees). When the top-level body is itself message/rfc822,
 * GMime numbers the embedded message's parts from the root ("1", "2"); we
 * prefix them with "1." so they do not collide with the message part "1". */
static char *part_path(const char *p, int top_is_message)
{
    if (top_is_message) {
        char *r = sift_xmalloc(strlen(p) + 3);
        memcpy(r, "1.", 2);
        strcpy(r + 2, p);
        return r;
    }
    if (!strcmp(p, "0") || !*p) return sift_xstrdup("1");
    return sift_xstrdup(p);
}

/* Boundaries of every multipart enclosing the object at GMime path gpath
 * ("2.1.3"), read as parameters (never g_mime_multipart_get_boundary:
 * gmime#165). Returns the count stored in b (at most cap). */
static size_t ancestor_boundaries(GMimeMessage *top, const char *gpath, const char **b, size_t cap)
{
    size_t n = 0;
    GMimeObject *cur = g_mime_message_get_mime_part(top);
    const char *s = gpath;
    if (!strcmp(gpath, "0")) return 0;          /* the top-level body itself */
    while (cur && *s) {
        char *endp;
        long k = strtol(s, &endp, 10);
        if (endp == s) break;
        s = (*endp == '.') ? endp + 1 : endp;
        if (GMIME_IS_MESSAGE_PART(cur)) {
            GMimeMessage *m = g_mime_message_part_get_message((GMimeMessagePart *)cur);
            cur = m ? g_mime_message_get_mime_part(m) : NULL;
            if (!cur) break;
        }
        if (GMIME_IS_MULTIPART(cur)) {
            const char *bd = g_mime_object_get_content_type_parameter(cur, "boundary");
            if (bd && *bd) {                     /* keep the innermost cap ones */
                if (n == cap) { memmove(b, b + 1, (cap - 1) * sizeof *b); n--; }
                b[n++] = bd;
            }
            GMimeMultipart *mp = (GMimeMultipart *)cur;
            if (k < 1 || k > g_mime_multipart_get_count(mp)) break;
            cur = g_mime_multipart_get_part(mp, (int)k - 1);
        }
        /* else: the single body of a message is component 1 (or top-level "0") */
    }
    return n;
}

static gint64 first_offset(GMimeObject *o)
{
    GMimeHeaderList *l = o ? g_mime_object_get_header_list(o) : NULL;
    if (!l || g_mime_header_list_get_count(l) == 0) return -1;
    return g_mime_header_get_offset(g_mime_header_list_get_header_at(l, 0));
}

/* Locates the bytes of the message embedded in message part obj inside the
 * input: from its first header up to the next boundary line of an enclosing
 * multipart (the CRLF before it belongs to the boundary, RFC 2046 5.1.1), or
 * the end of input. Returns 0 if it has no headers to anchor on or the
 * per-message work bound is spent. */
static int embedded_span(struct mime_ctx *c, GMimeObject *obj, const char *gpath,
                         size_t *start, size_t *end)
{
    GMimeMessage *inner = g_mime_message_part_get_message((GMimeMessagePart *)obj);
    if (!inner) return 0;
    gint64 s1 = first_offset(GMIME_OBJECT(inner));
    gint64 s2 = first_offset(g_mime_message_get_mime_part(inner));
    gint64 s = (s1 < 0 || (s2 >= 0 && s2 < s1)) ? s2 : s1;
    if (s < 0 || (uint64_t)s >= c->len) return 0;

    const char *bd[64];
    size_t nb = ancestor_boundaries(c->top, gpath, bd, SIFT_ARRAY_LEN(bd));
    size_t bl[64];
    for (size_t i = 0; i < nb; i++) bl[i] = strlen(bd[i]);

    const uint8_t *d = c->data;
    size_t pos = (size_t)s, e = c->len;
    while (pos < c->len) {                       /* pos is at a line start */
        if (c->len - pos >= 2 && d[pos] == '-' && d[pos + 1] == '-') {
            for (size_t i = 0; i < nb; i++)
                if (c->len - pos - 2 >= bl[i] && !memcmp(d + pos + 2, bd[i], bl[i])) { e = pos; break; }
            if (e != c->len) break;
        }
        const uint8_t *nl = memchr(d + pos, '\n', c->len - pos);
        if (!nl) break;
        pos = (size_t)(nl - d) + 1;
    }
    if (e != c->len) {                           /* strip the boundary's leading newline */
        if (e > (size_t)s && d[e - 1] == '\n') e--;
        if (e > (size_t)s && d[e - 1] == '\r') e--;
    }
    uint64_t cost = e - (size_t)s;
    if (cost > c->msg_hash_budget) return 0;
    c->msg_hash_budget -= cost;
    *start = (size_t)s;
    *end = e;
    return 1;
}

static void add_url(struct mime_ctx *c, size_t part, const char *url, const char *text)
{
    struct sift_mime_summary *s = c->sum;
    if (s->n_urls >= MIME_MAX_URLS) return;
    if (s->n_urls == c->cap_urls) {
        c->cap_urls = c->cap_urls ? c->cap_urls * 2 : 8;
        s->urls = sift_xrealloc(s->urls, c->cap_urls * sizeof *s->urls);
    }
    struct sift_mime_url *u = &s->urls[s->n_urls++];
    u->part = part;
    u->url = dup_valid(url);
    u->host = sift_url_host(u->url);
    u->text = text ? dup_valid(text) : NULL;
}

/* URLs of a text part, and for HTML its visible text. */
static void part_urls(struct mime_ctx *c, size_t idx)
{
    struct sift_mime_part *p = &c->sum->parts[idx];
    struct sift_link *l = NULL;
    size_t nl = 0;
    if (!p->text) return;
    if (!strcmp(p->content_type, "text/html")) p->html_text = sift_html_to_text(p->text, strlen(p->text), &l, &nl);
    else sift_text_urls(p->text, strlen(p->text), &l, &nl);
    for (size_t i = 0; i < nl; i++) add_url(c, idx, l[i].url, l[i].text);
    sift_links_free(l, nl);
}

/* Starts an extraction file for the part if asked to; NULL otherwise. */
static struct sift_outfile *extract_begin(struct mime_ctx *c, const struct sift_mime_part *p,
                                          struct sift_outfile *f)
{
    if (c->extract_dirfd < 0 || !p->is_attachment) return NULL;
    if (sift_outfile_begin(f, c->extract_dirfd) == 0) return f;
    ctx_finding(c, "extract_failed", SIFT_SEV_MEDIUM, "part %s: cannot create a file: %s",
                p->path, strerror(errno));
    return NULL;
}

static void extract_end(struct mime_ctx *c, struct sift_mime_part *p, struct sift_outfile *f)
{
    if (!f) return;
    if (!p->sha256[0]) { sift_outfile_abort(f); return; }
    if (sift_outfile_commit(f, p->sha256) >= 0) p->extracted_path = sift_xstrdup(p->sha256);
    else ctx_finding(c, "extract_failed", SIFT_SEV_MEDIUM, "part %s: cannot write %s: %s",
                     p->path, p->sha256, strerror(errno));
}

/* ---- uuencoded blocks inside text/plain bodies -------------------------- */
/* Classic uuencode (POSIX uuencode/uudecode): "begin <octal mode> <name>",
 * lines of a length character and groups of 4 characters in ' '..'`' (6 bits
 * each), a zero-length line ("`" or " "; an empty line too, as mailers strip
 * trailing blanks), "end". Each block becomes an extra part after its text
 * part. A whole part with Content-Transfer-Encoding x-uuencode is decoded by
 * GMime itself (checked with 3.2.13) and does not come here as a block. */

#define UU_MAX_BLOCKS 100     /* per message, malformed ones included */
#define UU_MAX_LINE   1024    /* longer lines are not uuencode (inside a block: malformed) */

struct uu_scan {
    struct mime_ctx *c;
    const char *text_path;        /* the text part's path (borrowed) */
    enum { UU_OUT, UU_DATA, UU_END } state;
    char line[UU_MAX_LINE];
    size_t n_line;
    int line_long;                /* the current line is longer than UU_MAX_LINE */
    SiftSink *blk;                /* the open block's decoded bytes */
    struct sift_mime_part cur;    /* the open block */
    struct sift_outfile of;
    struct sift_mime_part *done;  /* finished blocks, appended after the text part */
    size_t n_done, cap_done;
};

static int uu_val(unsigned char ch) { return (ch >= 0x20 && ch <= 0x60) ? ((ch - 0x20) & 0x3f) : -1; }

/* "begin" SP 3-4 octal digits SP+ name (non-empty); *name points into line. */
static int uu_is_begin(const char *l, size_t n, const char **name, size_t *name_len)
{
    if (n < 6 || memcmp(l, "begin ", 6)) return 0;
    size_t i = 6, d = 0;
    while (i < n && l[i] >= '0' && l[i] <= '7') { i++; d++; }
    if (d < 3 || d > 4 || i >= n || l[i] != ' ') return 0;
    while (i < n && l[i] == ' ') i++;
    if (i == n) return 0;
    *name = l + i;
    *name_len = n - i;
    return 1;
}

static void uu_drop(struct uu_scan *u)
{
    if (u->blk) {
        if (u->blk->out) sift_outfile_abort(u->blk->out);
        g_object_unref(u->blk);
        u->blk = NULL;
    }
    free(u->cur.path); free(u->cur.encoding); free(u->cur.disposition); free(u->cur.filename);
    free(u->cur.magic_type);
    memset(&u->cur, 0, sizeof u->cur);
    u->state = UU_OUT;
}

static void uu_fail(struct uu_scan *u, const char *why)
{
    char *it = detail_item(u->cur.filename);
    ctx_finding(u->c, "mime_uuencode_malformed", SIFT_SEV_LOW,
                "part %s: uuencoded block \"%s\" skipped: %s", u->text_path, it, why);
    g_free(it);
    uu_drop(u);
}

static void uu_open(struct uu_scan *u, const char *name, size_t name_len)
{
    struct mime_ctx *c = u->c;
    if (c->n_uu >= UU_MAX_BLOCKS) {
        if (!c->said_uu_cap++)
            ctx_finding(c, "mime_uuencode_too_many", SIFT_SEV_MEDIUM,
                        "part %s: more than %d uuencoded blocks in the message; the rest were"
                        " not decoded", u->text_path, UU_MAX_BLOCKS);
        return;
    }
    c->n_uu++;
    char *raw = g_strndup(name, name_len);       /* stops at a NUL byte: data, never a path */
    u->cur.filename = dup_valid(raw);
    g_free(raw);
    size_t pl = strlen(u->text_path) + 32;
    u->cur.path = sift_xmalloc(pl);
    snprintf(u->cur.path, pl, "%s.uu%zu", u->text_path, u->n_done + 1);
    u->cur.encoding = sift_xstrdup("x-uuencode");
    u->cur.disposition = sift_xstrdup("attachment");
    u->cur.is_attachment = 1;
    u->blk = sink_new();
    u->blk->out = extract_begin(c, &u->cur, &u->of);
    u->state = UU_DATA;
}

/* Decodes one data line into the open block; 0 if it is not a valid line. */
static int uu_data(struct uu_scan *u, const char *l, size_t n)
{
    int len = uu_val((unsigned char)l[0]);
    if (len <= 0) return 0;
    size_t avail = n - 1;
    size_t need = ((size_t)len * 4 + 2) / 3, full = ((size_t)len + 2) / 3 * 4;
    if (avail < need || avail > full + 1) return 0;     /* one trailing checksum char allowed */
    for (size_t i = 1; i < n; i++)
        if (uu_val((unsigned char)l[i]) < 0) return 0;
    uint8_t out[48];
    size_t o = 0;
    for (size_t g = 0; o < (size_t)len; g += 4) {
        int v[4];
        for (int k = 0; k < 4; k++)
            v[k] = (1 + g + k < n) ? uu_val((unsigned char)l[1 + g + k]) : 0;
        uint8_t b[3] = { (uint8_t)(v[0] << 2 | v[1] >> 4), (uint8_t)(v[1] << 4 | v[2] >> 2),
                         (uint8_t)(v[2] << 6 | v[3]) };
        for (int k = 0; k < 3 && o < (size_t)len; k++) out[o++] = b[k];
    }
    sink_write(GMIME_STREAM(u->blk), (const char *)out, o);
    return 1;
}

static void uu_close(struct uu_scan *u)
{
    struct sift_mime_part *p = &u->cur;
    p->size = u->blk->n;
    sink_digest(u->blk, p);
    p->content_type = sift_xstrdup(p->magic_type ? p->magic_type : "application/octet-stream");
    extract_end(u->c, p, u->blk->out);
    u->blk->out = NULL;
    g_object_unref(u->blk);
    u->blk = NULL;
    if (u->n_done == u->cap_done) {
        u->cap_done = u->cap_done ? u->cap_done * 2 : 4;
        u->done = sift_xrealloc(u->done, u->cap_done * sizeof *u->done);
    }
    u->done[u->n_done++] = *p;                   /* moves the strings */
    memset(p, 0, sizeof *p);
    u->state = UU_OUT;
}

/* One line without its LF (and CR); long: it was cut at UU_MAX_LINE. */
static void uu_line(struct uu_scan *u, const char *l, size_t n, int long_line)
{
    if (n && l[n - 1] == '\r') n--;
    const char *name;
    size_t nl;
    switch (u->state) {
    case UU_OUT:
        if (!long_line && uu_is_begin(l, n, &name, &nl)) uu_open(u, name, nl);
        return;
    case UU_DATA:
        if (long_line) { uu_fail(u, "line too long"); return; }
        if (n == 0 || (uu_val((unsigned char)l[0]) == 0 && n <= 5)) { u->state = UU_END; return; }
        if (uu_data(u, l, n)) return;
        uu_fail(u, "invalid encoded line");
        break;
    case UU_END:
        while (n && (l[n - 1] == ' ' || l[n - 1] == '\t')) n--;
        if (!long_line && n == 3 && !memcmp(l, "end", 3)) { uu_close(u); return; }
        uu_fail(u, "no \"end\" line after the zero-length line");
        break;
    }
    uu_line(u, l, n, long_line);                 /* state is UU_OUT now: a new "begin"? */
}

static void uu_feed(struct uu_scan *u, const char *buf, size_t len)
{
    while (len) {
        const char *nl = memchr(buf, '\n', len);
        size_t take = nl ? (size_t)(nl - buf) : len;
        size_t room = sizeof u->line - u->n_line;
        if (take > room) u->line_long = 1;
        memcpy(u->line + u->n_line, buf, take < room ? take : room);
        u->n_line += take < room ? take : room;
        if (!nl) return;
        uu_line(u, u->line, u->n_line, u->line_long);
        u->n_line = 0;
        u->line_long = 0;
        buf += take + 1;
        len -= take + 1;
    }
}

static struct uu_scan *uu_new(struct mime_ctx *c, const char *text_path)
{
    struct uu_scan *u = sift_xcalloc(1, sizeof *u);
    u->c = c;
    u->text_path = text_path;
    return u;
}

/* End of the text part: the last line, then a block still open is malformed. */
static void uu_finish(struct uu_scan *u)
{
    if (u->n_line || u->line_long) uu_line(u, u->line, u->n_line, u->line_long);
    u->n_line = 0;
    u->line_long = 0;
    if (u->state != UU_OUT) uu_fail(u, "the text ends inside the block");
}

/* Appends the finished blocks as parts (after the text part) and frees u. */
static void uu_commit(struct mime_ctx *c, struct uu_scan *u)
{
    for (size_t i = 0; i < u->n_done; i++) {
        struct sift_mime_part *p = add_part(c);
        *p = u->done[i];
        c->sum->n_attachments++;
    }
    free(u->done);
    free(u);
}

static void record_part(struct mime_ctx *c, GMimeObject *obj, const char *gpath, char *path)
{
    struct uu_scan *uu = NULL;
    struct sift_mime_part *p = add_part(c);
    size_t idx = c->sum->n_parts - 1;
    p->path = path;
    GMimeContentType *ct = g_mime_object_get_content_type(obj);     /* borrowed */
    char *mt = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
    p->content_type = dup_lower(mt ? mt : "application/octet-stream");
    g_free(mt);
    p->charset = dup_trimmed_valid(g_mime_object_get_content_type_parameter(obj, "charset"));
    p->encoding = dup_lower(g_mime_object_get_header(obj, "Content-Transfer-Encoding"));
    p->disposition = dup_lower(g_mime_object_get_disposition(obj));
    if (GMIME_IS_PART(obj)) p->filename = dup_valid(g_mime_part_get_filename((GMimePart *)obj));
    else p->filename = dup_valid(g_mime_object_get_content_disposition_parameter(obj, "filename"));
    int is_text = !strncmp(p->content_type, "text/", 5);
    int disp_att = p->disposition && !strcmp(p->disposition, "attachment");
    struct sift_outfile of;

    if (GMIME_IS_MESSAGE_PART(obj)) {
        p->is_attachment = disp_att || p->filename != NULL;
        size_t start, end;
        if (embedded_span(c, obj, gpath, &start, &end)) {
            SiftSink *sink = sink_new();
            sink->out = extract_begin(c, p, &of);
            g_mime_stream_write(GMIME_STREAM(sink), (const char *)c->data + start, end - start);
            p->size = end - start;
            sink_digest(sink, p);
            extract_end(c, p, sink->out);
            g_object_unref(sink);
        } else {
            p->size = 0;
            p->sha256[0] = '\0';
            if (!c->said_hash_skipped++)
                ctx_finding(c, "mime_hash_skipped", SIFT_SEV_LOW,
                            "part %s: embedded message bytes not located or work bound reached"
                            " (reported once per message)", p->path);
        }
    } else {
        GMimePart *part = (GMimePart *)obj;
        p->is_attachment = disp_att || p->filename || !is_text;
        SiftSink *sink = sink_new();
        /* libmagic is the costliest step per byte: sniff what can be an attachment,
         * not every text body (their declared type is what matters there). */
        sink->sniff_wanted = p->is_attachment;
        struct sift_buf text = {0};
        if (is_text) { sink->text = &text; sink->text_cap = MIME_TEXT_CAP; }
        sink->out = extract_begin(c, p, &of);
        if (!strcmp(p->content_type, "text/plain")) sink->uu = uu = uu_new(c, p->path);
        decode_leaf(part, sink);
        if (uu) uu_finish(uu);
        p->size = sink->n;
        sink_digest(sink, p);
        extract_end(c, p, sink->out);
        check_declared_size(c, obj, p);
        if (is_text) {
            int unknown = 0, cut = sink->text_cut;
            p->text = to_utf8(text.len ? (const char *)text.data : "", text.len, p->charset, &unknown);
            size_t tl = strlen(p->text);
            if (tl > MIME_TEXT_CAP) {
                size_t e = MIME_TEXT_CAP;
                while (e > 0 && ((unsigned char)p->text[e] & 0xC0) == 0x80) e--;
                p->text[e] = '\0';
                cut = 1;
            }
            if (cut)
                ctx_finding(c, "mime_text_truncated", SIFT_SEV_INFO,
                            "part %s: text kept up to %u bytes of %llu", p->path,
                            MIME_TEXT_CAP, (unsigned long long)p->size);
            if (unknown && !c->said_unknown_charset++) {
                char *it = detail_item(p->charset);
                ctx_finding(c, "mime_unknown_charset", SIFT_SEV_LOW,
                            "part %s: charset \"%s\" unknown; decoded as UTF-8 or windows-1252"
                            " (reported once per message)",
                            p->path, it);
                g_free(it);
            }
            sift_buf_free(&text);
        }
        g_object_unref(sink);
        part_urls(c, idx);
    }
    if (p->is_attachment) c->sum->n_attachments++;
    if (uu) uu_commit(c, uu);                    /* after the last use of p: add_part moves parts */
}

static void walk_parts(struct mime_ctx *c, GMimeMessage *msg)
{
    GMimeObject *body = g_mime_message_get_mime_part(msg);           /* borrowed */
    if (!body) return;
    int top_is_message = GMIME_IS_MESSAGE_PART(body);
    size_t n = 0;
    if (top_is_message) {       /* the iterator skips it: record it here */
        record_part(c, body, "0", sift_xstrdup("1"));
        n++;
    }
    GMimePartIter *it = g_mime_part_iter_new(GMIME_OBJECT(msg));
    if (g_mime_part_iter_is_valid(it)) {
        do {
            GMimeObject *cur = g_mime_part_iter_get_current(it);       /* borrowed */
            if (!cur || GMIME_IS_MULTIPART(cur)) continue;
            if (!GMIME_IS_PART(cur) && !GMIME_IS_MESSAGE_PART(cur)) continue;
            if (n == MIME_MAX_PARTS) {
                ctx_finding(c, "mime_too_many_parts", SIFT_SEV_MEDIUM,
                            "more than %d MIME parts; the rest were not examined", MIME_MAX_PARTS);
                break;
            }
            n++;
            char *gpath = g_mime_part_iter_get_path(it);
            const char *gp = gpath ? gpath : "0";
            record_part(c, cur, gp, part_path(gp, top_is_message));
            g_free(gpath);
        } while (g_mime_part_iter_next(it));
    }
    g_mime_part_iter_free(it);
}

/* ---- headers and addresses ---------------------------------------------- */

static void add_header(struct mime_ctx *c, GMimeHeader *h)
{
    struct sift_mime_summary *s = c->sum;
    if (s->n_headers == c->cap_headers) {
        c->cap_headers = c->cap_headers ? c->cap_headers * 2 : 16;
        s->headers = sift_xrealloc(s->headers, c->cap_headers * sizeof *s->headers);
    }
    struct sift_mime_header *o = &s->headers[s->n_headers++];
    const char *name = g_mime_header_get_name(h);
    const char *raw = g_mime_header_get_raw_value(h);
    o->name = dup_valid(name ? name : "");
    size_t rl = raw ? strlen(raw) : 0;
    if (rl && raw[rl - 1] == '\n') rl--;
    if (rl && raw[rl - 1] == '\r') rl--;
    o->raw = sift_xmemdup(raw ? raw : "", rl);
    o->raw_len = rl;

    char *fixed = NULL;
    if (raw) {
        char *unfolded = g_mime_utils_header_unfold(raw);
        fixed = rfc2047_fix_runs(unfolded);
        g_free(unfolded);
    }
    if (fixed) {
        char *dec = g_mime_utils_header_decode_text(c->opts, fixed);
        o->value = dup_trimmed_valid(dec);
        g_free(dec);
        free(fixed);
    } else {
        const char *v = g_mime_header_get_value(h);
        o->value = dup_valid(v ? v : "");
    }
}

static const char *const address_fields[] = {
    "from", "to", "cc", "bcc", "reply-to", "sender", "return-path", NULL
};

static void add_address(struct mime_ctx *c, const char *field, const char *name,
                        const char *addr, const char *group)
{
    struct sift_mime_summary *s = c->sum;
    if (s->n_addresses == c->cap_addresses) {
        c->cap_addresses = c->cap_addresses ? c->cap_addresses * 2 : 8;
        s->addresses = sift_xrealloc(s->addresses, c->cap_addresses * sizeof *s->addresses);
    }
    struct sift_mime_address *a = &s->addresses[s->n_addresses++];
    a->field = sift_xstrdup(field);
    a->name = (name && *name) ? dup_valid(name) : NULL;
    a->address = dup_valid(addr ? addr : "");
    a->group = group ? dup_valid(group) : NULL;
    if (!strcmp(field, "from") && !s->from_addr && !group) {
        s->from_addr = sift_xstrdup(a->address);
        s->from_name = a->name ? sift_xstrdup(a->name) : NULL;
    }
}

static void add_address_list(struct mime_ctx *c, const char *field, InternetAddressList *l,
                             const char *group)
{
    int n = internet_address_list_length(l);
    for (int i = 0; i < n; i++) {
        InternetAddress *a = internet_address_list_get_address(l, i);   /* borrowed */
        if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
            add_address(c, field, internet_address_get_name(a),
                        internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)), group);
        } else if (INTERNET_ADDRESS_IS_GROUP(a)) {
            const char *gname = internet_address_get_name(a);
            InternetAddressList *m = internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a));
            if (!m || internet_address_list_length(m) == 0)
                add_address(c, field, NULL, "", gname ? gname : "");   /* e.g. "undisclosed-recipients:;" */
            else
                add_address_list(c, field, m, group ? group : (gname ? gname : ""));
        }
    }
}

static void parse_addresses(struct mime_ctx *c, const char *field, GMimeHeader *h)
{
    const char *raw = g_mime_header_get_raw_value(h);
    if (!raw) return;
    char *unfolded = g_mime_utils_header_unfold(raw);
    char *fixed = rfc2047_fix_runs(unfolded);
    /* GMime already parsed (and warned about) the fields it knows while
     * constructing the message; only Return-Path is new to it. */
    GMimeParserOptions *o = strcmp(field, "return-path") ? c->quiet : c->opts;
    InternetAddressList *l = internet_address_list_parse(o, fixed ? fixed : unfolded);
    size_t before = c->sum->n_addresses;
    if (l) {
        add_address_list(c, field, l, NULL);
        g_object_unref(l);
    }
    /* "Return-Path: <>" (a bounce) parses to nothing: keep it as an empty address. */
    if (c->sum->n_addresses == before && !strcmp(field, "return-path")) {
        const char *p = unfolded;
        while (*p == ' ' || *p == '\t') p++;
        if (!strncmp(p, "<>", 2)) add_address(c, field, NULL, "", NULL);
    }
    free(fixed);
    g_free(unfolded);
}

/* Top-level headers: GMime 3.2 keeps Content-* on the top MIME part and the
 * rest on the message; merge both lists back into wire order by offset. */
static void collect_headers(struct mime_ctx *c, GMimeMessage *msg)
{
    GMimeHeaderList *a = g_mime_object_get_header_list(GMIME_OBJECT(msg));
    GMimeObject *body = g_mime_message_get_mime_part(msg);
    GMimeHeaderList *b = body ? g_mime_object_get_header_list(body) : NULL;
    int na = a ? g_mime_header_list_get_count(a) : 0;
    int nb = b ? g_mime_header_list_get_count(b) : 0;
    int i = 0, j = 0;
    while (i < na || j < nb) {
        GMimeHeader *h;
        if (j >= nb) h = g_mime_header_list_get_header_at(a, i++);
        else if (i >= na) h = g_mime_header_list_get_header_at(b, j++);
        else {
            GMimeHeader *ha = g_mime_header_list_get_header_at(a, i);
            GMimeHeader *hb = g_mime_header_list_get_header_at(b, j);
            if (g_mime_header_get_offset(hb) < g_mime_header_get_offset(ha)) { h = hb; j++; }
            else { h = ha; i++; }
        }
        if (!h) continue;
        add_header(c, h);
        const char *name = g_mime_header_get_name(h);
        if (!name) continue;
        for (const char *const *f = address_fields; *f; f++)
            if (!g_ascii_strcasecmp(name, *f)) { parse_addresses(c, *f, h); break; }
    }
}

static const char *first_value(const struct sift_mime_summary *s, const char *name)
{
    for (size_t i = 0; i < s->n_headers; i++)
        if (!g_ascii_strcasecmp(s->headers[i].name, name)) return s->headers[i].value;
    return NULL;
}

/* ---- trace and authentication headers ---------------------------------- */

static char *dup_or_null(const char *s) { return s ? dup_valid(s) : NULL; }

static void add_auth(struct mime_ctx *c, const char *header, size_t seq, int instance,
                     const char *authserv, struct sift_auth_result *r, size_t n)
{
    struct sift_mime_summary *s = c->sum;
    for (size_t i = 0; i < n && s->n_auth < MIME_MAX_AUTH; i++) {
        s->auth = sift_xrealloc(s->auth, (s->n_auth + 1) * sizeof *s->auth);
        struct sift_mime_auth *a = &s->auth[s->n_auth++];
        a->header = header;
        a->header_seq = seq;
        a->instance = instance;
        a->authserv_id = dup_or_null(authserv);
        a->method = dup_or_null(r[i].method);
        a->result = dup_or_null(r[i].result);
        a->reason = dup_or_null(r[i].reason);
        a->props = dup_or_null(r[i].props);
    }
}

static void add_dkim(struct mime_ctx *c, const char *header, size_t seq, const char *value)
{
    struct sift_mime_summary *s = c->sum;
    if (s->n_dkim >= MIME_MAX_DKIM) return;
    size_t nt;
    struct sift_tag *t = sift_tags_parse(value, &nt);
    s->dkim = sift_xrealloc(s->dkim, (s->n_dkim + 1) * sizeof *s->dkim);
    struct sift_mime_dkim *d = &s->dkim[s->n_dkim++];
    memset(d, 0, sizeof *d);
    d->header = header;
    d->header_seq = seq;
    const char *i = sift_tags_get(t, nt, "i");
    int arc = strcmp(header, "dkim-signature") != 0;
    d->instance = arc ? (i ? atoi(i) : 0) : -1;
    d->version = dup_or_null(sift_tags_get(t, nt, "v"));
    d->algorithm = dup_or_null(sift_tags_get(t, nt, "a"));
    d->domain = dup_or_null(sift_tags_get(t, nt, "d"));
    d->selector = dup_or_null(sift_tags_get(t, nt, "s"));
    d->canonicalization = dup_or_null(sift_tags_get(t, nt, "c"));
    d->signed_headers = dup_or_null(sift_tags_get(t, nt, "h"));
    d->identity = arc ? NULL : dup_or_null(i);
    d->body_hash = dup_or_null(sift_tags_get(t, nt, "bh"));
    d->chain_validation = dup_or_null(sift_tags_get(t, nt, "cv"));
    const char *ts = sift_tags_get(t, nt, "t");
    if (ts && *ts) {
        char *e;
        long long v = strtoll(ts, &e, 10);
        if (!*e && v >= 0) { d->timestamp = v; d->has_timestamp = 1; }
    }
    sift_tags_free(t, nt);
}

/* X-Originating-IP: "[192.0.2.1]" -> "192.0.2.1". */
static char *clean_ip(const char *v)
{
    struct sift_buf b = {0};
    for (const char *p = v; *p && b.len < 64; p++)
        if (*p != '[' && *p != ']' && *p != ' ' && *p != '\t') sift_buf_putc(&b, (uint8_t)*p);
    if (!b.len) { sift_buf_free(&b); return NULL; }
    return (char *)sift_buf_steal(&b, NULL);
}

/* Received chain, authentication results, signatures, X-Mailer & co. from
 * the decoded top-level headers (already valid UTF-8). */
static void parse_trace(struct mime_ctx *c)
{
    struct sift_mime_summary *s = c->sum;
    for (size_t i = 0; i < s->n_headers; i++) {
        const char *name = s->headers[i].name, *v = s->headers[i].value;
        if (!v) continue;
        if (!g_ascii_strcasecmp(name, "Received")) {
            if (s->n_received >= MIME_MAX_RECEIVED) continue;
            s->received = sift_xrealloc(s->received, (s->n_received + 1) * sizeof *s->received);
            struct sift_mime_received *r = &s->received[s->n_received++];
            memset(r, 0, sizeof *r);
            sift_received_parse(v, &r->hop);
            r->raw = sift_xstrdup(v);
            r->header_seq = i;
            if (r->hop.date) {
                GDateTime *dt = g_mime_utils_header_decode_date(r->hop.date);
                if (dt) { r->ts = g_date_time_to_unix(dt); r->has_ts = 1; g_date_time_unref(dt); }
            }
        } else if (!g_ascii_strcasecmp(name, "Authentication-Results") ||
                   !g_ascii_strcasecmp(name, "ARC-Authentication-Results")) {
            int arc = !g_ascii_strcasecmp(name, "ARC-Authentication-Results");
            int inst;
            char *serv;
            size_t n;
            struct sift_auth_result *r = sift_auth_results_parse(v, arc, &inst, &serv, &n);
            add_auth(c, arc ? "arc-authentication-results" : "authentication-results", i, inst, serv, r, n);
            sift_auth_results_free(r, n);
            free(serv);
        } else if (!g_ascii_strcasecmp(name, "Received-SPF")) {
            size_t n;
            struct sift_auth_result *r = sift_received_spf_parse(v, &n);
            add_auth(c, "received-spf", i, -1, NULL, r, n);
            sift_auth_results_free(r, n);
        } else if (!g_ascii_strcasecmp(name, "DKIM-Signature")) {
            add_dkim(c, "dkim-signature", i, v);
        } else if (!g_ascii_strcasecmp(name, "ARC-Message-Signature")) {
            add_dkim(c, "arc-message-signature", i, v);
        } else if (!g_ascii_strcasecmp(name, "ARC-Seal")) {
            add_dkim(c, "arc-seal", i, v);
        } else if (!g_ascii_strcasecmp(name, "X-Mailer")) {
            if (!s->x_mailer) s->x_mailer = dup_trimmed_valid(v);
        } else if (!g_ascii_strcasecmp(name, "User-Agent")) {
            if (!s->user_agent) s->user_agent = dup_trimmed_valid(v);
        } else if (!g_ascii_strcasecmp(name, "X-Originating-IP")) {
            if (!s->x_originating_ip) s->x_originating_ip = clean_ip(v);
        }
    }
}

/* ---- public API --------------------------------------------------------- */

void sift_mime_init(void)
{
    g_mime_init();
}

void sift_mime_shutdown(void)
{
    sift_filetype_close();
    g_mime_shutdown();
}

struct sift_mime_summary *sift_mime_parse(const uint8_t *data, size_t len,
                                          sift_finding_fn finding, void *user)
{
    return sift_mime_parse_ex(data, len, NULL, finding, user);
}

/* Ends the borrowing of the caller's bytes (see sift_mime_parse_ex): the
 * stream does not own the array, and the array hands the bytes back unfreed. */
static void give_back(GMimeStream *st, GByteArray *borrowed)
{
    g_object_unref(st);
    g_byte_array_steal(borrowed, NULL);
    g_byte_array_unref(borrowed);
}

/* The parse proper, over st (data: the same bytes in memory, or NULL when
 * they are only in the stream). */
static struct sift_mime_summary *parse_stream(GMimeStream *st, const uint8_t *data, uint64_t len,
                                              const struct sift_mime_opts *opts,
                                              sift_finding_fn finding, void *user)
{
    struct sift_mime_summary *s = sift_xcalloc(1, sizeof *s);
    struct mime_ctx c = { .finding = finding, .user = user, .sum = s, .data = data, .len = data ? len : 0 };
    c.extract_dirfd = opts ? opts->extract_dirfd : -1;
    c.msg_hash_budget = data ? (uint64_t)len * 4 + (1u << 20) : 0;
    static const char *fallback[] = { "UTF-8", "windows-1252", NULL };
    c.opts = g_mime_parser_options_new();
    g_mime_parser_options_set_fallback_charsets(c.opts, fallback);
    g_mime_parser_options_set_warning_callback(c.opts, on_gmime_warning, &c);
    c.quiet = g_mime_parser_options_new();
    g_mime_parser_options_set_fallback_charsets(c.quiet, fallback);

    GMimeParser *ps = g_mime_parser_new_with_stream(st);
    GMimeMessage *msg = g_mime_parser_construct_message(ps, c.opts);
    g_object_unref(ps);
    if (!msg) {
        ctx_finding(&c, "mime_parse_failed", SIFT_SEV_MEDIUM,
                    "GMime could not parse %llu bytes as a message", (unsigned long long)len);
        g_mime_parser_options_free(c.opts);
        g_mime_parser_options_free(c.quiet);
        return s;
    }
    s->parsed = 1;
    c.top = msg;
    collect_headers(&c, msg);
    parse_trace(&c);

    const char *v = first_value(s, "Subject");
    s->subject = v ? sift_xstrdup(v) : NULL;
    v = first_value(s, "Date");
    s->date = v ? dup_trimmed_valid(v) : NULL;
    GDateTime *dt = g_mime_message_get_date(msg);                  /* borrowed */
    if (dt) { s->date_unix = g_date_time_to_unix(dt); s->has_date = 1; }
    s->message_id = dup_valid(g_mime_message_get_message_id(msg));
    v = first_value(s, "In-Reply-To");
    s->in_reply_to = v ? dup_trimmed_valid(v) : NULL;

    walk_parts(&c, msg);

    g_object_unref(msg);
    g_mime_parser_options_free(c.opts);
    g_mime_parser_options_free(c.quiet);
    return s;
}


struct sift_mime_summary *sift_mime_parse_ex(const uint8_t *data, size_t len,
                                             const struct sift_mime_opts *opts,
                                             sift_finding_fn finding, void *user)
{
    /* The stream reads data in place (no copy of a message that may be large):
     * the byte array only borrows it, the stream does not own the array, and
     * the array gives it back (g_byte_array_steal) once the summary is built,
     * since parts decoded late read through the parser's substreams. */
    if (!len) data = (const uint8_t *)"";
    GByteArray *borrowed = g_byte_array_new_take((guint8 *)data, len);
    GMimeStream *st = g_mime_stream_mem_new_with_byte_array(borrowed);
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(st), FALSE);
    struct sift_mime_summary *s = parse_stream(st, data, len, opts, finding, user);
    give_back(st, borrowed);
    return s;
}

struct sift_mime_summary *sift_mime_parse_fd(int fd, uint64_t len, const struct sift_mime_opts *opts,
                                             sift_finding_fn finding, void *user)
{
    GMimeStream *st = g_mime_stream_fs_new_with_bounds(fd, 0, (gint64)len);
    g_mime_stream_fs_set_owner(GMIME_STREAM_FS(st), FALSE);
    struct sift_mime_summary *s = parse_stream(st, NULL, len, opts, finding, user);
    g_object_unref(st);
    return s;
}

void sift_mime_free(struct sift_mime_summary *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n_headers; i++) {
        free(m->headers[i].name);
        free(m->headers[i].value);
        free(m->headers[i].raw);
    }
    free(m->headers);
    for (size_t i = 0; i < m->n_addresses; i++) {
        free(m->addresses[i].field);
        free(m->addresses[i].name);
        free(m->addresses[i].address);
        free(m->addresses[i].group);
    }
    free(m->addresses);
    for (size_t i = 0; i < m->n_parts; i++) {
        struct sift_mime_part *p = &m->parts[i];
        free(p->path); free(p->content_type); free(p->charset); free(p->encoding);
        free(p->disposition); free(p->filename); free(p->text);
        free(p->magic_type); free(p->html_text); free(p->extracted_path);
    }
    free(m->parts);
    for (size_t i = 0; i < m->n_received; i++) {
        sift_received_clear(&m->received[i].hop);
        free(m->received[i].raw);
    }
    free(m->received);
    for (size_t i = 0; i < m->n_auth; i++) {
        struct sift_mime_auth *a = &m->auth[i];
        free(a->authserv_id); free(a->method); free(a->result); free(a->reason); free(a->props);
    }
    free(m->auth);
    for (size_t i = 0; i < m->n_dkim; i++) {
        struct sift_mime_dkim *d = &m->dkim[i];
        free(d->version); free(d->algorithm); free(d->domain); free(d->selector);
        free(d->canonicalization); free(d->signed_headers); free(d->identity);
        free(d->body_hash); free(d->chain_validation);
    }
    free(m->dkim);
    for (size_t i = 0; i < m->n_urls; i++) {
        free(m->urls[i].url); free(m->urls[i].host); free(m->urls[i].text);
    }
    free(m->urls);
    free(m->x_mailer); free(m->user_agent); free(m->x_originating_ip);
    free(m->subject); free(m->from_addr); free(m->from_name); free(m->date);
    free(m->message_id); free(m->in_reply_to);
    free(m);
}

void sift_sha256_hex(const uint8_t *data, size_t len, char out[65])
{
    sift_hash_sha256_hex(data ? (const void *)data : "", len, out);
}
