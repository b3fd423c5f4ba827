/* detect_content.c — content rules over a decoded message (struct
 * sift_mime_summary): declared vs libmagic type, executables, double
 * extensions, deceptive link text. No I/O, no library; does NOT judge
 * reputation of hosts or hashes. */
#include "detect_content.h"

#include "html.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const exe_types[] = {
    "application/x-dosexec", "application/x-executable", "application/x-sharedlib",
    "application/x-pie-executable", "application/x-mach-binary", "application/x-msdownload",
    "application/vnd.microsoft.portable-executable", "application/x-msdos-program", NULL
};

/* Extensions Windows (or a browser) will run. */
static const char *const exe_exts[] = {
    "exe", "scr", "com", "pif", "bat", "cmd", "js", "jse", "vbs", "vbe", "wsf", "wsh", "hta",
    "msi", "lnk", "jar", "ps1", "cpl", "dll", "reg", "msc", "sys", "application", "appx", NULL
};

/* Extensions of what people expect to open safely. */
static const char *const doc_exts[] = {
    "pdf", "doc", "docx", "docm", "xls", "xlsx", "xlsm", "ppt", "pptx", "txt", "rtf", "jpg",
    "jpeg", "png", "gif", "bmp", "zip", "rar", "7z", "htm", "html", "csv", "odt", "ods", "mp3",
    "mp4", "wav", "avi", "mov", "eml", "xml", "tif", "tiff", NULL
};

static int in_list(const char *s, size_t n, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == n && !strncasecmp(s, *list, n)) return 1;
    return 0;
}

int sift_detect_is_executable_type(const char *t)
{
    return t && in_list(t, strlen(t), exe_types);
}

/* Last extension of name (after the last '.'), its length in *n; NULL if none. */
static const char *last_ext(const char *name, size_t end, size_t *n)
{
    size_t e = end;
    while (e && (name[e - 1] == ' ' || name[e - 1] == '.')) e--;   /* "x.exe. " tricks */
    size_t k = e;
    while (k && name[k - 1] != '.') k--;
    if (!k || k == e) return NULL;
    *n = e - k;
    return name + k;
}

static int exe_extension(const char *name)
{
    size_t n;
    const char *e = name ? last_ext(name, strlen(name), &n) : NULL;
    return e && in_list(e, n, exe_exts);
}

int sift_detect_double_extension(const char *name)
{
    if (!name) return 0;
    size_t n1, n2;
    const char *e1 = last_ext(name, strlen(name), &n1);
    if (!e1 || !in_list(e1, n1, exe_exts)) return 0;
    size_t end = (size_t)(e1 - name) - 1;            /* the '.' before the last extension */
    while (end && name[end - 1] == ' ') end--;       /* "invoice.pdf      .exe" */
    const char *e2 = last_ext(name, end, &n2);
    return e2 && in_list(e2, n2, doc_exts);
}

static int generic_declared(const char *t)
{
    static const char *const g[] = { "application/octet-stream", "application/x-download",
        "application/force-download", "application/unknown", "binary/octet-stream",
        "application/binary", "application/x-unknown", "application/download", NULL };
    return in_list(t, strlen(t), g);
}

static int generic_real(const char *t)
{
    static const char *const g[] = { "application/octet-stream", "text/plain", "application/x-empty",
        "inode/x-empty", "application/x-empty", "text/x-unknown", NULL };
    return in_list(t, strlen(t), g);
}

/* A coarse family, so that e.g. a .docx sniffed as application/zip agrees. */
static const char *family(const char *t)
{
    static const char *const zip[] = { "application/zip", "application/java-archive",
        "application/epub+zip", "application/x-zip-compressed", "application/x-zip", NULL };
    static const char *const ole[] = { "application/msword", "application/x-ole-storage",
        "application/cdfv2", "application/vnd.ms-outlook", NULL };
    if (sift_detect_is_executable_type(t)) return "executable";
    if (in_list(t, strlen(t), zip) || !strncasecmp(t, "application/vnd.openxmlformats", 30) ||
        !strncasecmp(t, "application/vnd.oasis.opendocument", 34) || !strncasecmp(t, "application/vnd.ms-excel.sheet.macro", 36))
        return "zip";
    if (in_list(t, strlen(t), ole) || !strncasecmp(t, "application/vnd.ms-", 19)) return "ole";
    if (!strncasecmp(t, "image/", 6)) return "image";
    if (!strncasecmp(t, "audio/", 6)) return "audio";
    if (!strncasecmp(t, "video/", 6)) return "video";
    if (!strcasecmp(t, "text/html") || !strcasecmp(t, "application/xhtml+xml")) return "html";
    if (!strncasecmp(t, "text/", 5) || !strcasecmp(t, "application/json") ||
        !strcasecmp(t, "application/xml") || !strcasecmp(t, "application/csv")) return "text";
    if (!strcasecmp(t, "message/rfc822")) return "message";
    return t;
}

