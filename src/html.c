/* html.c — bounded HTML-to-text state machine and URL spotting for mail
 * bodies (HTML 4/5 tag syntax, RFC 3986 URL shapes). Handles comments,
 * quoted attributes, <script>/<style> skipping and the common character
 * references. Does NOT build a DOM, run scripts or resolve relative URLs. */
#include "html.h"

#include <stdlib.h>
#include <string.h>

#define URL_MAX   2048
#define LTEXT_MAX 512
#define TAG_MAX   16384       /* a longer tag is read but its attributes past this are ignored */

static int lc(int c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }
static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'; }

static int iprefix(const char *s, size_t n, const char *p)
{
    size_t m = strlen(p);
    if (n < m) return 0;
    for (size_t i = 0; i < m; i++)
        if (lc((unsigned char)s[i]) != lc((unsigned char)p[i])) return 0;
    return 1;
}

static void put_utf8(struct sift_buf *b, unsigned long cp)
{
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    if (cp < 0x80) sift_buf_putc(b, (uint8_t)cp);
    else if (cp < 0x800) { sift_buf_putc(b, (uint8_t)(0xC0 | cp >> 6)); sift_buf_putc(b, (uint8_t)(0x80 | (cp & 0x3F))); }
    else if (cp < 0x10000) {
        sift_buf_putc(b, (uint8_t)(0xE0 | cp >> 12)); sift_buf_putc(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
        sift_buf_putc(b, (uint8_t)(0x80 | (cp & 0x3F)));
    } else {
        sift_buf_putc(b, (uint8_t)(0xF0 | cp >> 18)); sift_buf_putc(b, (uint8_t)(0x80 | ((cp >> 12) & 0x3F)));
        sift_buf_putc(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3F))); sift_buf_putc(b, (uint8_t)(0x80 | (cp & 0x3F)));
    }
}

static const struct { const char *name; unsigned cp; } entities[] = {
    { "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' },
    { "nbsp", 0xA0 }, { "copy", 0xA9 }, { "reg", 0xAE }, { "euro", 0x20AC }, { "shy", 0xAD },
    { "zwnj", 0x200C }, { "zwj", 0x200D }, { "ndash", 0x2013 }, { "mdash", 0x2014 },
    { "hellip", 0x2026 }, { "laquo", 0xAB }, { "raquo", 0xBB }, { "uuml", 0xFC }, { "ouml", 0xF6 },
    { "auml", 0xE4 }, { "Uuml", 0xDC }, { "Ouml", 0xD6 }, { "Auml", 0xC4 }, { "szlig", 0xDF },
    { "eacute", 0xE9 }, { "egrave", 0xE8 }, { "agrave", 0xE0 }, { "ccedil", 0xE7 },
};

/* Decodes a character reference at s[0..n) (s[0] == '&'). Returns bytes
 * consumed (0: not a reference, copy the '&'). */
static size_t entity(const char *s, size_t n, struct sift_buf *out)
{
    if (n >= 3 && s[1] == '#') {
        size_t i = 2;
        int hex = 0;
        if (i < n && (s[i] == 'x' || s[i] == 'X')) { hex = 1; i++; }
        unsigned long v = 0;
        size_t d = 0;
        for (; i < n && d < 8; i++, d++) {
            int c = (unsigned char)s[i], x;
            if (c >= '0' && c <= '9') x = c - '0';
            else if (hex && lc(c) >= 'a' && lc(c) <= 'f') x = lc(c) - 'a' + 10;
            else break;
            v = v * (hex ? 16 : 10) + (unsigned long)x;
        }
        if (!d) return 0;
        if (i < n && s[i] == ';') i++;
        put_utf8(out, v);
        return i;
    }
    for (size_t k = 0; k < SIFT_ARRAY_LEN(entities); k++) {
        size_t m = strlen(entities[k].name);
        if (n >= m + 1 && !memcmp(s + 1, entities[k].name, m)) {
            size_t used = 1 + m;
            if (used < n && s[used] == ';') used++;
            put_utf8(out, entities[k].cp);
            return used;
        }
    }
    return 0;
}

/* Appends decoded text to out, collapsing white space (a single ' '). */
static void text_append(struct sift_buf *out, const char *s, size_t n, int *space)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (is_ws(c) || (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0xA0)) {
            *space = 1;
            i += is_ws(c) ? 1 : 2;
            continue;
        }
        if (*space && out->len && out->data[out->len - 1] != '\n') sift_buf_putc(out, ' ');
        *space = 0;
        if (c == '&') {
            size_t before = out->len;
            size_t used = entity(s + i, n - i, out);
            if (used) {
                /* a decoded nbsp counts as white space */
                if (out->len - before == 2 && out->data[before] == 0xC2 && out->data[before + 1] == 0xA0) {
                    out->len = before;
                    out->data[before] = 0;
                    *space = 1;
                }
                i += used;
                continue;
            }
        }
        sift_buf_putc(out, c);
        i++;
    }
}

