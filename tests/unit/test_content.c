/* test_content.c — what a message carries (issue 4): per-part MD5/SHA-1/
 * SHA-256 (values from md5sum/sha1sum/sha256sum of the source bytes), the
 * libmagic type, content findings, the Received chain, authentication
 * headers, DKIM/ARC tags, URLs and HTML text, and attachment extraction with
 * hostile file names (only hash-named files may appear, only inside DIR). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "detect_content.h"
#include "filetype.h"
#include "hdrparse.h"
#include "html.h"
#include "mime.h"
#include "outfile.h"

struct findings { char rules[64][48]; char details[64][700]; size_t n; };

static void on_finding(void *user, const char *rule, enum sift_severity sev, const char *detail,
                       const struct sift_pktref *where)
{
    struct findings *f = user;
    (void)sev; (void)where;
    if (f->n < 64) {
        snprintf(f->rules[f->n], sizeof f->rules[0], "%s", rule);
        snprintf(f->details[f->n], sizeof f->details[0], "%s", detail);
    }
    f->n++;
}

static size_t count_rule(const struct findings *f, const char *rule)
{
    size_t k = 0;
    for (size_t i = 0; i < f->n && i < 64; i++) k += !strcmp(f->rules[i], rule);
    return k;
}

static const char *detail_of(const struct findings *f, const char *rule, int nth)
{
    for (size_t i = 0; i < f->n && i < 64; i++)
        if (!strcmp(f->rules[i], rule) && nth-- == 0) return f->details[i];
    fail_msg("no finding %s", rule);
    return NULL;
}

static uint8_t *load(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/eml/%s", SIFT_FIXTURES, name);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return b;
}

static struct sift_mime_summary *parse(const char *name, int dirfd, struct findings *f)
{
    size_t len;
    uint8_t *b = load(name, &len);
    memset(f, 0, sizeof *f);
    struct sift_mime_opts o = { .extract_dirfd = dirfd };
    struct sift_mime_summary *m = sift_mime_parse_ex(b, len, &o, on_finding, f);
    free(b);
    sift_detect_content(m, on_finding, f);
    return m;
}

static void eqs(const char *got, const char *want)
{
    if (!want) { assert_null(got); return; }
    assert_non_null(got);
    assert_string_equal(got, want);
}

/* ---- Received, authentication, signatures ---- */

