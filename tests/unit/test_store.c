/* test_store.c — store.c against real SQLite files in a temp directory:
 * migrations, refusal of foreign or newer databases, round trips of sessions,
 * commands, messages, UTF-8 repair, idempotency helpers and queries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

static char dir[256];

extern const size_t sift_schema_count;   /* generated from schema/NNN_*.sql */

/* "N\n": the schema version a fresh database reaches (one per schema file). */
static const char *schema_version(void)
{
    static char v[16];
    snprintf(v, sizeof v, "%zu\n", sift_schema_count);
    return v;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sift_store_XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void db_path(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

/* Collects query results as "a|b|c\n" lines (NULL shown as \N). */
struct collect { char buf[8192]; size_t len; int headers; };

static int collect_row(void *user, int ncols, const char *const *names, const char *const *vals,
                       const char *types)
{
    struct collect *c = user;
    (void)names;
    (void)types;
    if (!vals) { c->headers++; return 0; }
    for (int i = 0; i < ncols; i++)
        c->len += (size_t)snprintf(c->buf + c->len, sizeof c->buf - c->len, "%s%s", i ? "|" : "",
                                   vals[i] ? vals[i] : "\\N");
    c->len += (size_t)snprintf(c->buf + c->len, sizeof c->buf - c->len, "\n");
    return 0;
}

static const char *q(struct sift_store *st, const char *sql)
{
    static struct collect c;
    char err[256];
    memset(&c, 0, sizeof c);
    assert_int_equal(sift_store_query(st, sql, collect_row, &c, err, sizeof err), SIFT_OK);
    return c.buf;
}

static void test_create_and_reopen(void **state)
{
    (void)state;
    char p[300], err[256];
    struct sift_store *st;
    db_path(p, sizeof p, "a.db");
    assert_int_equal(sift_store_open(p, &st, err, sizeof err), SIFT_OK);
    assert_string_equal(q(st, "PRAGMA user_version"), schema_version());
    assert_string_equal(q(st, "PRAGMA journal_mode"), "wal\n");
    assert_string_equal(q(st, "SELECT count(*) FROM sqlite_schema WHERE name IN ('captures','sessions',"
                              "'commands','messages','recipients','headers','addresses','parts','findings',"
                              "'v_mail','v_attachments','v_findings')"), "12\n");
    sift_store_close(st);
    /* Reopening applies nothing twice. */
    assert_int_equal(sift_store_open(p, &st, err, sizeof err), SIFT_OK);
    assert_string_equal(q(st, "PRAGMA user_version"), schema_version());
    sift_store_close(st);
    /* Read-only open works and refuses writes. */
    assert_int_equal(sift_store_open_readonly(p, &st, err, sizeof err), SIFT_OK);
    struct collect c = {0};
    assert_int_equal(sift_store_query(st, "DELETE FROM captures", collect_row, &c, err, sizeof err), SIFT_ERR_DB);
    assert_non_null(strstr(err, "readonly"));
    sift_store_close(st);
}

static void test_refuses_foreign_and_newer(void **state)
{
    (void)state;
    char p[300], err[256];
    sqlite3 *db;
    struct sift_store *st;
    db_path(p, sizeof p, "foreign.db");
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(sift_store_open(p, &st, err, sizeof err), SIFT_ERR_DB);
    assert_non_null(strstr(err, "not a smtpsift database"));
    assert_null(st);
    /* The foreign table is untouched. */
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "SELECT x FROM t", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    db_path(p, sizeof p, "newer.db");
    assert_int_equal(sift_store_open(p, &st, err, sizeof err), SIFT_OK);
    sift_store_close(st);
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(sift_store_open(p, &st, err, sizeof err), SIFT_ERR_DB);
    assert_non_null(strstr(err, "newer"));

    db_path(p, sizeof p, "text.db");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("this is not a database at all, just some text that is long enough to look like a header\n", f);
    fclose(f);
    assert_int_equal(sift_store_open(p, &st, err, sizeof err), SIFT_ERR_DB);
    assert_non_null(strstr(err, "not a"));
}

static void test_round_trip(void **state)
{
    (void)state;
    char p[300], err[256];
    struct sift_store *st;
    db_path(p, sizeof p, "rt.db");
    assert_int_equal(sift_store_open(p, &st, err, sizeof err), SIFT_OK);
    int64_t ing = sift_store_ingest_begin(st, "smtpsift ingest x.pcap");
    assert_true(ing > 0);
    int64_t cap = sift_store_capture_add(st, ing, 0, "x.pcap", "ab12", 1234);
    assert_true(cap > 0);

    struct sift_flow_info fi = { "2001:db8::1", "192.0.2.25", 40000, 25, 6, { 0, 3, 1700000000123456 } };
    int64_t sid = sift_store_session_open(st, &fi, "Sabc");
    assert_true(sid > 0);

    struct sift_smtp_cmd greet = { .seq = 0, .verb = NULL, .reply_code = 220, .reply_text = "mx ESMTP",
                                   .reply_lines = 1, .reply_pkt = { 0, 4, 1700000000200000 }, .txn = -1 };
    sift_store_command(st, sid, &greet);
    const uint8_t line[] = "MAIL FROM:<caf\xe9@example.test>";
    struct sift_smtp_cmd mail = { .seq = 1, .verb = "MAIL", .args = "FROM:<caf\xe9@example.test>",
                                  .line = line, .line_len = sizeof line - 1, .cmd_pkt = { 0, 5, 1700000000300000 },
                                  .txn = 0, .reply_code = 250, .enhanced = "2.1.0", .reply_text = "Ok",
                                  .reply_lines = 1, .reply_pkt = { 0, 6, 1700000000400000 } };
    sift_store_command(st, sid, &mail);

    struct sift_smtp_rcpt rc[2] = {
        { "a@example.test", "<a@example.test>", "", 250, "2.1.5 Ok", { 0, 7, 0 } },
        { "b@example.test", "<b@example.test>", "", 550, "5.1.1 no", { 0, 8, 0 } },
    };
    struct sift_smtp_txn t = { .index = 0, .mail_from = "x@example.test", .mail_from_raw = "<x@example.test>",
                               .mail_params = "", .mail_reply_code = 250, .rcpts = rc, .n_rcpts = 2,
                               .has_content = 1, .data_reply_code = 250, .queue_id = "ABC123",
                               .disposition = SIFT_SMTP_ACCEPTED, .first_pkt = { 0, 5, 1700000000300000 },
                               .last_pkt = { 0, 12, 1700000001000000 } };
    sift_buf_append(&t.content, "Subject: hi\r\n\r\nbody\r\n", 21);
    struct sift_mime_header h = { "Subject", "hi", (uint8_t *)" hi", 3 };
    struct sift_mime_address a = { "from", "X \xff", "x@Example.TEST", NULL };
    struct sift_mime_part part = { .path = "1", .content_type = "text/plain", .charset = "us-ascii",
                                   .size = 6, .sha256 = "e3b0", .text = "body\r\n" };
    struct sift_mime_summary m = { .parsed = 1, .headers = &h, .n_headers = 1, .addresses = &a, .n_addresses = 1,
                                   .parts = &part, .n_parts = 1, .subject = "hi", .from_addr = "x@Example.TEST" };
    int64_t mid = sift_store_message(st, sid, &t, &m, "deadbeef");
    assert_true(mid > 0);
    sift_store_finding(st, 0, sid, mid, "test_rule", SIFT_SEV_LOW, "evidence", &t.first_pkt);

    struct sift_smtp_session info = { .banner = "mx ESMTP", .banner_code = 220, .helo_verb = "EHLO",
                                      .helo_name = "client.test", .n_commands = 2 };
    char *ext[] = { "PIPELINING", "SIZE 10240000", "auth PLAIN LOGIN" };
    info.extensions = ext;
    info.n_extensions = 3;
    info.pipelining_offered = 1;
    struct sift_store_session_end end = { &info, SIFT_CLOSE_FIN, { 0, 20, 1700000002000000 }, 100, 200, 1, "complete" };
    sift_store_session_close(st, sid, &end);
    assert_null(sift_store_error(st));
    assert_int_equal(sift_store_commit(st), SIFT_OK);

    assert_string_equal(q(st, "SELECT client_ip, client_port, server_ip, ip_version, first_packet, state, close_reason,"
                              " extensions, last_packet, printf('%.6f', start_ts) FROM sessions"),
                        "2001:db8::1|40000|192.0.2.25|6|3|closed|fin|PIPELINING SIZE AUTH|20|1700000000.123456\n");
    assert_string_equal(q(st, "SELECT keyword, params FROM extensions ORDER BY seq"),
                        "PIPELINING|\nSIZE|10240000\nAUTH|PLAIN LOGIN\n");
    /* Invalid UTF-8 becomes U+FFFD in TEXT; the BLOB keeps the byte. */
    assert_string_equal(q(st, "SELECT seq, verb, args, hex(line), reply_code, enhanced_code, cmd_packet, txn FROM commands ORDER BY seq"),
                        "0|\\N|\\N||220|\\N|\\N|\\N\n"
                        "1|MAIL|FROM:<caf\xef\xbf\xbd@example.test>|4D41494C2046524F4D3A3C636166E9406578616D706C652E746573743E|250|2.1.0|5|0\n");
    assert_string_equal(q(st, "SELECT mail_from, disposition, queue_id, size, sha256, subject, n_recipients, n_accepted,"
                              " first_packet, last_packet FROM messages"),
                        "x@example.test|accepted|ABC123|21|deadbeef|hi|2|1|5|12\n");
    assert_string_equal(q(st, "SELECT address, reply_code, accepted FROM recipients ORDER BY seq"),
                        "a@example.test|250|1\nb@example.test|550|0\n");
    assert_string_equal(q(st, "SELECT field, name, address, domain FROM addresses"),
                        "from|X \xef\xbf\xbd|x@Example.TEST|example.test\n");
    assert_string_equal(q(st, "SELECT length(data) FROM message_raw"), "21\n");
    assert_string_equal(q(st, "SELECT rule, severity, packet FROM v_findings"), "test_rule|low|5\n");
    assert_string_equal(q(st, "SELECT mail_from, recipients, rejected_recipients FROM v_mail"),
                        "x@example.test|a@example.test|b@example.test\n");

    /* Idempotency helpers: a running capture is not "done" and is forgotten with its rows. */
    assert_int_equal(sift_store_capture_find(st, "ab12"), 0);
    assert_int_equal(sift_store_capture_forget(st, "ab12"), 1);
    assert_string_equal(q(st, "SELECT (SELECT count(*) FROM sessions) || ',' || (SELECT count(*) FROM messages)"
                              " || ',' || (SELECT count(*) FROM commands) || ',' || (SELECT count(*) FROM findings)"),
                        "0,0,0,0\n");
    int64_t cap2 = sift_store_capture_add(st, ing, 0, "x.pcap", "ab12", 1234);
    struct sift_capture_info ci = { .dlt = 1, .dlt_name = "EN10MB", .format = "pcap", .packets = 20 };
    sift_store_capture_finish(st, cap2, &ci, "complete", NULL);
    assert_int_equal(sift_store_capture_find(st, "ab12"), cap2);
    assert_int_equal(sift_store_capture_forget(st, "ab12"), 0);
    sift_store_ingest_end(st, ing, "complete");
    sift_buf_free(&t.content);
    sift_store_close(st);
}

/* Schema 002: AUTH attempts, XCLIENT, TLS columns; --redact-secrets drops the
 * password and the SASL initial response but keeps user and mechanism. */
static void protocol_rows(struct sift_store *st, int64_t *sid_out)
{
    int64_t ing = sift_store_ingest_begin(st, "smtpsift ingest p.pcap");
    int64_t cap = sift_store_capture_add(st, ing, 0, "p.pcap", "cd34", 99);
    assert_true(cap > 0);
    struct sift_flow_info fi = { "192.0.2.9", "192.0.2.25", 40001, 587, 4, { 0, 1, 1700000000000000 } };
    int64_t sid = sift_store_session_open(st, &fi, "Sdef");
    const uint8_t line[] = "AUTH PLAIN AGFsaWNlAHMzY3JldA==";
    struct sift_smtp_cmd auth = { .seq = 2, .verb = "AUTH", .args = "PLAIN AGFsaWNlAHMzY3JldA==",
                                  .line = line, .line_len = sizeof line - 1, .cmd_pkt = { 0, 7, 1700000000500000 },
                                  .txn = -1, .reply_code = 235, .reply_text = "ok", .reply_lines = 1,
                                  .reply_pkt = { 0, 8, 1700000000600000 } };
    sift_store_command(st, sid, &auth);
    struct sift_smtp_auth a = { .seq = 2, .mechanism = "PLAIN", .username = "alice", .password = "s3cret",
                                .outcome_code = 235, .outcome_text = "2.7.0 ok", .pkt = { 0, 7, 1700000000500000 } };
    sift_store_auth(st, sid, &a);
    struct sift_smtp_auth b = { .seq = 3, .mechanism = "CRAM-MD5", .username = "tim", .cancelled = 1,
                                .pkt = { 0, 9, 1700000000700000 } };
    sift_store_auth(st, sid, &b);
    struct sift_smtp_xclient x = { 4, "XCLIENT", "ADDR=198.51.100.7 NAME=relay.example", 220, { 0, 10, 1700000000800000 } };
    sift_store_xclient(st, sid, &x);
    struct sift_smtp_session info = { .banner_code = 220, .tls_started = 1, .tls_pkt = { 0, 12, 1700000000900000 },
                                      .tls_version = "TLS 1.3", .tls_sni = "mx.example.test",
                                      .starttls_offered = 1, .n_auth = 2, .n_auth_failed = 0 };
    struct sift_store_session_end end = { &info, SIFT_CLOSE_FIN, { 0, 20, 1700000002000000 }, 1, 2, 0, "complete" };
    sift_store_session_close(st, sid, &end);
    assert_null(sift_store_error(st));
    assert_int_equal(sift_store_commit(st), SIFT_OK);
    *sid_out = sid;
}

static void test_protocol_tables(void **state)
{
    (void)state;
    char p[300], err[256];
    struct sift_store *st;
    int64_t sid;
    db_path(p, sizeof p, "proto.db");
    assert_int_equal(sift_store_open(p, &st, err, sizeof err), SIFT_OK);
    protocol_rows(st, &sid);
    assert_string_equal(q(st, "SELECT tls, tls_offset_packet, tls_version, tls_sni, starttls_offered, n_auth,"
                              " n_auth_failed FROM sessions"),
                        "1|12|TLS 1.3|mx.example.test|1|2|0\n");
    assert_string_equal(q(st, "SELECT seq, mechanism, username, password, outcome_code, outcome_text, cancelled,"
                              " tls, packet, printf('%.1f', ts) FROM auth_attempts ORDER BY seq"),
                        "2|PLAIN|alice|s3cret|235|2.7.0 ok|0|0|7|1700000000.5\n"
                        "3|CRAM-MD5|tim|\\N|\\N|\\N|1|0|9|1700000000.7\n");
    assert_string_equal(q(st, "SELECT seq, verb, attributes, reply_code, packet FROM xclient"),
                        "4|XCLIENT|ADDR=198.51.100.7 NAME=relay.example|220|10\n");
    assert_string_equal(q(st, "SELECT args, CAST(line AS TEXT) FROM commands"),
                        "PLAIN AGFsaWNlAHMzY3JldA==|AUTH PLAIN AGFsaWNlAHMzY3JldA==\n");
    assert_string_equal(q(st, "SELECT mechanism, username, password, success, client_ip FROM v_auth ORDER BY id"),
                        "PLAIN|alice|s3cret|1|192.0.2.9\nCRAM-MD5|tim|\\N|0|192.0.2.9\n");
    /* rows go with their capture */
    assert_int_equal(sift_store_capture_forget(st, "cd34"), 1);
    assert_string_equal(q(st, "SELECT (SELECT count(*) FROM auth_attempts) || ',' || (SELECT count(*) FROM xclient)"),
                        "0,0\n");
    sift_store_close(st);

    db_path(p, sizeof p, "redact.db");
    assert_int_equal(sift_store_open(p, &st, err, sizeof err), SIFT_OK);
    sift_store_set_redact(st, 1);
    protocol_rows(st, &sid);
    assert_string_equal(q(st, "SELECT mechanism, username, password FROM auth_attempts ORDER BY seq"),
                        "PLAIN|alice|\\N\nCRAM-MD5|tim|\\N\n");
    assert_string_equal(q(st, "SELECT verb, args, CAST(line AS TEXT), reply_code FROM commands"),
                        "AUTH|PLAIN|AUTH PLAIN|235\n");
    assert_string_equal(q(st, "SELECT count(*) FROM commands WHERE instr(line, 'AGFsaWNl') > 0"), "0\n");
    sift_store_close(st);
}

static void test_query_errors_and_multi(void **state)
{
    (void)state;
    char p[300], err[256];
    struct sift_store *st;
    db_path(p, sizeof p, "q.db");
    assert_int_equal(sift_store_open(p, &st, err, sizeof err), SIFT_OK);
    struct collect c = {0};
    assert_int_equal(sift_store_query(st, "SELECT nosuchcol FROM messages", collect_row, &c, err, sizeof err),
                     SIFT_ERR_DB);
    assert_non_null(strstr(err, "no such column"));
    memset(&c, 0, sizeof c);
    assert_int_equal(sift_store_query(st, "SELECT 1; SELECT 'a''b', x'00ff', NULL, 2.5", collect_row, &c, err,
                                      sizeof err), SIFT_OK);
    assert_int_equal(c.headers, 2);
    assert_string_equal(c.buf, "1\na'b|x'00ff'|\\N|2.5\n");
    sift_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_reopen),
        cmocka_unit_test(test_refuses_foreign_and_newer),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_protocol_tables),
        cmocka_unit_test(test_query_errors_and_multi),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
