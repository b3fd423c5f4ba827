/* hdrparse.c — Received, Authentication-Results, Received-SPF and DKIM/ARC
 * tag-list parsers (RFC 5321 4.4, 8601, 8617, 7208 9.1, 6376 3.2). Pure,
 * bounded string code; lenient (real headers are often malformed) and never
 * fails: what cannot be read is left NULL. Does NOT verify anything. */
#include "hdrparse.h"

#include <stdlib.h>
#include <string.h>

#define HDR_MAX_INPUT 8192
#define HDR_MAX_ITEMS 64

static int lc(int c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }
static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int ieq(const char *a, size_t n, const char *b)
{
    size_t m = strlen(b);
    if (n != m) return 0;
    for (size_t i = 0; i < n; i++)
        if (lc((unsigned char)a[i]) != lc((unsigned char)b[i])) return 0;
    return 1;
}

static char *dup_lower_n(const char *s, size_t n)
{
    char *r = sift_xstrndup(s, n);
    for (char *p = r; *p; p++) *p = (char)lc((unsigned char)*p);
    return r;
}

static char *dup_trim_n(const char *s, size_t n)
{
    while (n && is_ws((unsigned char)*s)) { s++; n--; }
    while (n && is_ws((unsigned char)s[n - 1])) n--;
    return n ? sift_xstrndup(s, n) : NULL;
}

/* ---- Received ---------------------------------------------------------- */

struct tok { const char *p; size_t n; int comment; };

/* Splits s[0..n) into words and (comments), comments nested, bounded. */
static size_t tokenize(const char *s, size_t n, struct tok *t, size_t cap)
{
    size_t k = 0, i = 0;
    while (i < n && k < cap) {
        if (is_ws((unsigned char)s[i])) { i++; continue; }
        if (s[i] == '(') {
            size_t start = ++i;
            int depth = 1;
            while (i < n && depth) {
                if (s[i] == '\\' && i + 1 < n) { i += 2; continue; }
                if (s[i] == '(') depth++;
                else if (s[i] == ')') depth--;
                i++;
            }
            size_t end = depth ? i : i - 1;
            t[k++] = (struct tok){ s + start, end - start, 1 };
            continue;
        }
        size_t start = i;
        while (i < n && !is_ws((unsigned char)s[i]) && s[i] != '(') i++;
        t[k++] = (struct tok){ s + start, i - start, 0 };
    }
    return k;
}

static int ip_char(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' || c == ':';
}

/* First "[literal]" in p[0..n), or else the first bare dotted quad. */
static char *find_ip(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '[') continue;
        size_t j = i + 1;
        if (n - j >= 5 && ieq(p + j, 5, "ipv6:")) j += 5;
        size_t k = j;
        while (k < n && ip_char((unsigned char)p[k])) k++;
        if (k < n && p[k] == ']' && k > j) return sift_xstrndup(p + j, k - j);
    }
    for (size_t i = 0; i < n; i++) {
        if (i && (ip_char((unsigned char)p[i - 1]) || p[i - 1] == '-')) continue;
        size_t k = i;
        int dots = 0, digits = 0;
        while (k < n && ((p[k] >= '0' && p[k] <= '9') || p[k] == '.')) {
            if (p[k] == '.') dots++; else digits++;
            k++;
        }
        if (dots == 3 && digits >= 4 && p[k - 1] != '.' && (k == n || !ip_char((unsigned char)p[k])))
            return sift_xstrndup(p + i, k - i);
        if (k > i) i = k;
    }
    return NULL;
}