int sift_detect_types_disagree(const char *declared, const char *real)
{
    if (!declared || !real || !*declared || !*real) return 0;
    if (sift_detect_is_executable_type(real)) return !sift_detect_is_executable_type(declared) &&
                                                     !generic_declared(declared);
    if (generic_declared(declared) || generic_real(real)) return 0;
    return strcasecmp(family(declared), family(real)) != 0;
}

/* Short, valid, single-line quote of an attacker string (bytes kept as given:
 * the caller's strings are valid UTF-8; cut on a character boundary). */
static void quote(const char *s, char *out, size_t cap)
{
    size_t n = s ? strlen(s) : 0, k = 0;
    if (n > 200) { n = 200; while (n && ((unsigned char)s[n] & 0xC0) == 0x80) n--; }
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        out[k++] = (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') ? ' ' : s[i];
    out[k] = '\0';
}

/* Same host, or one a subdomain of the other. */
static int same_site(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la == lb) return !strcmp(a, b);
    const char *lo = la > lb ? a : b, *sh = la > lb ? b : a;
    size_t ll = la > lb ? la : lb, ls = la > lb ? lb : la;
    return !strcmp(lo + ll - ls, sh) && lo[ll - ls - 1] == '.';
}

static const char *strip_www(const char *h)
{
    return !strncmp(h, "www.", 4) ? h + 4 : h;
}

void sift_detect_content(const struct sift_mime_summary *m, sift_finding_fn finding, void *user)
{
    char d[700], fq[256], tq[256];
    if (!m || !finding) return;
    for (size_t i = 0; i < m->n_parts; i++) {
        const struct sift_mime_part *p = &m->parts[i];
        if (!p->is_attachment) continue;
        int real_exe = sift_detect_is_executable_type(p->magic_type);
        quote(p->filename, fq, sizeof fq);
        if (p->magic_type && sift_detect_types_disagree(p->content_type, p->magic_type)) {
            snprintf(d, sizeof d, "part %s \"%s\": declared %s, content is %s", p->path, fq,
                     p->content_type, p->magic_type);
            finding(user, "attachment_type_mismatch", real_exe ? SIFT_SEV_HIGH : SIFT_SEV_MEDIUM, d, NULL);
        }
        if (sift_detect_double_extension(p->filename)) {
            snprintf(d, sizeof d, "part %s: file name \"%s\" hides an executable extension behind a document one",
                     p->path, fq);
            finding(user, "attachment_double_extension", SIFT_SEV_HIGH, d, NULL);
        }
        if (real_exe || exe_extension(p->filename) || sift_detect_is_executable_type(p->content_type)) {
            snprintf(d, sizeof d, "part %s \"%s\": %s (declared %s, content %s)", p->path, fq,
                     real_exe ? "executable content" : "executable by name or declared type",
                     p->content_type, p->magic_type ? p->magic_type : "unknown");
            finding(user, "attachment_executable", real_exe ? SIFT_SEV_HIGH : SIFT_SEV_MEDIUM, d, NULL);
        }
    }
    size_t reported = 0;
    for (size_t i = 0; i < m->n_urls && reported < 20; i++) {
        const struct sift_mime_url *u = &m->urls[i];
        if (!u->text || !u->host) continue;
        char *shown = sift_text_domain(u->text);
        if (shown && !same_site(strip_www(shown), strip_www(u->host)) && !same_site(shown, u->host)) {
            quote(u->text, tq, sizeof tq);
            quote(u->url, fq, sizeof fq);
            snprintf(d, sizeof d, "link text \"%s\" shows %s but the link goes to %s (%s)", tq, shown,
                     u->host, fq);
            finding(user, "link_text_mismatch", SIFT_SEV_MEDIUM, d, NULL);
            reported++;
        }
        free(shown);
    }
}
