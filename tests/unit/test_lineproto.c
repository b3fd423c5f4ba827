/* test_lineproto.c — cmocka tests for the bounded line assembler (src/lineproto.c):
 * CRLF / bare LF / bare CR, every split of the input, the max_line bound, flush. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lineproto.h"

/* All lines found, rendered as "text|eol|full_len|overlong\n" so that whole
 * results compare as one string. */
struct collect {
    struct sift_buf out;
};

static void record(struct collect *c, const struct sift_line *ln)
{
    static const char *eol[] = { "CRLF", "LF", "NONE" };
    char meta[96];
    sift_buf_append(&c->out, ln->data, ln->len);
    snprintf(meta, sizeof meta, "|%s|%llu|%d\n", eol[ln->eol], (unsigned long long)ln->full_len,
             ln->overlong);
    sift_buf_append(&c->out, meta, strlen(meta));
}

/* Feed input in chunks of the sizes produced by cut (positions where to split),
 * then flush. Returns the rendering (caller frees). */
static char *run(const char *in, size_t n, size_t max_line, const size_t *cuts, size_t ncuts)
{
    struct sift_linebuf lb;
    struct collect c = { { 0 } };
    sift_linebuf_init(&lb, max_line);
    size_t pos = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : n;
        const uint8_t *p = (const uint8_t *)in + pos;
        size_t len = end - pos;
        while (len) {
            struct sift_line ln;
            size_t used = sift_linebuf_take(&lb, p, len, &ln);
            assert_true(used > 0 && used <= len);
            p += used;
            len -= used;
            if (ln.data) {
                assert_true(ln.len <= max_line);
                record(&c, &ln);
            }
        }
        pos = end;
    }
    struct sift_line ln;
    if (sift_linebuf_flush(&lb, &ln)) record(&c, &ln);
    assert_false(sift_linebuf_pending(&lb));
    sift_linebuf_free(&lb);
    sift_buf_putc(&c.out, 0);
    return (char *)sift_buf_steal(&c.out, NULL);
}

/* Whole, every single split point, every pair of split points, byte by byte:
 * all must give expect. */
static void check_all_splits(const char *in, size_t max_line, const char *expect)
{
    size_t n = strlen(in);
    char *r = run(in, n, max_line, NULL, 0);
    assert_string_equal(r, expect);
    free(r);
    for (size_t i = 1; i < n; i++) {
        r = run(in, n, max_line, &i, 1);
        assert_string_equal(r, expect);
        free(r);
        for (size_t j = i + 1; j < n; j++) {
            size_t cuts[2] = { i, j };
            r = run(in, n, max_line, cuts, 2);
            assert_string_equal(r, expect);
            free(r);
        }
    }
    size_t *cuts = malloc((n ? n : 1) * sizeof *cuts);
    for (size_t i = 0; i + 1 < n; i++) cuts[i] = i + 1;
    r = run(in, n, max_line, cuts, n ? n - 1 : 0);
    assert_string_equal(r, expect);
    free(r);
    free(cuts);
}

static void test_crlf_and_lf(void **state)
{
    (void)state;
    check_all_splits("EHLO a\r\nMAIL FROM:<x>\nRCPT\r\n", 100,
                     "EHLO a|CRLF|6|0\nMAIL FROM:<x>|LF|13|0\nRCPT|CRLF|4|0\n");
}

static void test_empty_lines(void **state)
{
    (void)state;
    check_all_splits("\r\n\n\r\n", 100, "|CRLF|0|0\n|LF|0|0\n|CRLF|0|0\n");
}

static void test_bare_cr_stays_in_line(void **state)
{
    (void)state;
    /* CR not followed by LF is line content; only the CR right before LF is stripped. */
    check_all_splits("a\rb\r\r\nc\r", 100, "a\rb\r|CRLF|4|0\nc\r|NONE|2|0\n");
}

static void test_flush_partial(void **state)
{
    (void)state;
    check_all_splits("QUIT\r\n250 ok", 100, "QUIT|CRLF|4|0\n250 ok|NONE|6|0\n");
}

static void test_overlong(void **state)
{
    (void)state;
    /* max 4: bytes beyond are counted, the line still ends where it ends. */
    check_all_splits("abcdefgh\r\nxy\n", 4, "abcd|CRLF|8|1\nxy|LF|2|0\n");
    /* Exactly max_line bytes plus CRLF: not overlong, CR not counted. */
    check_all_splits("abcd\r\nabcde\r\n", 4, "abcd|CRLF|4|0\nabcd|CRLF|5|1\n");
    /* Overlong partial line at flush. */
    check_all_splits("abcdefg", 4, "abcd|NONE|7|1\n");
    /* CR just past the bound, then not followed by LF. */
    check_all_splits("abcd\rx\n", 4, "abcd|LF|6|1\n");
}

static void test_zero_max_line(void **state)
{
    (void)state;
    check_all_splits("ab\r\n\n", 0, "|CRLF|2|1\n|LF|0|0\n");
}

static void test_huge_line_bounded(void **state)
{
    (void)state;
    const size_t max = 1000, total = 5u << 20;
    struct sift_linebuf lb;
    sift_linebuf_init(&lb, max);
    uint8_t chunk[4096];
    memset(chunk, 'A', sizeof chunk);
    size_t sent = 0;
    struct sift_line ln;
    while (sent < total) {
        size_t n = total - sent < sizeof chunk ? total - sent : sizeof chunk;
        size_t used = sift_linebuf_take(&lb, chunk, n, &ln);
        assert_int_equal(used, n);
        assert_null(ln.data);
        sent += n;
        assert_true(lb.buf.cap <= 2 * max + 256);   /* memory stays bounded */
    }
    size_t used = sift_linebuf_take(&lb, (const uint8_t *)"\r\nnext", 6, &ln);
    assert_int_equal(used, 2);
    assert_non_null(ln.data);
    assert_int_equal(ln.len, max);
    assert_true(ln.full_len == total);
    assert_true(ln.overlong);
    assert_int_equal(ln.eol, SIFT_EOL_CRLF);
    used = sift_linebuf_take(&lb, (const uint8_t *)"next", 4, &ln);
    assert_int_equal(used, 4);
    assert_true(sift_linebuf_pending(&lb));
    assert_true(sift_linebuf_flush(&lb, &ln));
    assert_int_equal(ln.len, 4);
    assert_memory_equal(ln.data, "next", 4);
    assert_false(sift_linebuf_flush(&lb, &ln));
    sift_linebuf_free(&lb);
}

static void test_fast_path_points_into_input(void **state)
{
    (void)state;
    struct sift_linebuf lb;
    sift_linebuf_init(&lb, 64);
    const uint8_t in[] = "HELO x\r\nNOOP\r\n";
    struct sift_line ln;
    size_t used = sift_linebuf_take(&lb, in, sizeof in - 1, &ln);
    assert_int_equal(used, 8);
    assert_ptr_equal(ln.data, in);
    assert_int_equal(ln.len, 6);
    assert_int_equal(sift_linebuf_take(&lb, in, 0, &ln), 0);
    assert_null(ln.data);
    sift_linebuf_free(&lb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crlf_and_lf),
        cmocka_unit_test(test_empty_lines),
        cmocka_unit_test(test_bare_cr_stays_in_line),
        cmocka_unit_test(test_flush_partial),
        cmocka_unit_test(test_overlong),
        cmocka_unit_test(test_zero_max_line),
        cmocka_unit_test(test_huge_line_bounded),
        cmocka_unit_test(test_fast_path_points_into_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