static void newline(struct sift_buf *out, int *space)
{
    while (out->len && out->data[out->len - 1] == ' ') out->data[--out->len] = 0;
    if (out->len && out->data[out->len - 1] != '\n') sift_buf_putc(out, '\n');
    *space = 0;
}

static const char *const block_tags[] = {
    "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
    "blockquote", "hr", "pre", "title", "td", "th", NULL
};

/* Finds attribute name (lower-case) in the tag text t[0..n) after the tag
 * name; returns its value decoded into out (1) or 0. */
static int tag_attr(const char *t, size_t n, const char *name, struct sift_buf *out)
{
    size_t i = 0;
    while (i < n && !is_ws((unsigned char)t[i]) && t[i] != '/') i++;     /* tag name */
    while (i < n) {
        while (i < n && (is_ws((unsigned char)t[i]) || t[i] == '/')) i++;
        size_t ns = i;
        while (i < n && !is_ws((unsigned char)t[i]) && t[i] != '=' && t[i] != '/') i++;
        size_t nl = i - ns;
        while (i < n && is_ws((unsigned char)t[i])) i++;
        const char *v = NULL;
        size_t vl = 0;
        if (i < n && t[i] == '=') {
            i++;
            while (i < n && is_ws((unsigned char)t[i])) i++;
            if (i < n && (t[i] == '"' || t[i] == '\'')) {
                char q = t[i++];
                v = t + i;
                while (i < n && t[i] != q) i++;
                vl = (size_t)(t + i - v);
                if (i < n) i++;
            } else {
                v = t + i;
                while (i < n && !is_ws((unsigned char)t[i])) i++;
                vl = (size_t)(t + i - v);
            }
        }
        if (nl == strlen(name) && iprefix(t + ns, nl, name) && v) {
            int sp = 0;
            text_append(out, v, vl < URL_MAX * 2 ? vl : URL_MAX * 2, &sp);
            return 1;
        }
        if (!nl && i < n) i++;
    }
    return 0;
}

static void add_link(struct sift_link **l, size_t *n, const char *url, size_t ul, const char *text)
{
    if (*n >= SIFT_LINKS_MAX) return;
    if (ul > URL_MAX) ul = URL_MAX;
    while (ul && ((unsigned char)url[ul - 1] & 0xC0) == 0x80 && ul == URL_MAX) ul--;   /* cut on a char */
    *l = sift_xrealloc(*l, (*n + 1) * sizeof **l);
    (*l)[*n].url = sift_xstrndup(url, ul);
    (*l)[*n].text = text ? sift_xstrdup(text) : NULL;
    (*n)++;
}