static void test_trace(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse("trace_html.eml", -1, &f);
    assert_int_equal(m->n_received, 3);
    const struct sift_mime_received *r = &m->received[0];
    eqs(r->hop.from_name, "mail.evil.example");
    eqs(r->hop.from_ip, "203.0.113.9");
    eqs(r->hop.by_name, "mx.example.com");
    eqs(r->hop.protocol, "ESMTPS");
    eqs(r->hop.id, "4ABC123");
    eqs(r->hop.for_addr, "bob@example.com");
    eqs(r->hop.date, "Tue, 02 Jan 2024 10:00:05 +0100");
    assert_int_equal(r->has_ts, 1);
    assert_int_equal(r->ts, 1704186005);          /* date -u -d '2024-01-02 09:00:05' +%s */
    assert_int_equal(r->header_seq, 0);
    r = &m->received[1];
    eqs(r->hop.from_name, "[10.0.0.5]");
    eqs(r->hop.from_ip, "10.0.0.5");
    eqs(r->hop.by_name, "mail.evil.example");
    eqs(r->hop.protocol, "esmtpa");
    eqs(r->hop.id, "1rKxyz-000abc");
    assert_int_equal(r->ts, 1704185999);
    r = &m->received[2];
    eqs(r->hop.from_ip, "::1");
    eqs(r->hop.protocol, "LMTP");
    eqs(r->hop.date, "bad date");
    assert_int_equal(r->has_ts, 0);

    assert_int_equal(m->n_auth, 5);
    const struct sift_mime_auth *a = &m->auth[0];
    eqs(a->header, "authentication-results");
    eqs(a->authserv_id, "mx.example.com");
    eqs(a->method, "spf"); eqs(a->result, "pass"); eqs(a->props, "smtp.mailfrom=a@evil.example");
    assert_int_equal(a->instance, -1);
    a = &m->auth[1];
    eqs(a->method, "dkim"); eqs(a->result, "fail"); eqs(a->reason, "bad signature");
    eqs(a->props, "header.d=evil.example header.s=sel1");
    a = &m->auth[2];
    eqs(a->method, "dmarc"); eqs(a->result, "none"); eqs(a->props, NULL);
    a = &m->auth[3];
    eqs(a->header, "arc-authentication-results");
    assert_int_equal(a->instance, 1);
    eqs(a->authserv_id, "relay.example");
    eqs(a->method, "spf"); eqs(a->result, "softfail");
    a = &m->auth[4];
    eqs(a->header, "received-spf");
    eqs(a->method, "spf"); eqs(a->result, "pass");
    eqs(a->props, "identity=mailfrom client-ip=203.0.113.9 helo=mail.evil.example");

    assert_int_equal(m->n_dkim, 2);
    const struct sift_mime_dkim *d = &m->dkim[0];
    eqs(d->header, "dkim-signature");
    eqs(d->version, "1"); eqs(d->algorithm, "rsa-sha256"); eqs(d->domain, "evil.example");
    eqs(d->selector, "sel1"); eqs(d->canonicalization, "relaxed/relaxed");
    eqs(d->signed_headers, "From:To:Subject:Date");
    eqs(d->body_hash, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    assert_int_equal(d->has_timestamp, 1);
    assert_int_equal(d->timestamp, 1704186000);
    assert_int_equal(d->instance, -1);
    d = &m->dkim[1];
    eqs(d->header, "arc-seal");
    assert_int_equal(d->instance, 1);
    eqs(d->chain_validation, "none"); eqs(d->domain, "relay.example"); eqs(d->selector, "arc1");

    eqs(m->x_mailer, "Microsoft Outlook 16.0");
    eqs(m->user_agent, "Mutt/2.2.9");
    eqs(m->x_originating_ip, "198.51.100.23");
    sift_mime_free(m);
}

/* ---- URLs and HTML ---- */

static void test_urls_html(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse("trace_html.eml", -1, &f);
    assert_int_equal(m->n_parts, 2);
    eqs(m->parts[1].html_text,
        "Dear customer,\nPlease www.bank.example now & then\nbank.example help https://bank.example/ top Write <ok> é€");
    assert_null(m->parts[0].html_text);
    static const struct { size_t part; const char *url, *host, *text; } want[] = {
        { 0, "https://www.bank.example/login?x=1", "www.bank.example", NULL },
        { 0, "http://evil.example/a_(b)", "evil.example", NULL },
        { 0, "www.help.example", "www.help.example", NULL },
        { 0, "ftp://files.example:21/x", "files.example", NULL },
        { 1, "http://login.evil.example/bank", "login.evil.example", "www.bank.example" },
        { 1, "https://www.bank.example/help", "www.bank.example", "bank.example help" },
        { 1, "http://user@bank.example@evil.example/", "evil.example", "https://bank.example/" },
        { 1, "mailto:x@y.example", NULL, "Write" },
    };
    assert_int_equal(m->n_urls, SIFT_ARRAY_LEN(want));
    for (size_t i = 0; i < SIFT_ARRAY_LEN(want); i++) {
        assert_int_equal(m->urls[i].part, want[i].part);
        eqs(m->urls[i].url, want[i].url);
        eqs(m->urls[i].host, want[i].host);
        eqs(m->urls[i].text, want[i].text);
    }
    /* two links show bank.example but go elsewhere; "bank.example help" -> www.bank.example is fine */
    assert_int_equal(count_rule(&f, "link_text_mismatch"), 2);
    assert_string_equal(detail_of(&f, "link_text_mismatch", 0),
        "link text \"www.bank.example\" shows www.bank.example but the link goes to login.evil.example"
        " (http://login.evil.example/bank)");
    sift_mime_free(m);
}

static void test_html_bounds(void **state)
{
    (void)state;
    struct sift_link *l;
    size_t n;
    /* unterminated tag, comment and script: no overrun, nothing invented */
    char *t = sift_html_to_text("a<b", 3, &l, &n);
    assert_string_equal(t, "a"); assert_int_equal(n, 0); free(t); sift_links_free(l, n);
    t = sift_html_to_text("x<!-- y", 7, &l, &n);
    assert_string_equal(t, "x"); free(t); sift_links_free(l, n);
    t = sift_html_to_text("1 < 2 <script>z", 15, &l, &n);
    assert_string_equal(t, "1 < 2"); free(t); sift_links_free(l, n);
    t = sift_html_to_text("<a href=\"http://a.example\">open", 31, &l, &n);
    assert_string_equal(t, "open"); assert_int_equal(n, 1);
    assert_string_equal(l[0].url, "http://a.example"); assert_string_equal(l[0].text, "");
    free(t); sift_links_free(l, n);
    /* many links: capped */
    struct sift_buf b = {0};
    for (int i = 0; i < 1500; i++) sift_buf_append(&b, "<a href=http://x.example>x</a>", 30);
    t = sift_html_to_text((const char *)b.data, b.len, &l, &n);
    assert_int_equal(n, SIFT_LINKS_MAX);
    free(t); sift_links_free(l, n); sift_buf_free(&b);
    char *h = sift_url_host("HTTP://User:pw@WWW.Example.COM:8080/p?q#f");
    assert_string_equal(h, "www.example.com"); free(h);
    assert_null(sift_url_host("/relative/path"));
    h = sift_text_domain("paypal.com"); assert_string_equal(h, "paypal.com"); free(h);
    assert_null(sift_text_domain("Click here"));
    assert_null(sift_text_domain("report.pdf"));
    assert_null(sift_text_domain("version 1.2.3"));
}

/* ---- attachments: hashes, libmagic, findings ---- */

static void test_attachments(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse("attachments.eml", -1, &f);
    assert_int_equal(m->n_parts, 9);
    const struct sift_mime_part *p = &m->parts[1];           /* PE bytes declared as a PDF */
    assert_string_equal(p->filename, "invoice.pdf");
    assert_int_equal(p->size, 336);
    /* md5sum / sha1sum / sha256sum of the bytes written by the fixture generator */
    assert_string_equal(p->md5, "3b2d7b47d22c52ff82a307db7e12f071");
    assert_string_equal(p->sha1, "c4bad9b36a742ee06b62985e783060b24e5e9635");
    assert_string_equal(p->sha256, "6a8817c103efda00b0696b89284f4b55bcfa6577ddaa2ac0bcfccfb068ea4e03");
    assert_string_equal(p->magic_type, "application/vnd.microsoft.portable-executable");   /* file --mime-type */
    p = &m->parts[2];
    assert_string_equal(p->filename, "invoice.pdf.exe");
    assert_string_equal(p->md5, "f05285f24eb4ca080ccbd573c23954ea");
    assert_string_equal(p->sha1, "0fec887e91cd282d985e680c7aca6e504881501a");
    assert_string_equal(p->sha256, "5a838678058f6de375e8635b5f2fea47a4e5f07cb1a882a44b10f39abc6f34ff");
    assert_string_equal(p->magic_type, "application/pdf");
    assert_string_equal(m->parts[3].magic_type, "application/pdf");
    assert_null(m->parts[0].magic_type);   /* text bodies are not sniffed (only attachments) */
    /* printf 'see attached' | md5sum (the CRLF before a boundary belongs to it) */
    assert_string_equal(m->parts[0].md5, "ad57a9714e66e656d7315a283910cd76");

    assert_int_equal(count_rule(&f, "attachment_type_mismatch"), 1);
    assert_string_equal(detail_of(&f, "attachment_type_mismatch", 0),
        "part 2 \"invoice.pdf\": declared application/pdf, content is application/vnd.microsoft.portable-executable");
    assert_int_equal(count_rule(&f, "attachment_double_extension"), 1);
    assert_string_equal(detail_of(&f, "attachment_double_extension", 0),
        "part 3: file name \"invoice.pdf.exe\" hides an executable extension behind a document one");
    assert_int_equal(count_rule(&f, "attachment_executable"), 2);   /* the PE bytes, and the .exe name */
    sift_mime_free(m);

    assert_int_equal(sift_detect_double_extension("Invoice.PDF   .scr"), 1);
    assert_int_equal(sift_detect_double_extension("photo.jpg.js"), 1);
    assert_int_equal(sift_detect_double_extension("setup.exe"), 0);
    assert_int_equal(sift_detect_double_extension("archive.tar.gz"), 0);
    assert_int_equal(sift_detect_types_disagree("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                                                "application/zip"), 0);
    assert_int_equal(sift_detect_types_disagree("image/png", "image/jpeg"), 0);
    assert_int_equal(sift_detect_types_disagree("application/pdf", "application/zip"), 1);
    assert_int_equal(sift_detect_types_disagree("application/octet-stream", "application/pdf"), 0);
    assert_int_equal(sift_detect_types_disagree("image/jpeg", "text/plain"), 0);
}

/* ---- extraction: hostile names never become paths ---- */

static void test_extract_hostile_names(void **state)
{
    (void)state;
    char base[] = "/tmp/sift-extract-XXXXXX";
    assert_non_null(mkdtemp(base));
    char dir[600];
    snprintf(dir, sizeof dir, "%s/out", base);
    char err[256];
    int fd = sift_outdir_open(dir, err, sizeof err);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);

    struct findings f;
    struct sift_mime_summary *m = parse("attachments.eml", fd, &f);
    assert_int_equal(count_rule(&f, "extract_failed"), 0);
    /* the text part is no attachment; the two PDF-bytes parts share one file */
    assert_null(m->parts[0].extracted_path);
    static const char *const want[] = {
        "6a8817c103efda00b0696b89284f4b55bcfa6577ddaa2ac0bcfccfb068ea4e03",
        "5a838678058f6de375e8635b5f2fea47a4e5f07cb1a882a44b10f39abc6f34ff",
        "5a838678058f6de375e8635b5f2fea47a4e5f07cb1a882a44b10f39abc6f34ff",
        "8909d3823a751411b80147fcb8d19e0b517c683aaf43e35fb92cfd53f5c1fb95",   /* "../../x" */
        "dae00478f0c0251654a6fddfaebb26c12136cb630a9811d07cfe2e0f144e18c7",   /* "/etc/passwd" */
        "bbdbb75b415ee9a40f0b3796a8b41a0b7723afe5726b870474ad220a4886d06d",   /* 5,000 x 'A' */
        "90f66b38cbad2045d689b8798827ad56b803a33e1db51cdc12564081d18afccd",   /* RFC 2047 "../slash/evil" */
        "2d7503d47be4117b5666ea007dbade3fc5a24e4ab6847575d768295a6004b563",   /* RFC 2231 NUL + "/../x" */
    };
    for (size_t i = 0; i < SIFT_ARRAY_LEN(want); i++) {
        assert_non_null(m->parts[i + 1].extracted_path);
        assert_string_equal(m->parts[i + 1].extracted_path, want[i]);
    }
    assert_string_equal(m->parts[4].filename, "../../x");
    assert_string_equal(m->parts[5].filename, "/etc/passwd");
    assert_int_equal(strlen(m->parts[6].filename), 5000);
    assert_string_equal(m->parts[7].filename, "../slash/evil");
    sift_mime_free(m);

    /* DIR holds exactly the 7 distinct hash-named files, each 0600; nothing next to DIR */
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    size_t n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') { assert_true(!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")); continue; }
        n++;
        assert_int_equal(strlen(e->d_name), 64);
        assert_int_equal(strspn(e->d_name, "0123456789abcdef"), 64);
        assert_int_equal(fstatat(fd, e->d_name, &sb, 0), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
    }
    closedir(d);
    assert_int_equal(n, 7);
    d = opendir(base);
    n = 0;
    while ((e = readdir(d))) if (e->d_name[0] != '.') n++;
    closedir(d);
    assert_int_equal(n, 1);                                       /* only "out" */

    /* a second pass keeps the files (written once) and still reports the paths */
    m = parse("attachments.eml", fd, &f);
    assert_string_equal(m->parts[1].extracted_path, want[0]);
    sift_mime_free(m);

    /* read back one file: the exact decoded bytes */
    int xf = openat(fd, want[3], O_RDONLY);
    char buf[16] = {0};
    assert_int_equal(read(xf, buf, sizeof buf), 5);
    assert_string_equal(buf, "dots\n");
    close(xf);

    DIR *dd = opendir(dir);
    while ((e = readdir(dd))) if (e->d_name[0] != '.') unlinkat(fd, e->d_name, 0);
    closedir(dd);
    close(fd);
    rmdir(dir);
    rmdir(base);
}

/* uuencoded blocks in a text body are extracted like attachments: by SHA-256,
 * the begin line's "../../x" never used (values: see test_uuencode in test_mime.c) */
static void test_extract_uuencode(void **state)
{
    (void)state;
    char base[] = "/tmp/sift-extract-uu-XXXXXX";
    assert_non_null(mkdtemp(base));
    int fd = open(base, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    struct findings f;
    struct sift_mime_summary *m = parse("uuencode.eml", fd, &f);
    assert_int_equal(count_rule(&f, "extract_failed"), 0);
    assert_int_equal(count_rule(&f, "mime_uuencode_malformed"), 1);
    assert_int_equal(m->n_parts, 3);
    assert_null(m->parts[0].extracted_path);
    static const char *const want[] = {
        "3be5617e9d16d48ff7c503457411f6e7c5f9857ee631c23ff3ec45b85bba1b7b",   /* report.txt */
        "ee008b17f0184f659dc798e138ffd0a968789fcdfc0314e4fd19760f6f50c7d6",   /* "../../x" */
    };
    for (size_t i = 0; i < 2; i++) eqs(m->parts[i + 1].extracted_path, want[i]);
    /* no content-type mismatch: the type of a uuencoded block is libmagic's */
    assert_int_equal(count_rule(&f, "attachment_type_mismatch"), 0);
    sift_mime_free(m);

    struct stat sb;
    assert_int_equal(fstatat(fd, want[1], &sb, 0), 0);
    assert_int_equal(sb.st_size, 272);
    DIR *d = opendir(base);
    struct dirent *e;
    size_t n = 0;
    while ((e = readdir(d))) if (e->d_name[0] != '.') { n++; unlinkat(fd, e->d_name, 0); }
    closedir(d);
    assert_int_equal(n, 2);                                       /* nothing but the two */
    close(fd);
    rmdir(base);
}

static void test_outfile_names(void **state)
{
    (void)state;
    char base[] = "/tmp/sift-outfile-XXXXXX";
    assert_non_null(mkdtemp(base));
    int fd = open(base, O_RDONLY | O_DIRECTORY);
    assert_int_equal(sift_outfile_put(fd, "../escape", "x", 1), -1);
    assert_int_equal(sift_outfile_put(fd, "a/b", "x", 1), -1);
    assert_int_equal(sift_outfile_put(fd, ".hidden", "x", 1), -1);
    assert_int_equal(sift_outfile_put(fd, "abc.eml", "x", 1), 1);
    assert_int_equal(sift_outfile_put(fd, "abc.eml", "y", 1), 0);    /* kept, not replaced */
    char c = 0;
    int r = openat(fd, "abc.eml", O_RDONLY);
    assert_int_equal(read(r, &c, 1), 1);
    assert_int_equal(c, 'x');
    close(r);
    DIR *d = opendir(base);
    struct dirent *e;
    size_t n = 0;
    while ((e = readdir(d))) if (e->d_name[0] != '.') n++;
    closedir(d);
    assert_int_equal(n, 1);                                         /* no temporary left */
    unlinkat(fd, "abc.eml", 0);
    close(fd);
    rmdir(base);
}

static void test_hdrparse_edges(void **state)
{
    (void)state;
    struct sift_received r;
    sift_received_parse("", &r);
    assert_null(r.from_name); assert_null(r.date);
    sift_received_clear(&r);
    sift_received_parse("from x (((((unclosed; Mon, 1 Jan 2024 00:00:00 +0000", &r);
    eqs(r.from_name, "x");
    assert_null(r.date);            /* the ';' is inside the unclosed comment */
    sift_received_clear(&r);
    sift_received_parse("by mx id 1 (comment; with ;) ; Mon, 1 Jan 2024 00:00:00 +0000", &r);
    eqs(r.by_name, "mx"); eqs(r.id, "1"); eqs(r.date, "Mon, 1 Jan 2024 00:00:00 +0000");
    sift_received_clear(&r);
    int inst; char *serv; size_t n;
    struct sift_auth_result *a = sift_auth_results_parse("mx.example.com 1; none", 0, &inst, &serv, &n);
    assert_int_equal(n, 0); eqs(serv, "mx.example.com");
    sift_auth_results_free(a, n); free(serv);
    size_t nt;
    struct sift_tag *t = sift_tags_parse("v=1;;=x; d = ex ample.org ;bad", &nt);
    assert_int_equal(nt, 2);
    eqs(sift_tags_get(t, nt, "d"), "example.org");
    sift_tags_free(t, nt);
}

static int setup(void **state) { (void)state; sift_mime_init(); return 0; }
static int teardown(void **state) { (void)state; sift_mime_shutdown(); return 0; }

/* The signatures filetype.c answers without libmagic get exactly libmagic's
 * answer, whatever follows them (random tails of random lengths, and bytes
 * that look like other formats). */
static void test_filetype_fast_path_is_libmagic(void **state)
{
    (void)state;
    static const struct { const char *sig; size_t len; const char *want; } sigs[] = {
        { "%PDF-", 5, "application/pdf" }, { "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", 15, "application/pdf" },
        { "\xff\xd8\xff", 3, "image/jpeg" }, { "\xff\xd8\xff\xe0\0\x10JFIF\0", 11, "image/jpeg" },
        { "\xff\xd8\xff\xe1\0\x10" "Exif\0", 11, "image/jpeg" },
        { "GIF87a", 6, "image/gif" }, { "GIF89a\x10\0\x10\0", 10, "image/gif" },
        { "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16, "image/png" },
        { "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0", 29, "image/png" },
    };
    static const char *tails[] = { "", "PK\3\4", "MZ\x90\0", "<html>", "%!PS-Adobe", "\x1f\x8b\x08" };
    unsigned seed = 99;
    uint8_t buf[5000];
    for (size_t k = 0; k < sizeof sigs / sizeof *sigs; k++) {
        for (int trial = 0; trial < 40; trial++) {
            size_t n = sigs[k].len;
            memcpy(buf, sigs[k].sig, n);
            const char *t = tails[trial % 6];
            memcpy(buf + n, t, strlen(t));
            n += strlen(t);
            size_t extra = trial < 6 ? 0 : (size_t)(rand_r(&seed) % (sizeof buf - n));
            for (size_t j = 0; j < extra; j++) buf[n + j] = (uint8_t)rand_r(&seed);
            n += extra;
            char fast[128], slow[128];
            assert_int_equal(sift_filetype_mime_ex(buf, n, fast, sizeof fast, 1), 0);
            assert_int_equal(sift_filetype_mime_ex(buf, n, slow, sizeof slow, 0), 0);
            if (strcmp(fast, slow) != 0 || (n >= 64 && strcmp(fast, sigs[k].want) != 0))
                fail_msg("signature %zu, trial %d, %zu bytes: fast %s, libmagic %s", k, trial, n, fast, slow);
        }
    }
}

/* Remembered answers: the same bytes again are answered from memory, and
 * always with libmagic's answer for exactly those bytes — 700 inputs (more
 * than the 256 slots, so slots are replaced), each asked 3 times in a shuffled
 * order, some differing from another only in their last byte or length. */
static void test_filetype_cache_is_libmagic(void **state)
{
    (void)state;
    enum { N = 700 };
    static uint8_t in[N][600];
    size_t len[N];
    unsigned seed = 7;
    static const char *starts[] = { "", "PK\3\4", "MZ\x90\0", "<html><body>", "hello, world\n",
                                    "{\"a\": 1}", "\x1f\x8b\x08", "#!/bin/sh\n" };
    for (size_t i = 0; i < N; i++) {
        if (i % 10 == 9) {                     /* a near twin of the one before */
            memcpy(in[i], in[i - 1], sizeof in[i]);
            len[i] = len[i - 1];
            if (i % 20 == 19 && len[i] > 1) len[i]--;
            else in[i][len[i] - 1] ^= 1;
            continue;
        }
        const char *st = starts[i % 8];
        size_t k = strlen(st);
        memcpy(in[i], st, k);
        len[i] = k + 1 + (size_t)(rand_r(&seed) % (sizeof in[i] - k - 1));
        int text = i % 3 == 0;
        for (size_t j = k; j < len[i]; j++)
            in[i][j] = text ? (uint8_t)("abcdefgh ijk\n"[rand_r(&seed) % 13]) : (uint8_t)rand_r(&seed);
    }
    uint64_t h0, m0, h1, m1;
    sift_filetype_cache_stats(&h0, &m0);
    size_t asks = 0;
    for (int round = 0; round < 3; round++)
        for (size_t x = 0; x < N; x++) {
            size_t i = (x * 389 + (size_t)round * 97) % N;   /* 389 and N coprime: a permutation */
            char got[128], want[128];
            assert_int_equal(sift_filetype_mime_ex(in[i], len[i], got, sizeof got, 1), 0);
            assert_int_equal(sift_filetype_mime_ex(in[i], len[i], want, sizeof want, 0), 0);
            if (strcmp(got, want) != 0) fail_msg("input %zu (%zu bytes): cached %s, libmagic %s", i, len[i], got, want);
            asks++;
        }
    sift_filetype_cache_stats(&h1, &m1);
    /* every ask is either answered from memory or remembered; with 256 slots some must hit */
    assert_int_equal((h1 - h0) + (m1 - m0), asks);
    assert_true(h1 - h0 > 0);
    assert_true(m1 - m0 >= N - N / 20);            /* at least every distinct input once */
    /* the same bytes right after: from memory */
    char a[128], b[128];
    assert_int_equal(sift_filetype_mime_ex(in[5], len[5], a, sizeof a, 1), 0);
    sift_filetype_cache_stats(&h0, &m0);
    assert_int_equal(sift_filetype_mime_ex(in[5], len[5], b, sizeof b, 1), 0);
    sift_filetype_cache_stats(&h1, &m1);
    assert_string_equal(a, b);
    assert_int_equal(h1 - h0, 1);
    assert_int_equal(m1 - m0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace),
        cmocka_unit_test(test_filetype_fast_path_is_libmagic),
        cmocka_unit_test(test_filetype_cache_is_libmagic),
        cmocka_unit_test(test_urls_html),
        cmocka_unit_test(test_html_bounds),
        cmocka_unit_test(test_attachments),
        cmocka_unit_test(test_extract_hostile_names),
        cmocka_unit_test(test_extract_uuencode),
        cmocka_unit_test(test_outfile_names),
        cmocka_unit_test(test_hdrparse_edges),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