void sift_received_parse(const char *value, struct sift_received *out)
{
    memset(out, 0, sizeof *out);
    if (!value) return;
    size_t n = strnlen(value, HDR_MAX_INPUT);
    /* the date follows the last ';' that is outside comments */
    size_t semi = n;
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        if (value[i] == '(') depth++;
        else if (value[i] == ')' && depth) depth--;
        else if (value[i] == ';' && !depth) semi = i;
    }
    if (semi < n) out->date = dup_trim_n(value + semi + 1, n - semi - 1);

    struct tok t[256];
    size_t nt = tokenize(value, semi, t, SIFT_ARRAY_LEN(t));
    static const char *const kw[] = { "from", "by", "via", "with", "id", "for", NULL };
    int clause = -1;                 /* index in kw */
    size_t from_start = 0, from_end = 0;
    int in_from = 0;
    for (size_t i = 0; i < nt; i++) {
        if (!t[i].comment) {
            int k = -1;
            for (int j = 0; kw[j]; j++)
                if (ieq(t[i].p, t[i].n, kw[j])) { k = j; break; }
            if (k >= 0) {
                if (in_from) { from_end = (size_t)(t[i].p - value); in_from = 0; }
                clause = k;
                if (k == 0 && !out->from_name) {
                    in_from = 1;
                    from_start = (size_t)(t[i].p - value) + t[i].n;
                    from_end = semi;
                }
                if (i + 1 < nt && !t[i + 1].comment) {
                    const char *v = t[i + 1].p;
                    size_t vn = t[i + 1].n;
                    char **dst = NULL;
                    switch (k) {
                    case 0: dst = &out->from_name; break;
                    case 1: dst = &out->by_name; break;
                    case 3: dst = &out->protocol; break;
                    case 4: dst = &out->id; break;
                    case 5: dst = &out->for_addr;
                            if (vn && v[0] == '<') { v++; vn--; }
                            if (vn && v[vn - 1] == '>') vn--;
                            break;
                    }
                    if (dst && !*dst && vn) *dst = sift_xstrndup(v, vn);
                    i++;
                }
                continue;
            }
        }
        (void)clause;
    }
    if (from_end > from_start) out->from_ip = find_ip(value + from_start, from_end - from_start);
}

void sift_received_clear(struct sift_received *r)
{
    free(r->from_name); free(r->from_ip); free(r->by_name); free(r->protocol);
    free(r->id); free(r->for_addr); free(r->date);
    memset(r, 0, sizeof *r);
}

/* ---- Authentication-Results -------------------------------------------- */

/* Copy of s[0..n) without (comments), quotes kept, white space runs collapsed. */
static char *strip_comments(const char *s, size_t n)
{
    struct sift_buf b = {0};
    int depth = 0, quoted = 0, space = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!depth && c == '"') quoted = !quoted;
        if (!quoted) {
            if (c == '(') { depth++; continue; }
            if (c == ')' && depth) { depth--; space = 1; continue; }
        }
        if (depth) continue;
        if (is_ws((unsigned char)c)) { space = 1; continue; }
        if (space && b.len) sift_buf_putc(&b, ' ');
        space = 0;
        sift_buf_putc(&b, (uint8_t)c);
    }
    if (!b.len) { sift_buf_free(&b); return sift_xstrdup(""); }
    return (char *)sift_buf_steal(&b, NULL);
}

/* Splits on ';' outside quotes and comments: returns the count, at most cap. */
static size_t split_semis(const char *s, const char **start, size_t *len, size_t cap)
{
    size_t k = 0, n = strnlen(s, HDR_MAX_INPUT), b = 0;
    int depth = 0, quoted = 0;
    for (size_t i = 0; i <= n && k < cap; i++) {
        char c = i < n ? s[i] : ';';
        if (!depth && c == '"') quoted = !quoted;
        if (!quoted && c == '(') depth++;
        else if (!quoted && c == ')' && depth) depth--;
        else if ((c == ';' && !quoted && !depth) || i == n) {
            start[k] = s + b; len[k] = i - b; k++;
            b = i + 1;
        }
    }
    return k;
}

static void add_result(struct sift_auth_result **r, size_t *n, const char *clean)
{
    /* "method[/version]=result [reason=...] [ptype.prop=value ...]" */
    const char *eq = strchr(clean, '=');
    const char *sp = strchr(clean, ' ');
    if (!eq || (sp && sp < eq) || *n >= HDR_MAX_ITEMS) return;
    struct sift_auth_result *o;
    *r = sift_xrealloc(*r, (*n + 1) * sizeof **r);
    o = &(*r)[(*n)++];
    memset(o, 0, sizeof *o);
    size_t mlen = (size_t)(eq - clean);
    const char *slash = memchr(clean, '/', mlen);
    if (slash) mlen = (size_t)(slash - clean);
    o->method = dup_lower_n(clean, mlen);
    const char *res = eq + 1;
    size_t rlen = strcspn(res, " ");
    o->result = dup_lower_n(res, rlen);
    const char *rest = res + rlen;
    struct sift_buf props = {0};
    while (*rest == ' ') rest++;
    while (*rest) {
        size_t wl = strcspn(rest, " ");
        /* a quoted value may contain spaces */
        const char *q = memchr(rest, '"', wl);
        if (q) {
            const char *close = strchr(q + 1, '"');
            if (close) wl = (size_t)(close - rest) + 1 + strcspn(close + 1, " ");
            else wl = strlen(rest);
        }
        if (wl > 7 && ieq(rest, 7, "reason=") && !o->reason) {
            const char *v = rest + 7;
            size_t vl = wl - 7;
            if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') { v++; vl -= 2; }
            o->reason = sift_xstrndup(v, vl);
        } else {
            if (props.len) sift_buf_putc(&props, ' ');
            sift_buf_append(&props, rest, wl);
        }
        rest += wl;
        while (*rest == ' ') rest++;
    }
    o->props = props.len ? (char *)sift_buf_steal(&props, NULL) : NULL;
    sift_buf_free(&props);
}