char *sift_html_to_text(const char *s, size_t n, struct sift_link **links, size_t *n_links)
{
    struct sift_buf out = {0};
    int space = 0;
    int in_a = 0;                 /* inside <a href>: collecting its text */
    size_t a_start = 0;           /* out->len when the <a> opened */
    struct sift_buf href = {0};
    size_t i = 0;
    if (links) { *links = NULL; *n_links = 0; }
    while (i < n) {
        if (s[i] != '<') {
            size_t j = i;
            while (j < n && s[j] != '<') j++;
            text_append(&out, s + i, j - i, &space);
            i = j;
            continue;
        }
        /* comment */
        if (n - i >= 4 && !memcmp(s + i, "<!--", 4)) {
            const char *e = NULL;
            for (size_t k = i + 4; k + 2 < n + 0 && k + 3 <= n; k++)
                if (s[k] == '-' && s[k + 1] == '-' && s[k + 2] == '>') { e = s + k + 3; break; }
            i = e ? (size_t)(e - s) : n;
            continue;
        }
        /* a tag: '<' must be followed by a letter, '/', '!' or '?' */
        int c1 = i + 1 < n ? (unsigned char)s[i + 1] : 0;
        if (!((lc(c1) >= 'a' && lc(c1) <= 'z') || c1 == '/' || c1 == '!' || c1 == '?')) {
            text_append(&out, "<", 1, &space);
            i++;
            continue;
        }
        size_t ts = i + 1, k = ts;
        char q = 0;
        while (k < n) {                       /* end of tag: '>' outside quotes */
            if (q) { if (s[k] == q) q = 0; }
            else if (s[k] == '"' || s[k] == '\'') { if (k > ts && s[k - 1] == '=') q = s[k]; else if (k > ts && is_ws((unsigned char)s[k-1]) && k >= ts + 2 && s[k-2] == '=') q = s[k]; }
            else if (s[k] == '>') break;
            k++;
        }
        size_t tl = k - ts;
        if (tl > TAG_MAX) tl = TAG_MAX;
        const char *t = s + ts;
        i = k < n ? k + 1 : n;
        int closing = t[0] == '/';
        const char *name = closing ? t + 1 : t;
        size_t nl = 0;
        while (nl < tl - (size_t)closing && !is_ws((unsigned char)name[nl]) && name[nl] != '/' && name[nl] != '>') nl++;

        if (!closing && ((nl == 6 && iprefix(name, nl, "script")) || (nl == 5 && iprefix(name, nl, "style")))) {
            /* skip to </script> or </style> */
            const char *endtag = nl == 6 ? "</script" : "</style";
            size_t el = strlen(endtag), m = i;
            while (m < n && !(n - m >= el && iprefix(s + m, n - m, endtag))) m++;
            while (m < n && s[m] != '>') m++;
            i = m < n ? m + 1 : n;
            continue;
        }
        for (const char *const *b = block_tags; *b; b++)
            if (nl == strlen(*b) && iprefix(name, nl, *b)) { newline(&out, &space); break; }
        if (nl == 1 && lc((unsigned char)name[0]) == 'a') {
            if (closing && in_a) {
                if (links) {
                    size_t tlen = out.len - a_start;
                    const char *tp = out.len ? (const char *)out.data + a_start : "";
                    while (tlen && (*tp == ' ' || *tp == '\n')) { tp++; tlen--; }
                    while (tlen && (tp[tlen - 1] == ' ' || tp[tlen - 1] == '\n')) tlen--;
                    if (tlen > LTEXT_MAX) {
                        tlen = LTEXT_MAX;
                        while (tlen && ((unsigned char)tp[tlen] & 0xC0) == 0x80) tlen--;
                    }
                    char *txt = sift_xstrndup(tp, tlen);
                    for (char *p = txt; *p; p++) if (*p == '\n') *p = ' ';
                    add_link(links, n_links, (const char *)href.data, href.len, txt);
                    free(txt);
                }
                in_a = 0;
            } else if (!closing) {
                if (in_a && links)            /* unclosed previous <a>: keep it without text */
                    add_link(links, n_links, (const char *)href.data, href.len, "");
                sift_buf_reset(&href);
                in_a = 0;
                if (tag_attr(t, tl, "href", &href)) {
                    /* trim */
                    size_t a = 0, e = href.len;
                    while (a < e && href.data[a] == ' ') a++;
                    while (e > a && href.data[e - 1] == ' ') e--;
                    memmove(href.data, href.data + a, e - a);
                    href.len = e - a;
                    href.data[href.len] = 0;
                    if (href.len && href.data[0] != '#') {
                        in_a = 1;
                        if (space && out.len && out.data[out.len - 1] != '\n') sift_buf_putc(&out, ' ');
                        space = 0;
                        a_start = out.len;
                    }
                }
            }
        }
    }
    if (in_a && links) add_link(links, n_links, (const char *)href.data, href.len, "");
    sift_buf_free(&href);
    while (out.len && (out.data[out.len - 1] == ' ' || out.data[out.len - 1] == '\n')) out.data[--out.len] = 0;
    size_t st = 0;
    while (st < out.len && (out.data[st] == '\n' || out.data[st] == ' ')) st++;
    char *r = sift_xstrndup(out.len ? (const char *)out.data + st : "", out.len - st);
    sift_buf_free(&out);
    return r;
}

static int url_char(unsigned char c)
{
    return c > ' ' && c != '<' && c != '>' && c != '"' && c != 0x7F && c != '`';
}

