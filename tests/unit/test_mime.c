/* test_mime.c — mime.c on .eml fixtures (tests/fixtures/eml) and a few
 * generated messages: exact decoded headers, addresses, part paths, sizes and
 * SHA-256 values (each computed independently, see the comments). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "mime.h"
#include "hash.h"

#include <glib.h>

/* ---- helpers ---- */

struct findings {
    char rules[256][48];
    size_t n;
};

static void on_finding(void *user, const char *rule, enum sift_severity sev,
                       const char *detail, const struct sift_pktref *where)
{
    struct findings *f = user;
    (void)sev; (void)where;
    assert_non_null(detail);
    if (f->n < 256) snprintf(f->rules[f->n], sizeof f->rules[0], "%s", rule);
    f->n++;
}

static int has_finding(const struct findings *f, const char *rule)
{
    for (size_t i = 0; i < f->n && i < 256; i++)
        if (!strcmp(f->rules[i], rule)) return 1;
    return 0;
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

static struct sift_mime_summary *parse_file(const char *name, struct findings *f)
{
    size_t len;
    uint8_t *b = load(name, &len);
    memset(f, 0, sizeof *f);
    struct sift_mime_summary *m = sift_mime_parse(b, len, on_finding, f);
    free(b);
    assert_non_null(m);
    return m;
}

static struct sift_mime_summary *parse_str(const char *s, struct findings *f)
{
    memset(f, 0, sizeof *f);
    struct sift_mime_summary *m = sift_mime_parse((const uint8_t *)s, strlen(s), on_finding, f);
    assert_non_null(m);
    return m;
}

static const struct sift_mime_header *hdr(const struct sift_mime_summary *m, const char *name, int nth)
{
    for (size_t i = 0; i < m->n_headers; i++)
        if (!strcmp(m->headers[i].name, name) && nth-- == 0) return &m->headers[i];
    fail_msg("header %s not found", name);
    return NULL;
}

static void assert_raw(const struct sift_mime_header *h, const char *raw)
{
    assert_int_equal(h->raw_len, strlen(raw));
    assert_memory_equal(h->raw, raw, h->raw_len);
}

static void assert_addr(const struct sift_mime_address *a, const char *field, const char *name,
                        const char *addr, const char *group)
{
    assert_string_equal(a->field, field);
    if (name) assert_string_equal(a->name, name); else assert_null(a->name);
    assert_string_equal(a->address, addr);
    if (group) assert_string_equal(a->group, group); else assert_null(a->group);
}

/* ---- fixtures ---- */

static void test_plain(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse_file("plain.eml", &f);
    assert_int_equal(m->parsed, 1);
    assert_int_equal(f.n, 0);

    /* every top-level header in wire order, duplicates kept, Content-* included */
    static const char *names[] = { "Received", "Received", "From", "To", "Subject", "Date",
                                   "Message-ID", "In-Reply-To", "X-Folded", "MIME-Version",
                                   "Content-Type" };
    assert_int_equal(m->n_headers, SIFT_ARRAY_LEN(names));
    for (size_t i = 0; i < SIFT_ARRAY_LEN(names); i++)
        assert_string_equal(m->headers[i].name, names[i]);
    assert_string_equal(m->headers[0].value,
        "from mx2.example.net (mx2.example.net [192.0.2.2])\tby mx1.example.com with ESMTP id 4711; "
        "Tue, 02 Jan 2024 10:00:05 +0100");
    assert_raw(&m->headers[0],
        " from mx2.example.net (mx2.example.net [192.0.2.2])\r\n"
        "\tby mx1.example.com with ESMTP id 4711; Tue, 02 Jan 2024 10:00:05 +0100");
    assert_string_equal(m->headers[1].value,
        "from client.example.org ([198.51.100.7]) by mx2.example.net; Tue, 02 Jan 2024 10:00:01 +0100");
    const struct sift_mime_header *x = hdr(m, "X-Folded", 0);
    assert_string_equal(x->value, "first part second part");
    assert_raw(x, "  first part\r\n second part");

    assert_string_equal(m->subject, "Plain text test");
    assert_string_equal(m->from_addr, "alice@example.org");
    assert_string_equal(m->from_name, "Alice Example");
    assert_string_equal(m->date, "Tue, 02 Jan 2024 10:00:00 +0100");
    assert_int_equal(m->has_date, 1);
    /* date -u -d '2024-01-02 09:00:00' +%s */
    assert_int_equal(m->date_unix, 1704186000);
    assert_string_equal(m->message_id, "plain-1@example.org");
    assert_string_equal(m->in_reply_to, "<orig-9@example.com>");

    assert_int_equal(m->n_parts, 1);
    const struct sift_mime_part *p = &m->parts[0];
    assert_string_equal(p->path, "1");
    assert_string_equal(p->content_type, "text/plain");
    assert_string_equal(p->charset, "us-ascii");
    assert_null(p->encoding);
    assert_null(p->disposition);
    assert_null(p->filename);
    assert_int_equal(p->is_attachment, 0);
    assert_int_equal(p->size, 38);
    /* printf 'Hello Bob,\r\nthis is a plain message.\r\n' | sha256sum */
    assert_string_equal(p->sha256, "51d076e6224de084b03b0761b4e6f7919e84f932ae4f81cd995ee97d3d32a853");
    assert_string_equal(p->text, "Hello Bob,\r\nthis is a plain message.\r\n");
    assert_int_equal(m->n_attachments, 0);
    sift_mime_free(m);
}

static void test_rfc2047(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse_file("rfc2047.eml", &f);
    assert_string_equal(m->subject, "Grüße aus Köln");                   /* Q, UTF-8 */
    assert_string_equal(hdr(m, "Subject", 0)->value, "Grüße aus Köln");
    assert_raw(hdr(m, "Subject", 0), " =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=");
    assert_string_equal(hdr(m, "X-B-Utf8", 0)->value, "échec et mat");   /* B, UTF-8 */
    assert_string_equal(hdr(m, "X-Q-Latin1", 0)->value, "café crème");   /* Q, ISO-8859-1 */
    assert_string_equal(hdr(m, "X-B-Latin1", 0)->value, "café crème");   /* B, ISO-8859-1 */
    assert_string_equal(hdr(m, "X-Mixed", 0)->value, "plain été text");
    sift_mime_free(m);
}

static void test_gmime133(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse_file("gmime133.eml", &f);
    /* GMime 3.2.13 alone gives "Hello" for all three (gmime#133). */
    assert_string_equal(m->subject, "Hello world");
    assert_raw(hdr(m, "Subject", 0), " =?UTF-8?B?SGVsbG8=?= =?UTF-8?B?IHdvcmxk?=");
    assert_string_equal(m->from_name, "Hello world");
    assert_string_equal(m->from_addr, "hw@example.org");
    assert_string_equal(hdr(m, "From", 0)->value, "Hello world <hw@example.org>");
    /* folded across lines, padded word first: "Schö" + "nen" */
    assert_string_equal(hdr(m, "X-Split", 0)->value, "Schönen Tag");
    sift_mime_free(m);
}

static void test_addresses(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse_file("addresses.eml", &f);
    assert_int_equal(m->n_addresses, 9);
    assert_addr(&m->addresses[0], "return-path", NULL, "", NULL);
    assert_addr(&m->addresses[1], "from", "Jürgen", "juergen@example.de", NULL);
    assert_addr(&m->addresses[2], "sender", NULL, "sender@example.de", NULL);
    assert_addr(&m->addresses[3], "reply-to", "Doe, John", "john@example.com", NULL);
    assert_addr(&m->addresses[4], "to", "Doe, John", "john@example.com", NULL);
    assert_addr(&m->addresses[5], "to", NULL, "alice@example.org", "Team");
    assert_addr(&m->addresses[6], "to", "Bob", "bob@example.org", "Team");
    assert_addr(&m->addresses[7], "cc", NULL, "", "undisclosed-recipients");
    assert_addr(&m->addresses[8], "bcc", NULL, "hidden@example.net", NULL);
    assert_string_equal(m->from_addr, "juergen@example.de");
    assert_string_equal(m->from_name, "Jürgen");
    assert_string_equal(hdr(m, "Return-Path", 0)->value, "<>");
    sift_mime_free(m);
}

static void test_multipart(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse_file("multipart.eml", &f);
    assert_int_equal(m->parsed, 1);
    assert_int_equal(m->n_parts, 4);
    assert_int_equal(m->n_attachments, 3);
    assert_string_equal(hdr(m, "Content-Type", 0)->value, "multipart/mixed; boundary=\"==b1==\"");

    const struct sift_mime_part *p = &m->parts[0];          /* quoted-printable text */
    assert_string_equal(p->path, "1");
    assert_string_equal(p->content_type, "text/plain");
    assert_string_equal(p->charset, "utf-8");
    assert_string_equal(p->encoding, "quoted-printable");
    assert_int_equal(p->is_attachment, 0);
    assert_string_equal(p->text, "café soft break\r\nline2");
    assert_int_equal(p->size, 23);
    /* printf 'caf\303\251 soft break\r\nline2' | sha256sum */
    assert_string_equal(p->sha256, "2cfb61a507b77e89ad173a7339bcf47eee36221aae5c3589f5ffca62d55b2ddb");

    p = &m->parts[1];                                         /* base64 binary attachment */
    assert_string_equal(p->path, "2");
    assert_string_equal(p->content_type, "application/octet-stream");
    assert_string_equal(p->encoding, "base64");
    assert_string_equal(p->disposition, "attachment");
    assert_string_equal(p->filename, "image.png");
    assert_int_equal(p->is_attachment, 1);
    assert_null(p->text);
    /* { printf '\211PNG\r\n\032\n\000\377\376'; seq 1 100; } > att.bin   (303 bytes,
     * put in the fixture with base64 -w 76 att.bin); sha256sum att.bin */
    assert_int_equal(p->size, 303);
    assert_string_equal(p->sha256, "a84d5b8f8c8d640549c962bac1cd1cdd36b88e15d1e501d2c095c9c6176cb856");

    p = &m->parts[2];                                         /* RFC 2231 continuation */
    assert_string_equal(p->path, "3");
    assert_string_equal(p->content_type, "application/pdf");
    assert_string_equal(p->filename, "résume.pdf");
    assert_int_equal(p->size, 5);
    /* printf '%%PDF-' | sha256sum */
    assert_string_equal(p->sha256, "38523c087796e5d5dd1cf9bad1fb026781a838dd9dd2cf8af58b9f6502a46778");

    p = &m->parts[3];                                         /* hostile filename = data */
    assert_string_equal(p->path, "4");
    assert_string_equal(p->filename, "../../etc/passwd");
    assert_int_equal(p->is_attachment, 1);
    assert_string_equal(p->text, "root:x:0:0:root:/root:/bin/bash");
    /* printf 'root:x:0:0:root:/root:/bin/bash' | sha256sum */
    assert_string_equal(p->sha256, "2ea9e8225d9347cd8d24d161926e367b441375a8eb3e222192f7d6555c1534d0");
    sift_mime_free(m);
}

static void test_chunked_base64(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse_file("chunked_b64.eml", &f);
    assert_int_equal(m->n_parts, 1);
    const struct sift_mime_part *p = &m->parts[0];
    /* "SGVs\r\nbG8=\r\nIHdvcmxk": GMime 3.2.13 stops at the inner pad (gmime#150) */
    assert_string_equal(p->path, "1");
    assert_string_equal(p->text, "Hello world");
    assert_int_equal(p->size, 11);
    /* printf 'Hello world' | sha256sum */
    assert_string_equal(p->sha256, "64ec88ca00b268e5ba1a35678a1b5316d212f4f366b2477232534a8aeca37f3c");
    sift_mime_free(m);
}

static void test_latin1_unlabelled(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse_file("latin1_nolabel.eml", &f);
    const struct sift_mime_part *p = &m->parts[0];
    assert_null(p->charset);
    assert_string_equal(p->encoding, "8bit");
    /* bytes e9 ef 80 e9 e9 read as windows-1252 (0x80 is the euro sign) */
    assert_string_equal(p->text, "café naïve € résumé\r\n");
    assert_int_equal(p->size, 21);
    /* printf 'caf\351 na\357ve \200 r\351sum\351\r\n' | sha256sum */
    assert_string_equal(p->sha256, "3fd4904c19d5feafcae01fe58db39cd4fd11ea6f970df5bfeae812568918bd0c");
    sift_mime_free(m);
}

static void test_nested(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse_file("nested.eml", &f);
    assert_int_equal(f.n, 0);
    static const char *paths[] = { "1", "2", "2.1", "2.2", "3", "3.1" };
    static const char *types[] = { "text/plain", "message/rfc822", "text/plain", "text/html",
                                   "message/rfc822", "text/plain" };
    assert_int_equal(m->n_parts, SIFT_ARRAY_LEN(paths));
    for (size_t i = 0; i < SIFT_ARRAY_LEN(paths); i++) {
        assert_string_equal(m->parts[i].path, paths[i]);
        assert_string_equal(m->parts[i].content_type, types[i]);
    }
    /* The embedded message's exact bytes: from "From: inner" up to, not including,
     * the CRLF before "--outer" (python3: d[d.index(b'From: inner'):d.index(b'\r\n--outer\r\n
     * Content-Type: message/rfc822\r\nContent-Disposition')]) | sha256sum */
    assert_int_equal(m->parts[1].size, 261);
    assert_string_equal(m->parts[1].sha256, "893aa7d03210496034ab93bdc6b2a2c7b74c62d3e8e7fbfea7ab42c76281eaa7");
    assert_null(m->parts[1].text);
    assert_int_equal(m->parts[1].is_attachment, 0);   /* inline forwarded message */
    assert_string_equal(m->parts[2].text, "inner plain");
    assert_string_equal(m->parts[3].text, "<p>inner html</p>");
    /* printf 'From: deep@example.org\r\nSubject: forwarded\r\n\r\nforwarded body\r\n' | sha256sum */
    assert_int_equal(m->parts[4].size, 62);
    assert_string_equal(m->parts[4].sha256, "b3e9b82dffcfdf26cf94657cd2a069c82b7ff7a4d201bdb4121a02d0beac467e");
    assert_string_equal(m->parts[4].filename, "fwd.eml");
    assert_int_equal(m->parts[4].is_attachment, 1);
    assert_string_equal(m->parts[5].text, "forwarded body\r\n");
    assert_int_equal(m->n_attachments, 1);
    sift_mime_free(m);
}

static void test_top_level_rfc822(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse_file("top_rfc822.eml", &f);
    assert_int_equal(m->n_parts, 3);
    assert_string_equal(m->parts[0].path, "1");
    assert_string_equal(m->parts[0].content_type, "message/rfc822");
    /* tail -c 97 top_rfc822.eml | sha256sum   (from "From: i@example.org" to the end) */
    assert_int_equal(m->parts[0].size, 97);
    assert_string_equal(m->parts[0].sha256, "bca5c3580bf2d9a157399f94f8034402fcaaebc557f994c636c22a023dd2cbc0");
    assert_string_equal(m->parts[1].path, "1.1");
    assert_string_equal(m->parts[1].text, "one");
    assert_string_equal(m->parts[2].path, "1.2");
    assert_string_equal(m->parts[2].text, "two");
    sift_mime_free(m);
}

static void test_garbage(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse_file("garbage.eml", &f);
    assert_int_equal(m->parsed, 0);
    assert_true(has_finding(&f, "mime_parse_failed"));
    assert_int_equal(m->n_headers, 0);
    assert_int_equal(m->n_parts, 0);
    assert_null(m->subject);
    sift_mime_free(m);
}

static void test_bare_lf(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse_file("bare_lf.eml", &f);
    assert_int_equal(m->parsed, 1);
    assert_string_equal(m->subject, "bare LF");
    assert_raw(hdr(m, "Subject", 0), " bare LF");
    assert_int_equal(m->n_parts, 2);
    assert_string_equal(m->parts[0].text, "line one\nline two");
    assert_string_equal(m->parts[1].path, "2");
    assert_int_equal(m->parts[1].size, 11);
    /* printf 'Hello world' | sha256sum */
    assert_string_equal(m->parts[1].sha256, "64ec88ca00b268e5ba1a35678a1b5316d212f4f366b2477232534a8aeca37f3c");
    sift_mime_free(m);
}

static void test_no_boundary(void **state)
{
    (void)state;
    struct findings f;
    alarm(20);      /* gmime#165 was an infinite loop on such input: fail, don't hang */
    struct sift_mime_summary *m = parse_file("no_boundary.eml", &f);
    alarm(0);
    assert_int_equal(m->parsed, 1);
    assert_true(has_finding(&f, "mime_multipart_without_boundary"));
    assert_string_equal(m->subject, "multipart without boundary");
    sift_mime_free(m);
}

/* ---- generated messages ---- */

static void test_text_cap(void **state)
{
    (void)state;
    const size_t body = (1u << 20) + 4096;
    const char *head = "From: a@example.org\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
    size_t hl = strlen(head);
    char *msg = malloc(hl + body + 1);
    memcpy(msg, head, hl);
    for (size_t i = 0; i < body; i++) msg[hl + i] = (i % 3 == 2) ? '\xa9' : (i % 3 == 1 ? '\xc3' : 'x');
    msg[hl + body] = '\0';
    struct findings f;
    struct sift_mime_summary *m = parse_str(msg, &f);
    free(msg);
    assert_int_equal(m->parts[0].size, body);
    size_t tl = strlen(m->parts[0].text);
    assert_true(tl <= (1u << 20));
    assert_true(tl > (1u << 20) - 4);
    assert_true(has_finding(&f, "mime_text_truncated"));
    sift_mime_free(m);
}

static void test_too_many_parts(void **state)
{
    (void)state;
    char *msg = malloc(16 * 11000 + 200);
    size_t n = (size_t)sprintf(msg, "From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n");
    for (int i = 0; i < 10050; i++) n += (size_t)sprintf(msg + n, "--b\r\n\r\nx\r\n");
    sprintf(msg + n, "--b--\r\n");
    struct findings f;
    struct sift_mime_summary *m = parse_str(msg, &f);
    free(msg);
    assert_int_equal(m->n_parts, 10000);
    assert_true(has_finding(&f, "mime_too_many_parts"));
    assert_string_equal(m->parts[9999].path, "10000");
    sift_mime_free(m);
}

static void test_charsets(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse_str(
        "From: a@example.org\r\nSubject: caf\xe9\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain; charset=x-bogus-42\r\n\r\ncaf\xc3\xa9\r\n"
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nA\xff" "B\r\n"
        "--b\r\nContent-Type: text/plain; charset=iso-8859-2\r\n\r\n\xb3\xf3\xbf\x6b\x6f\r\n"
        "--b--\r\n", &f);
    assert_string_equal(m->subject, "café");                    /* raw 8-bit: fallback charset */
    assert_true(has_finding(&f, "mime_8bit_header"));
    assert_string_equal(m->parts[0].text, "café");              /* unknown label: valid UTF-8 */
    assert_true(has_finding(&f, "mime_unknown_charset"));
    assert_string_equal(m->parts[1].text, "A\xef\xbf\xbd" "B");  /* junk byte -> U+FFFD, not dropped */
    assert_string_equal(m->parts[2].text, "łóżko");             /* real conversion */
    sift_mime_free(m);
}

static void test_bad_date_and_empty(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse_str("From: a@example.org\r\nDate: not a date\r\n\r\nx\r\n", &f);
    assert_int_equal(m->parsed, 1);
    assert_string_equal(m->date, "not a date");
    assert_int_equal(m->has_date, 0);
    sift_mime_free(m);

    m = parse_str("From: @@ <x y>, \"unterminated\r\nTo: ok@example.org\r\n"
                  "Return-Path: <@@\r\n\r\nx\r\n", &f);
    assert_int_equal(f.n, 2);          /* one per bad item, not repeated by our own re-parse */
    assert_true(has_finding(&f, "mime_invalid_address"));
    assert_int_equal(m->n_addresses, 1);                          /* the valid To survives */
    assert_addr(&m->addresses[0], "to", NULL, "ok@example.org", NULL);
    assert_null(m->from_addr);
    assert_string_equal(hdr(m, "From", 0)->value, "@@ <x y>, \"unterminated"); /* kept in headers */
    sift_mime_free(m);

    memset(&f, 0, sizeof f);
    m = sift_mime_parse(NULL, 0, on_finding, &f);
    assert_non_null(m);
    sift_mime_free(m);
    m = sift_mime_parse((const uint8_t *)"\r\n", 2, NULL, NULL);   /* no finding sink */
    assert_non_null(m);
    sift_mime_free(m);
    sift_mime_free(NULL);
}

/* ---- uuencoded blocks inside text/plain bodies ---- */

/* The fixture was made with Python: binascii.b2a_uu (45-byte lines, backtick=True
 * for report.txt, False for the other) on txt = b"Quarterly numbers\n" + rows
 * "row 1\n".."row 10\n" (79 bytes) and pdf = b"%PDF-1.4\n" + bytes(range(256)) +
 * b"\n%%EOF\n" (272 bytes); sizes and hashes by hashlib.sha256/sha1/md5 on those
 * bytes, and re-checked by decoding the fixture with binascii.a2b_uu. */
static void test_uuencode(void **state)
{
    (void)state;
    struct findings f;
    struct sift_mime_summary *m = parse_file("uuencode.eml", &f);
    assert_int_equal(m->parsed, 1);
    assert_int_equal(m->n_parts, 3);
    assert_int_equal(m->n_attachments, 2);
    const struct sift_mime_part *p = &m->parts[0];
    assert_string_equal(p->path, "1");
    assert_string_equal(p->content_type, "text/plain");
    assert_int_equal(p->is_attachment, 0);
    assert_non_null(strstr(p->text, "begin 644 report.txt\r\n"));      /* the text is kept as is */

    p = &m->parts[1];
    assert_string_equal(p->path, "1.uu1");
    assert_string_equal(p->filename, "report.txt");
    assert_string_equal(p->encoding, "x-uuencode");
    assert_string_equal(p->disposition, "attachment");
    assert_string_equal(p->content_type, "text/plain");
    assert_string_equal(p->magic_type, "text/plain");
    assert_int_equal(p->is_attachment, 1);
    assert_null(p->text);
    assert_null(p->charset);
    assert_int_equal(p->size, 79);
    assert_string_equal(p->sha256, "3be5617e9d16d48ff7c503457411f6e7c5f9857ee631c23ff3ec45b85bba1b7b");
    assert_string_equal(p->sha1, "9d6afa9c9443fb57b13f0f1d11bd448aeabd59f3");
    assert_string_equal(p->md5, "5b34ef5c11631388cf567c30dc89063f");

    p = &m->parts[2];                                   /* hostile name: data, never a path */
    assert_string_equal(p->path, "1.uu2");
    assert_string_equal(p->filename, "../../x");
    assert_string_equal(p->content_type, "application/pdf");
    assert_string_equal(p->magic_type, "application/pdf");
    assert_int_equal(p->size, 272);
    assert_string_equal(p->sha256, "ee008b17f0184f659dc798e138ffd0a968789fcdfc0314e4fd19760f6f50c7d6");
    assert_string_equal(p->md5, "0a228854bfed0b80c4b620501f5fec6a");
    assert_null(p->extracted_path);                     /* no extraction asked */

    /* "begin 600 broken.bin" + a bad line: one finding, no part; "begin 2089" is no block */
    int n_bad = 0;
    for (size_t i = 0; i < f.n; i++) n_bad += !strcmp(f.rules[i], "mime_uuencode_malformed");
    assert_int_equal(n_bad, 1);
    sift_mime_free(m);
}

static void test_uuencode_edges(void **state)
{
    (void)state;
    struct findings f;
    /* a block cut by the end of the body: finding, no part */
    struct sift_mime_summary *m = parse_str("Subject: x\r\n\r\nbegin 644 a.bin\r\n"
                                            "#86)C\r\n", &f);
    assert_int_equal(m->n_parts, 1);
    assert_true(has_finding(&f, "mime_uuencode_malformed"));
    sift_mime_free(m);

    /* "abc" = "#86)C" (python3: binascii.b2a_uu(b"abc")); bare LF lines, no final newline */
    m = parse_str("Subject: x\n\nbegin 644 a.bin\n#86)C\n`\nend", &f);
    assert_int_equal(m->n_parts, 2);
    assert_int_equal(f.n, 0);
    assert_string_equal(m->parts[1].filename, "a.bin");
    assert_int_equal(m->parts[1].size, 3);
    /* printf abc | sha256sum */
    assert_string_equal(m->parts[1].sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sift_mime_free(m);

    /* not in text/html, and a zero-length line not followed by "end" is malformed */
    m = parse_str("Content-Type: text/html\r\n\r\nbegin 644 a.bin\r\n#86)C\r\n`\r\nend\r\n", &f);
    assert_int_equal(m->n_parts, 1);
    sift_mime_free(m);
    m = parse_str("Subject: x\r\n\r\nbegin 644 a.bin\r\n#86)C\r\n`\r\nfin\r\n", &f);
    assert_int_equal(m->n_parts, 1);
    assert_true(has_finding(&f, "mime_uuencode_malformed"));
    sift_mime_free(m);

    /* at most 100 blocks per message, then one finding */
    static char many[105 * 40 + 32];
    size_t k = (size_t)snprintf(many, sizeof many, "Subject: x\r\n\r\n");
    for (int i = 0; i < 105; i++)
        k += (size_t)snprintf(many + k, sizeof many - k, "begin 644 f%d\r\n#86)C\r\n`\r\nend\r\n", i);
    m = parse_str(many, &f);
    assert_int_equal(m->n_parts, 101);
    assert_int_equal(m->n_attachments, 100);
    assert_string_equal(m->parts[100].path, "1.uu100");
    assert_string_equal(m->parts[100].filename, "f99");
    assert_int_equal(f.n, 1);
    assert_string_equal(f.rules[0], "mime_uuencode_too_many");
    sift_mime_free(m);

    /* a whole part with Content-Transfer-Encoding x-uuencode: GMime decodes it, no extra part */
    m = parse_str("Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-uuencode\r\n"
                  "\r\nbegin 644 a.bin\r\n#86)C\r\n`\r\nend\r\n", &f);
    assert_int_equal(m->n_parts, 1);
    assert_string_equal(m->parts[0].encoding, "x-uuencode");
    assert_int_equal(m->parts[0].size, 3);
    assert_string_equal(m->parts[0].sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sift_mime_free(m);
}

static void test_sha256_hex(void **state)
{
    (void)state;
    char out[65];
    sift_sha256_hex((const uint8_t *)"abc", 3, out);              /* FIPS 180-2 test vector */
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sift_sha256_hex((const uint8_t *)"", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void write_file(const char *path, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* sift_hash_file (hash.c: 1 MiB reads) gives the SHA-256 and size of the
 * bytes: sizes around the page and block sizes, an empty file, a pipe and a
 * procfs file (size 0 in stat, not empty); it stops when cancelled; a missing
 * file is an error. */
static void test_hash_file(void **state)
{
    (void)state;
    enum { MIB = 1 << 20 };
    static const size_t sizes[] = { 0, 1, 4095, 4096, 4097, MIB - 1, MIB, MIB + 3, 8 * MIB + 1,
                                    16 * MIB + 12345 };
    const size_t max = 17 * MIB;
    uint8_t *data = malloc(max);
    assert_non_null(data);
    unsigned seed = 99;
    for (size_t i = 0; i < max; i++) data[i] = (uint8_t)(rand_r(&seed) >> 7);
    char path[] = "/tmp/sift-test-hash-XXXXXX";
    int tfd = mkstemp(path);
    assert_true(tfd >= 0);
    close(tfd);
    char want[65], got[65], err[256] = "";
    uint64_t size;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        write_file(path, data, sizes[k]);
        sift_hash_sha256_hex(data, sizes[k], want);
        size = 12345678;
        assert_int_equal(sift_hash_file(path, got, &size, err, sizeof err), SIFT_OK);
        assert_string_equal(got, want);
        assert_int_equal(size, sizes[k]);
    }
    /* cancelled (checked after each MiB read; the file is over 16 MiB) */
    volatile int cancel = 1;
    assert_int_equal(sift_hash_file_cancel(path, got, &size, &cancel, err, sizeof err), SIFT_ERR_INTERRUPTED);
    assert_string_equal(err, "interrupted");
    unlink(path);
    assert_int_equal(sift_hash_file(path, got, &size, err, sizeof err), SIFT_ERR_IO);
    assert_non_null(strstr(err, "cannot open"));
    /* a pipe (not a regular file: read to its end); fits in the pipe's buffer */
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    assert_int_equal(write(pfd[1], data, 5000), 5000);
    close(pfd[1]);
    char ppath[64];
    snprintf(ppath, sizeof ppath, "/proc/self/fd/%d", pfd[0]);
    sift_hash_sha256_hex(data, 5000, want);
    assert_int_equal(sift_hash_file(ppath, got, &size, err, sizeof err), SIFT_OK);
    assert_string_equal(got, want);
    assert_int_equal(size, 5000);
    close(pfd[0]);
    /* procfs: st_size 0, yet there are bytes to read */
    assert_int_equal(sift_hash_file("/proc/self/cmdline", got, &size, err, sizeof err), SIFT_OK);
    assert_true(size > 0);
    free(data);
}

static int setup(void **state) { (void)state; sift_mime_init(); return 0; }
static int teardown(void **state) { (void)state; sift_mime_shutdown(); return 0; }

/* Decodes body as the base64 content of a one-part message through
 * sift_mime_parse and checks that size and SHA-256 are those of GLib's
 * g_base64_decode_step over the whole body at once (the reference). */
static void check_b64_same_as_glib(const char *body, size_t n, const char *what)
{
    guchar *dec = malloc(n + 16);
    assert_non_null(dec);
    gint st = 0;
    guint sv = 0;
    gsize m = g_base64_decode_step(body, n, dec, &st, &sv);
    char want[65];
    sift_hash_sha256_hex(dec, m, want);
    const char *hdr = "Subject: b64\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
                      "Content-Transfer-Encoding: base64\r\n\r\n";
    size_t hl = strlen(hdr);
    uint8_t *msg = malloc(hl + n);
    assert_non_null(msg);
    memcpy(msg, hdr, hl);
    memcpy(msg + hl, body, n);
    struct sift_mime_summary *sum = sift_mime_parse(msg, hl + n, NULL, NULL);
    assert_int_equal(sum->n_parts, 1);
    if (strcmp(sum->parts[0].sha256, want) != 0 || sum->parts[0].size != m)
        fail_msg("%s (%zu bytes): decoded %llu bytes %s, GLib %zu bytes %s", what, n,
                 (unsigned long long)sum->parts[0].size, sum->parts[0].sha256, (size_t)m, want);
    sift_mime_free(sum);
    free(msg);
    free(dec);
}

/* base64 bodies decode to exactly what GLib's g_base64_decode_step gives over
 * the whole body (mime.c has a fast path for clean quads that must not change
 * a byte): clean 76-character lines, padding in the middle, junk characters,
 * CR/LF inside quads, lines whose length is not a multiple of 4, bodies long
 * enough to span several 64 KiB reads. */
static void test_base64_fast_path_same_as_glib(void **state)
{
    (void)state;
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned seed = 12345;
    for (int round = 0; round < 60; round++) {
        size_t n = round < 20 ? 100 + (size_t)round * 37 : 1000 + (size_t)(rand_r(&seed) % 300000);
        int kind = round % 5;
        char *body = malloc(n + 1);
        size_t col = 0;
        for (size_t i = 0; i < n; i++) {
            int r = rand_r(&seed) % 1000;
            char ch = alpha[rand_r(&seed) % 64];
            if (kind == 0) {                                   /* clean 76-character lines */
                if (col == 76) { ch = '\r'; } else if (col == 77) { ch = '\n'; col = (size_t)-1; }
            } else if (kind == 1) {                            /* lines of 61 characters */
                if (col == 61) { ch = '\r'; } else if (col == 62) { ch = '\n'; col = (size_t)-1; }
            } else if (kind == 2) {                            /* inner padding now and then */
                if (r < 8) ch = '=';
                else if (col == 76) { ch = '\r'; } else if (col == 77) { ch = '\n'; col = (size_t)-1; }
            } else if (kind == 3) {                            /* junk and bare LFs anywhere */
                if (r < 10) ch = (char)(1 + rand_r(&seed) % 255);
                else if (r < 20) ch = '\n';
            } else {                                           /* everything mixed */
                if (r < 5) ch = '=';
                else if (r < 10) ch = ' ';
                else if (r < 30) ch = '\n';
                else if (r < 35) ch = '\r';
            }
            if (ch == '\0') ch = '!';
            body[i] = ch;
            col++;
        }
        body[n] = '\0';
        char what[64];
        snprintf(what, sizeof what, "round %d (kind %d)", round, kind);
        check_b64_same_as_glib(body, n, what);
        free(body);
    }
}

/* Characters GLib's base64 decoder counts (the alphabet and '='); it skips
 * every other byte. Written out here, not taken from mime.c. */
static int b64_counted(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/' || c == '=';
}

/* The same, with the 64 KiB reads of mime.c's decode_leaf (READ below, kept
 * equal to its IN) ending at every place in a quad: lines of 61, 73, 75, 76
 * and 77 characters ended by CRLF, LF alone or CR alone, the first line
 * followed by 0-7 spaces (skipped by the decoder) so that each read boundary
 * falls after 0, 1, 2 or 3 characters of its quad, and around each boundary the quad it cuts
 * given '=' padding ("xx==", "x===", "====", "xx=x": GLib's state is then
 * negative at the boundary) or junk bytes on both sides of it. The test checks
 * that it really reached every GLib state (-3..3) at a read boundary. */
static void test_base64_read_boundaries_same_as_glib(void **state)
{
    (void)state;
    enum { READ = 64 * 1024, NB = 2 };                 /* NB boundaries per body */
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const size_t lines[] = { 61, 73, 75, 76, 77 };
    static const char *const eols[] = { "\r\n", "\n", "\r" };
    /* variants: 0 clean; 1-4 '=' at these quad positions (bit j = position j); 5 junk */
    static const unsigned pads[] = { 0, 0xc, 0xe, 0xf, 0x4, 0 };
    const size_t n = NB * READ + 997;
    char *body = malloc(n);
    size_t *pos = malloc(n * sizeof *pos);
    guchar *scratch = malloc(READ);
    assert_non_null(body);
    assert_non_null(pos);
    assert_non_null(scratch);
    unsigned seed = 777, states_seen = 0;
    for (size_t li = 0; li < sizeof lines / sizeof lines[0]; li++)
        for (size_t ei = 0; ei < sizeof eols / sizeof eols[0]; ei++) {
            unsigned phases_seen = 0;
            /* 4 spaces or more until the first boundary has met every place in a quad
             * (a space more can also push a line end past the boundary) */
            for (size_t skip = 0; skip < 8 && (skip < 4 || phases_seen != 0xf); skip++)
                for (size_t v = 0; v < sizeof pads / sizeof pads[0]; v++) {
                    size_t col = 0, first = 1;
                    const char *eol = eols[ei];
                    for (size_t i = 0; i < n;) {
                        if (col == lines[li]) {
                            for (size_t k = 0; first && k < skip; k++) body[i++] = ' ';
                            for (size_t k = 0; eol[k] && i < n; k++) body[i++] = eol[k];
                            col = 0;
                            first = 0;
                            continue;
                        }
                        body[i++] = alpha[rand_r(&seed) % 64];
                        col++;
                    }
                    size_t np = 0;
                    for (size_t i = 0; i < n; i++)
                        if (b64_counted((unsigned char)body[i])) pos[np++] = i;
                    for (size_t bi = 1; bi <= NB; bi++) {
                        size_t at = bi * READ, k = 0;   /* k: counted characters before the boundary */
                        while (k < np && pos[k] < at) k++;
                        if (bi == 1) phases_seen |= 1u << (k % 4);
                        size_t q = k - k % 4;           /* the quad the boundary cuts (or starts) */
                        for (unsigned j = 0; j < 4 && q + j < np; j++)
                            if (pads[v] >> j & 1) body[pos[q + j]] = '=';
                        if (v == 5) {
                            body[at - 1] = ' ';
                            body[at] = (char)0xe9;
                        }
                    }
                    /* GLib's state at each boundary, read by read as decode_leaf reads */
                    gint st = 0;
                    guint sv = 0;
                    for (size_t off = 0; off + READ <= n; off += READ) {
                        g_base64_decode_step(body + off, READ, scratch, &st, &sv);
                        assert_true(st >= -3 && st <= 3);
                        states_seen |= 1u << (st + 3);
                    }
                    char what[96];
                    snprintf(what, sizeof what, "lines of %zu, eol %zu, %zu spaces, variant %zu",
                             lines[li], ei, skip, v);
                    check_b64_same_as_glib(body, n, what);
                }
            assert_int_equal(phases_seen, 0xf);         /* the first boundary after 0, 1, 2, 3 */
        }
    assert_int_equal(states_seen, 0x7f);                /* states -3..3 all met at a boundary */
    free(scratch);
    free(pos);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_base64_fast_path_same_as_glib),
        cmocka_unit_test(test_base64_read_boundaries_same_as_glib),
        cmocka_unit_test(test_rfc2047),
        cmocka_unit_test(test_gmime133),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_chunked_base64),
        cmocka_unit_test(test_latin1_unlabelled),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_top_level_rfc822),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_bare_lf),
        cmocka_unit_test(test_no_boundary),
        cmocka_unit_test(test_text_cap),
        cmocka_unit_test(test_too_many_parts),
        cmocka_unit_test(test_charsets),
        cmocka_unit_test(test_bad_date_and_empty),
        cmocka_unit_test(test_uuencode),
        cmocka_unit_test(test_uuencode_edges),
        cmocka_unit_test(test_sha256_hex),
        cmocka_unit_test(test_hash_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