struct sift_auth_result *sift_auth_results_parse(const char *value, int arc, int *instance,
                                                 char **authserv_id, size_t *n)
{
    const char *st[HDR_MAX_ITEMS + 2];
    size_t ln[HDR_MAX_ITEMS + 2];
    struct sift_auth_result *r = NULL;
    *n = 0;
    *authserv_id = NULL;
    if (instance) *instance = -1;
    if (!value) return NULL;
    size_t k = split_semis(value, st, ln, SIFT_ARRAY_LEN(st));
    size_t i = 0;
    if (arc && i < k) {
        char *c = strip_comments(st[i], ln[i]);
        if ((c[0] == 'i' || c[0] == 'I') && c[1] == '=') {
            if (instance) *instance = atoi(c + 2);
            i++;
        }
        free(c);
    }
    if (i < k) {
        char *c = strip_comments(st[i], ln[i]);
        size_t w = strcspn(c, " ");
        if (w) *authserv_id = sift_xstrndup(c, w);
        free(c);
        i++;
    }
    for (; i < k; i++) {
        char *c = strip_comments(st[i], ln[i]);
        if (*c && !ieq(c, strlen(c), "none")) add_result(&r, n, c);
        free(c);
    }
    return r;
}

struct sift_auth_result *sift_received_spf_parse(const char *value, size_t *n)
{
    *n = 0;
    if (!value) return NULL;
    size_t vn = strnlen(value, HDR_MAX_INPUT);
    char *c = strip_comments(value, vn);
    size_t w = strcspn(c, " ");
    struct sift_auth_result *r = NULL;
    if (w) {
        r = sift_xcalloc(1, sizeof *r);
        *n = 1;
        r->method = sift_xstrdup("spf");
        r->result = dup_lower_n(c, w);
        const char *rest = c + w;
        while (*rest == ' ') rest++;
        if (*rest) {
            /* key=value pairs separated by ';' */
            struct sift_buf b = {0};
            for (const char *p = rest; *p; p++) {
                if (*p == ';') { while (p[1] == ' ') p++; if (p[1]) sift_buf_putc(&b, ' '); continue; }
                sift_buf_putc(&b, (uint8_t)*p);
            }
            r->props = b.len ? (char *)sift_buf_steal(&b, NULL) : NULL;
            sift_buf_free(&b);
        }
    }
    free(c);
    return r;
}

void sift_auth_results_free(struct sift_auth_result *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].method); free(r[i].result); free(r[i].reason); free(r[i].props);
    }
    free(r);
}

/* ---- tag lists ---------------------------------------------------------- */

struct sift_tag *sift_tags_parse(const char *value, size_t *n)
{
    *n = 0;
    if (!value) return NULL;
    struct sift_tag *t = NULL;
    const char *p = value, *end = value + strnlen(value, HDR_MAX_INPUT);
    while (p < end && *n < HDR_MAX_ITEMS) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *e = semi ? semi : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (eq) {
            char *name = dup_trim_n(p, (size_t)(eq - p));
            if (name) {
                struct sift_buf v = {0};
                for (const char *q = eq + 1; q < e; q++)
                    if (!is_ws((unsigned char)*q)) sift_buf_putc(&v, (uint8_t)*q);
                t = sift_xrealloc(t, (*n + 1) * sizeof *t);
                t[*n].name = name;
                t[*n].value = v.len ? (char *)sift_buf_steal(&v, NULL) : sift_xstrdup("");
                sift_buf_free(&v);
                (*n)++;
            }
        }
        p = semi ? semi + 1 : end;
    }
    return t;
}

const char *sift_tags_get(const struct sift_tag *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) return t[i].value;
    return NULL;
}

void sift_tags_free(struct sift_tag *t, size_t n)
{
    for (size_t i = 0; i < n; i++) { free(t[i].name); free(t[i].value); }
    free(t);
}