void sift_text_urls(const char *s, size_t n, struct sift_link **links, size_t *n_links)
{
    static const char *const starts[] = { "http://", "https://", "ftp://", "www.", NULL };
    size_t i = 0;
    while (i < n && *n_links < SIFT_LINKS_MAX) {
        const char *hit = NULL;
        if (i == 0 || !((s[i - 1] >= 'a' && lc((unsigned char)s[i - 1]) <= 'z') || (s[i - 1] >= '0' && s[i - 1] <= '9') ||
                        s[i - 1] == '.' || s[i - 1] == '/' || s[i - 1] == '-')) {
            for (const char *const *p = starts; *p; p++)
                if (iprefix(s + i, n - i, *p)) { hit = *p; break; }
        }
        if (!hit) { i++; continue; }
        size_t j = i + strlen(hit);
        while (j < n && url_char((unsigned char)s[j])) j++;
        size_t e = j;
        /* trailing punctuation, and a ')' without '(' in the URL */
        while (e > i) {
            char c = s[e - 1];
            if (strchr(".,;:!?'", c)) { e--; continue; }
            if (c == ')' || c == ']') {          /* only if unbalanced inside the URL */
                char open = c == ')' ? '(' : '[';
                size_t no = 0, nc = 0;
                for (size_t k = i; k < e; k++) { no += s[k] == open; nc += s[k] == c; }
                if (nc > no) { e--; continue; }
            }
            break;
        }
        if (e > i + strlen(hit)) add_link(links, n_links, s + i, e - i, NULL);
        i = j;
    }
}

char *sift_url_host(const char *url)
{
    const char *p = url;
    while (*p == ' ') p++;
    const char *h;
    const char *colon = strstr(p, "://");
    const char *firstsep = p + strcspn(p, "/?#");
    if (colon && colon < firstsep + 1 && colon <= firstsep) h = colon + 3;
    else if (iprefix(p, strlen(p), "www.")) h = p;
    else if (p[0] == '/' && p[1] == '/') h = p + 2;
    else return NULL;
    size_t n = strcspn(h, "/?#\\");
    /* userinfo: everything up to the last '@' of the authority */
    for (size_t k = n; k > 0; k--)
        if (h[k - 1] == '@') { h += k; n -= k; break; }
    size_t e = n;
    if (n && h[0] == '[') { const char *rb = memchr(h, ']', n); if (rb) e = (size_t)(rb - h) + 1; }
    else { const char *c = memchr(h, ':', n); if (c) e = (size_t)(c - h); }
    while (e && h[e - 1] == '.') e--;
    if (!e) return NULL;
    char *r = sift_xstrndup(h, e);
    for (char *q = r; *q; q++) *q = (char)lc((unsigned char)*q);
    return r;
}

char *sift_text_domain(const char *text)
{
    if (!text) return NULL;
    while (*text == ' ' || *text == '<' || *text == '(' || *text == '"') text++;
    char *host = sift_url_host(text);
    if (host) return host;
    /* a bare domain: labels of [a-z0-9-], at least one dot, a letter TLD, optionally a path */
    size_t n = 0;
    int dots = 0;
    while (text[n] && ((lc((unsigned char)text[n]) >= 'a' && lc((unsigned char)text[n]) <= 'z') ||
                       (text[n] >= '0' && text[n] <= '9') || text[n] == '-' || text[n] == '.')) {
        if (text[n] == '.') dots++;
        n++;
    }
    const char *rest = text + n;
    while (n && text[n - 1] == '.') { n--; dots--; }
    if (!dots || n < 4) return NULL;
    if (*rest && *rest != '/' && *rest != ' ' && *rest != '>' && *rest != ')' && *rest != '"') return NULL;
    size_t tld = n;
    while (tld && text[tld - 1] != '.') tld--;
    if (n - tld < 2) return NULL;
    for (size_t k = tld; k < n; k++)
        if (!(lc((unsigned char)text[k]) >= 'a' && lc((unsigned char)text[k]) <= 'z')) return NULL;
    /* "report.pdf" is a file name, not a domain */
    static const char *const file_exts[] = { "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "exe",
        "htm", "html", "jpg", "jpeg", "png", "gif", "txt", "csv", "js", "php", "asp", "aspx", NULL };
    for (const char *const *e = file_exts; *e; e++)
        if (n - tld == strlen(*e) && iprefix(text + tld, n - tld, *e)) return NULL;
    char *r = sift_xstrndup(text, n);
    for (char *q = r; *q; q++) *q = (char)lc((unsigned char)*q);
    return r;
}

void sift_links_free(struct sift_link *l, size_t n)
{
    for (size_t i = 0; i < n; i++) { free(l[i].url); free(l[i].text); }
    free(l);
}
