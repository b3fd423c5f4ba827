/* store.c — SQLite persistence: migrations by PRAGMA user_version, WAL with
 * synchronous=NORMAL, prepared statements bound with copies (SQLITE_TRANSIENT),
 * rows batched into transactions. Text columns always receive valid UTF-8;
 * raw wire bytes go to BLOB columns. It does not decide what to store. */
#include "store.h"

#include <errno.h>
#include <sqlite3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SIFT_APPLICATION_ID 0x53494654   /* "SIFT" */
#define BATCH_ROWS 20000

extern const char *const sift_schema_sql[];
extern const size_t sift_schema_count;

enum stmt_id {
    S_SESSION_OPEN, S_SESSION_CLOSE, S_EXTENSION, S_COMMAND, S_MESSAGE, S_RAW, S_RCPT,
    S_HEADER, S_ADDRESS, S_PART, S_FINDING, S_SESSION_PROTO, S_AUTH, S_XCLIENT,
    S_SESSION_GAP, S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_SESSION_GAP] = "UPDATE sessions SET gap_bytes=? WHERE id=?",
    [S_SESSION_OPEN] =
        "INSERT INTO sessions(capture_id, uid, client_ip, client_port, server_ip, server_port,"
        " ip_version, first_packet, start_ts, state) VALUES (?,?,?,?,?,?,?,?,?,'open')",
    [S_SESSION_CLOSE] =
        "UPDATE sessions SET last_capture_id=?, last_packet=?, end_ts=?, state='closed',"
        " close_reason=?, reassembly=?, bytes_c2s=?, bytes_s2c=?, banner_code=?, banner=?,"
        " helo_verb=?, helo=?, extensions=?, pipelining_offered=?, pipelining_used=?,"
        " n_commands=?, n_messages=?, quit=? WHERE id=?",
    [S_EXTENSION] = "INSERT INTO extensions(session_id, seq, keyword, params) VALUES (?,?,?,?)",
    [S_COMMAND] =
        "INSERT INTO commands(session_id, seq, verb, args, line, cmd_ts, cmd_packet, cmd_capture_id,"
        " txn, reply_code, enhanced_code, reply_text, reply_lines, reply_ts, reply_packet,"
        " reply_capture_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [S_MESSAGE] =
        "INSERT INTO messages(session_id, seq, mail_from, mail_from_raw, mail_params,"
        " mail_reply_code, disposition, has_content, data_reply_code, data_reply_text, queue_id,"
        " size, sha256, truncated, terminator, parsed, subject, from_addr, from_name, date,"
        " date_ts, message_id, in_reply_to, n_recipients, n_accepted, n_parts, n_attachments,"
        " capture_id, first_packet, last_capture_id, last_packet, start_ts, end_ts, missing_bytes)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [S_RAW] = "INSERT INTO message_raw(message_id, data) VALUES (?,?)",
    [S_RCPT] =
        "INSERT INTO recipients(message_id, seq, address, raw, params, reply_code, reply_text,"
        " accepted, packet, ts) VALUES (?,?,?,?,?,?,?,?,?,?)",
    [S_HEADER] = "INSERT INTO headers(message_id, seq, name, value, raw) VALUES (?,?,?,?,?)",
    [S_ADDRESS] =
        "INSERT INTO addresses(message_id, field, seq, name, address, domain, grp)"
        " VALUES (?,?,?,?,?,?,?)",
    [S_PART] =
        "INSERT INTO parts(message_id, seq, path, content_type, charset, encoding, disposition,"
        " filename, size, sha256, is_attachment, text, md5, sha1, magic_type, html_text,"
        " extracted_path) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [S_FINDING] =
        "INSERT INTO findings(capture_id, session_id, message_id, rule, severity, detail, packet, ts)"
        " VALUES (?,?,?,?,?,?,?,?)",
    [S_SESSION_PROTO] =
        "UPDATE sessions SET tls=?, tls_offset_packet=?, tls_version=?, tls_sni=?, starttls_offered=?,"
        " n_auth=?, n_auth_failed=? WHERE id=?",
    [S_AUTH] =
        "INSERT INTO auth_attempts(session_id, seq, mechanism, username, password, outcome_code,"
        " outcome_text, cancelled, tls, packet, capture_id, ts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
    [S_XCLIENT] =
        "INSERT INTO xclient(session_id, seq, verb, attributes, reply_code, packet, capture_id, ts)"
        " VALUES (?,?,?,?,?,?,?,?)",
};

struct sift_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    sqlite3_stmt *content_stmt[6];   /* see content_sql (schema 003) */
    int in_txn;
    unsigned rows;
    unsigned hold;           /* open units (sift_store_unit_begin): no batch commit */
    unsigned n_commits;      /* batch commits so far (SIFT_TEST_KILL_AFTER_COMMIT) */
    char *error;             /* first write error, sticky */
    int64_t *file_capture;   /* file_idx -> capture id */
    size_t n_file_capture;
    int redact;              /* --redact-secrets: no passwords, no SASL data */
    int no_raw;              /* message bytes not stored (message_raw empty): the capture is their store */
};

/* SQLite's "disk I/O error" says nothing of the cause: the system's reason is
 * added when SQLite kept it, else what a failed write most likely means. */
static void why_io(struct sift_store *st, char *buf, size_t len)
{
    int code = sqlite3_errcode(st->db) & 0xff, en = sqlite3_system_errno(st->db);
    buf[0] = '\0';
    if ((code == SQLITE_IOERR || code == SQLITE_FULL || code == SQLITE_CANTOPEN) && en)
        snprintf(buf, len, " (%s)", strerror(en));
    else if (sqlite3_extended_errcode(st->db) == SQLITE_IOERR_WRITE)
        snprintf(buf, len, " (a write failed: disk full or file size limit reached?)");
}

static void set_error(struct sift_store *st, const char *what)
{
    if (st->error) return;
    char msg[512], io[128];
    why_io(st, io, sizeof io);
    snprintf(msg, sizeof msg, "database error (%s): %s%s", what, sqlite3_errmsg(st->db), io);
    st->error = sift_xstrdup(msg);
}

static int exec(struct sift_store *st, const char *sql)
{
    char *e = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &e) != SQLITE_OK) {
        if (!st->error) {
            char msg[512], io[128];
            why_io(st, io, sizeof io);
            snprintf(msg, sizeof msg, "database error: %s%s", e ? e : "unknown", io);
            st->error = sift_xstrdup(msg);
        }
        sqlite3_free(e);
        return -1;
    }
    return 0;
}

static int64_t query_int(struct sift_store *st, const char *sql, int64_t dflt)
{
    sqlite3_stmt *s;
    int64_t v = dflt;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) return dflt;
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* Begin a batch if none is open. */
static void ensure_txn(struct sift_store *st)
{
    if (st->in_txn || st->error) return;
    if (exec(st, "BEGIN IMMEDIATE") == 0) st->in_txn = 1;
}

enum sift_status sift_store_commit(struct sift_store *st)
{
    if (!st->in_txn) return st->error ? SIFT_ERR_DB : SIFT_OK;
    if (st->error) return SIFT_ERR_DB;
    if (exec(st, "COMMIT") != 0) return SIFT_ERR_DB;
    st->in_txn = 0;
    st->rows = 0;
    return SIFT_OK;
}

void sift_store_bulk(struct sift_store *st, int on)
{
    if (st->in_txn || st->error) return;
    /* journal_mode answers with the mode in force; a refusal (another
     * connection in WAL) is not an error: the run just keeps the WAL. */
    sqlite3_exec(st->db, on ? "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL"
                            : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
}

/* A batch is full: commit it, unless a unit is open. Fault injection for
 * tests/safety/test_crash.py: SIFT_TEST_KILL_AFTER_COMMIT=N kills the process
 * with SIGKILL right after the Nth batch commit, the moment a crash would
 * expose a batch boundary that splits a message. */
static void batch_commit(struct sift_store *st)
{
    if (st->hold || st->rows < BATCH_ROWS || sift_store_commit(st) != SIFT_OK) return;
    const char *k = getenv("SIFT_TEST_KILL_AFTER_COMMIT");
    if (k && ++st->n_commits == strtoul(k, NULL, 10)) raise(SIGKILL);
}

static void row_done(struct sift_store *st)
{
    st->rows++;
    batch_commit(st);
}

void sift_store_unit_begin(struct sift_store *st)
{
    st->hold++;
}

void sift_store_unit_end(struct sift_store *st)
{
    if (st->hold && --st->hold == 0) batch_commit(st);
}

/* Bind helpers: strings are made valid UTF-8 and copied. */
static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (!v) { sqlite3_bind_null(s, i); return; }
    size_t n = strlen(v);
    if (sift_utf8_valid((const uint8_t *)v, n)) {
        sqlite3_bind_text(s, i, v, (int)n, SQLITE_TRANSIENT);
    } else {
        size_t m;
        char *fixed = sift_utf8_fix((const uint8_t *)v, n, &m);
        sqlite3_bind_text(s, i, fixed, (int)m, free);
    }
}

static void bind_blob(sqlite3_stmt *s, int i, const void *p, size_t n)
{
    if (!p) { sqlite3_bind_null(s, i); return; }
    sqlite3_bind_blob64(s, i, n ? p : "", n, SQLITE_TRANSIENT);
}

static void bind_int(sqlite3_stmt *s, int i, int64_t v) { sqlite3_bind_int64(s, i, v); }

static void bind_int_or_null(sqlite3_stmt *s, int i, int64_t v, int is_null)
{
    if (is_null) sqlite3_bind_null(s, i);
    else sqlite3_bind_int64(s, i, v);
}

static void bind_ts(sqlite3_stmt *s, int i, const struct sift_pktref *p)
{
    if (!p || (!p->frame_no && !p->ts_us)) sqlite3_bind_null(s, i);
    else sqlite3_bind_double(s, i, (double)p->ts_us / 1e6);
}

static void bind_packet(struct sift_store *st, sqlite3_stmt *s, int i_cap, int i_pkt,
                        const struct sift_pktref *p)
{
    if (!p || !p->frame_no) {
        if (i_cap) sqlite3_bind_null(s, i_cap);
        sqlite3_bind_null(s, i_pkt);
        return;
    }
    if (i_cap) {
        int64_t cap = sift_store_capture_of(st, p->file_idx);
        bind_int_or_null(s, i_cap, cap, cap == 0);
    }
    sqlite3_bind_int64(s, i_pkt, (int64_t)p->frame_no);
}

/* Step a prepared insert/update, then reset it; errors become sticky. */
static void step(struct sift_store *st, enum stmt_id id)
{
    sqlite3_stmt *s = st->stmt[id];
    ensure_txn(st);          /* never autocommit: every row belongs to a batch */
    if (!st->error && sqlite3_step(s) != SQLITE_DONE) set_error(st, "write");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    row_done(st);
}

/* ---- message content (schema 003): Received chain, authentication,
 * signatures, URLs, X-Mailer & co., the full-text index ---------------- */

enum content_stmt { C_RECEIVED, C_AUTH, C_DKIM, C_URL, C_MSG_EXTRA, C_SEARCH, C_COUNT };

static const char *const content_sql[C_COUNT] = {
    [C_RECEIVED] =
        "INSERT INTO received(message_id, seq, header_seq, from_name, from_ip, by_name, protocol,"
        " queue_id, for_addr, date, ts, raw) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
    [C_AUTH] =
        "INSERT INTO auth_results(message_id, seq, header, header_seq, arc_instance, authserv_id,"
        " method, result, reason, properties) VALUES (?,?,?,?,?,?,?,?,?,?)",
    [C_DKIM] =
        "INSERT INTO dkim_signatures(message_id, seq, header, header_seq, arc_instance, version,"
        " algorithm, domain, selector, canonicalization, signed_headers, identity, body_hash,"
        " chain_validation, timestamp) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [C_URL] =
        "INSERT INTO urls(message_id, part_seq, seq, url, host, visible_text) VALUES (?,?,?,?,?,?)",
    [C_MSG_EXTRA] = "UPDATE messages SET x_mailer=?, user_agent=?, x_originating_ip=? WHERE id=?",
    [C_SEARCH] =
        "INSERT INTO message_search(rowid, subject, body, filenames)"
        " SELECT id, subject, body, filenames FROM v_search_doc WHERE id=?",
};

static enum sift_status prepare_content(struct sift_store *st, char *err, size_t errlen)
{
    for (int i = 0; i < C_COUNT; i++)
        if (sqlite3_prepare_v3(st->db, content_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &st->content_stmt[i], NULL) != SQLITE_OK) {
            snprintf(err, errlen, "database error (prepare): %s", sqlite3_errmsg(st->db));
            return SIFT_ERR_DB;
        }
    return SIFT_OK;
}

static void cstep(struct sift_store *st, enum content_stmt id)
{
    sqlite3_stmt *s = st->content_stmt[id];
    ensure_txn(st);
    if (!st->error && sqlite3_step(s) != SQLITE_DONE) set_error(st, "write");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    row_done(st);
}

/* Rows of schema 003 for message mid (after its parts), and its search entry.
 * mime may be NULL (no content): only the search entry is written. */
static void store_content(struct sift_store *st, int64_t mid, const struct sift_mime_summary *mime)
{
    if (mime) {
        sqlite3_stmt *q = st->content_stmt[C_MSG_EXTRA];
        if (mime->x_mailer || mime->user_agent || mime->x_originating_ip) {
            bind_text(q, 1, mime->x_mailer);
            bind_text(q, 2, mime->user_agent);
            bind_text(q, 3, mime->x_originating_ip);
            bind_int(q, 4, mid);
            cstep(st, C_MSG_EXTRA);
        }
        for (size_t i = 0; i < mime->n_received; i++) {
            const struct sift_mime_received *r = &mime->received[i];
            q = st->content_stmt[C_RECEIVED];
            bind_int(q, 1, mid);
            bind_int(q, 2, (int64_t)i);
            bind_int(q, 3, (int64_t)r->header_seq);
            bind_text(q, 4, r->hop.from_name);
            bind_text(q, 5, r->hop.from_ip);
            bind_text(q, 6, r->hop.by_name);
            bind_text(q, 7, r->hop.protocol);
            bind_text(q, 8, r->hop.id);
            bind_text(q, 9, r->hop.for_addr);
            bind_text(q, 10, r->hop.date);
            if (r->has_ts) sqlite3_bind_double(q, 11, (double)r->ts);
            bind_text(q, 12, r->raw ? r->raw : "");
            cstep(st, C_RECEIVED);
        }
        for (size_t i = 0; i < mime->n_auth; i++) {
            const struct sift_mime_auth *a = &mime->auth[i];
            q = st->content_stmt[C_AUTH];
            bind_int(q, 1, mid);
            bind_int(q, 2, (int64_t)i);
            bind_text(q, 3, a->header);
            bind_int(q, 4, (int64_t)a->header_seq);
            bind_int_or_null(q, 5, a->instance, a->instance < 0);
            bind_text(q, 6, a->authserv_id);
            bind_text(q, 7, a->method ? a->method : "");
            bind_text(q, 8, a->result ? a->result : "");
            bind_text(q, 9, a->reason);
            bind_text(q, 10, a->props);
            cstep(st, C_AUTH);
        }
        for (size_t i = 0; i < mime->n_dkim; i++) {
            const struct sift_mime_dkim *d = &mime->dkim[i];
            q = st->content_stmt[C_DKIM];
            bind_int(q, 1, mid);
            bind_int(q, 2, (int64_t)i);
            bind_text(q, 3, d->header);
            bind_int(q, 4, (int64_t)d->header_seq);
            bind_int_or_null(q, 5, d->instance, d->instance < 0);
            bind_text(q, 6, d->version);
            bind_text(q, 7, d->algorithm);
            bind_text(q, 8, d->domain);
            bind_text(q, 9, d->selector);
            bind_text(q, 10, d->canonicalization);
            bind_text(q, 11, d->signed_headers);
            bind_text(q, 12, d->identity);
            bind_text(q, 13, d->body_hash);
            bind_text(q, 14, d->chain_validation);
            bind_int_or_null(q, 15, d->timestamp, !d->has_timestamp);
            cstep(st, C_DKIM);
        }
        for (size_t i = 0; i < mime->n_urls; i++) {
            const struct sift_mime_url *u = &mime->urls[i];
            q = st->content_stmt[C_URL];
            bind_int(q, 1, mid);
            bind_int(q, 2, (int64_t)u->part);
            bind_int(q, 3, (int64_t)i);
            bind_text(q, 4, u->url ? u->url : "");
            bind_text(q, 5, u->host);
            bind_text(q, 6, u->text);
            cstep(st, C_URL);
        }
    }
    bind_int(st->content_stmt[C_SEARCH], 1, mid);
    cstep(st, C_SEARCH);
}

static enum sift_status migrate(struct sift_store *st, char *err, size_t errlen)
{
    int64_t version = query_int(st, "PRAGMA user_version", 0);
    int64_t app = query_int(st, "PRAGMA application_id", 0);
    int64_t tables = query_int(st, "SELECT count(*) FROM sqlite_schema", -1);
    if (tables < 0) {
        int code = sqlite3_errcode(st->db) & 0xff;
        char io[128];
        why_io(st, io, sizeof io);
        if (code == SQLITE_NOTADB)
            snprintf(err, errlen, "not a SQLite database: %s", sqlite3_errmsg(st->db));
        else if (code == SQLITE_READONLY || code == SQLITE_CANTOPEN || code == SQLITE_PERM)
            snprintf(err, errlen, "cannot write the database or create its -wal and -shm files (%s%s);"
                     " check the permissions of the file and its directory", sqlite3_errmsg(st->db), io);
        else
            snprintf(err, errlen, "cannot read the database: %s%s", sqlite3_errmsg(st->db), io);
        return SIFT_ERR_DB;
    }
    if (app != SIFT_APPLICATION_ID && (tables > 0 || app != 0)) {
        snprintf(err, errlen, "not a smtpsift database (it has other tables); use another -d file");
        return SIFT_ERR_DB;
    }
    if (version > (int64_t)sift_schema_count) {
        snprintf(err, errlen, "database schema version %lld is newer than this smtpsift (%zu); upgrade smtpsift",
                 (long long)version, sift_schema_count);
        return SIFT_ERR_DB;
    }
    if (version == 0 && exec(st, "PRAGMA page_size=8192") != 0) goto fail;
    if (exec(st, "PRAGMA journal_mode=WAL") != 0) goto fail;
    for (int64_t v = version; v < (int64_t)sift_schema_count; v++) {
        char pragma[96];
        if (exec(st, "BEGIN IMMEDIATE") != 0) goto fail;
        if (exec(st, sift_schema_sql[v]) != 0) { exec(st, "ROLLBACK"); goto fail; }
        snprintf(pragma, sizeof pragma, "PRAGMA user_version=%lld; PRAGMA application_id=%d",
                 (long long)v + 1, SIFT_APPLICATION_ID);
        if (exec(st, pragma) != 0 || exec(st, "COMMIT") != 0) { exec(st, "ROLLBACK"); goto fail; }
    }
    return SIFT_OK;
fail:
    snprintf(err, errlen, "%s", st->error ? st->error : "cannot set up the database");
    return SIFT_ERR_DB;
}

/* Why the file cannot be opened, as " (reason)", or "": SQLite's own answer
 * ("unable to open database file") does not say, and its errno is unreliable. */
static void open_reason(const char *path, int create, char *buf, size_t len)
{
    struct stat sb;
    buf[0] = '\0';
    if (stat(path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) snprintf(buf, len, " (it is a directory)");
        else if (access(path, create ? R_OK | W_OK : R_OK) != 0) snprintf(buf, len, " (%s)", strerror(errno));
        return;
    }
    if (errno != ENOENT || !create) {
        snprintf(buf, len, " (%s)", strerror(errno));
        return;
    }
    char *dir = sift_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = '\0';
    else if (slash) *slash = '\0';
    const char *d = slash ? dir : ".";
    if (access(d, W_OK | X_OK) != 0) snprintf(buf, len, " (cannot create it in %s: %s)", d, strerror(errno));
    free(dir);
}

static enum sift_status open_common(const char *path, int flags, struct sift_store **out,
                                    char *err, size_t errlen)
{
    struct sift_store *st = sift_xcalloc(1, sizeof *st);
    *out = NULL;
    /* One thread uses a connection at a time (the capture thread while ingesting):
     * SQLite's own per-call mutexes are not needed. */
    if (sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        char why[512];
        open_reason(path, flags & SQLITE_OPEN_CREATE, why, sizeof why);
        snprintf(err, errlen, "cannot open database: %s%s", st->db ? sqlite3_errmsg(st->db) : "out of memory", why);
        sqlite3_close(st->db);
        free(st);
        return SIFT_ERR_DB;
    }
    sqlite3_busy_timeout(st->db, 5000);
    sqlite3_extended_result_codes(st->db, 1);
    *out = st;
    return SIFT_OK;
}

enum sift_status sift_store_open(const char *path, struct sift_store **out, char *err, size_t errlen)
{
    struct sift_store *st;
    *out = NULL;                 /* on every failure path too (valgrind: test_store read it unset) */
    enum sift_status rc = open_common(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &st, err, errlen);
    if (rc != SIFT_OK) return rc;
    if (sqlite3_db_readonly(st->db, "main") == 1) {   /* SQLite fell back to read-only */
        snprintf(err, errlen, "the database file is read-only (no write permission); it cannot be added to");
        rc = SIFT_ERR_DB;
    }
    if (rc == SIFT_OK) rc = migrate(st, err, errlen);
    if (rc == SIFT_OK &&
        exec(st, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
                 " PRAGMA cache_size=-8192; PRAGMA journal_size_limit=67108864") != 0) {
        snprintf(err, errlen, "%s", st->error);
        rc = SIFT_ERR_DB;
    }
    for (int i = 0; rc == SIFT_OK && i < S_COUNT; i++) {
        if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i], NULL)
            != SQLITE_OK) {
            snprintf(err, errlen, "database error (prepare): %s", sqlite3_errmsg(st->db));
            rc = SIFT_ERR_DB;
        }
    }
    if (rc == SIFT_OK) rc = prepare_content(st, err, errlen);
    if (rc != SIFT_OK) {
        free(st->error);
        st->error = NULL;
        sift_store_close(st);
        return rc;
    }
    *out = st;
    return SIFT_OK;
}

enum sift_status sift_store_open_readonly(const char *path, struct sift_store **out, char *err,
                                          size_t errlen)
{
    struct sift_store *st;
    *out = NULL;
    enum sift_status rc = open_common(path, SQLITE_OPEN_READONLY, &st, err, errlen);
    if (rc != SIFT_OK) return rc;
    int64_t app = query_int(st, "PRAGMA application_id", -1);
    if (app != SIFT_APPLICATION_ID) {
        snprintf(err, errlen, app < 0 ? "not a SQLite database" : "not a smtpsift database");
        sift_store_close(st);
        return SIFT_ERR_DB;
    }
    *out = st;
    return SIFT_OK;
}

void sift_store_close(struct sift_store *st)
{
    if (!st) return;
    if (st->in_txn) {
        if (st->error) exec(st, "ROLLBACK");
        else sift_store_commit(st);
    }
    for (int i = 0; i < S_COUNT; i++) sqlite3_finalize(st->stmt[i]);
    for (size_t i = 0; i < SIFT_ARRAY_LEN(st->content_stmt); i++) sqlite3_finalize(st->content_stmt[i]);
    if (st->stmt[0] && !st->error) {
        exec(st, "PRAGMA optimize");
        sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    }
    sqlite3_close(st->db);
    free(st->error);
    free(st->file_capture);
    free(st);
}

const char *sift_store_error(const struct sift_store *st) { return st->error; }

static void iso_now(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t sift_store_ingest_begin(struct sift_store *st, const char *command_line)
{
    char now[32];
    sqlite3_stmt *s;
    iso_now(now, sizeof now);
    ensure_txn(st);
    if (sqlite3_prepare_v2(st->db,
            "INSERT INTO ingests(started_at, status, tool_version, command_line) VALUES (?,'running',?,?)",
            -1, &s, NULL) != SQLITE_OK) { set_error(st, "prepare"); return 0; }
    bind_text(s, 1, now);
    bind_text(s, 2, SIFT_VERSION);
    bind_text(s, 3, command_line);
    if (sqlite3_step(s) != SQLITE_DONE) set_error(st, "ingest");
    sqlite3_finalize(s);
    int64_t id = sqlite3_last_insert_rowid(st->db);
    sift_store_commit(st);
    return st->error ? 0 : id;
}

void sift_store_ingest_end(struct sift_store *st, int64_t ingest_id, const char *status)
{
    char now[32];
    sqlite3_stmt *s;
    iso_now(now, sizeof now);
    ensure_txn(st);
    if (sqlite3_prepare_v2(st->db, "UPDATE ingests SET finished_at=?, status=? WHERE id=?", -1, &s, NULL)
        != SQLITE_OK) { set_error(st, "prepare"); return; }
    bind_text(s, 1, now);
    bind_text(s, 2, status);
    bind_int(s, 3, ingest_id);
    if (sqlite3_step(s) != SQLITE_DONE) set_error(st, "ingest");
    sqlite3_finalize(s);
    sift_store_commit(st);
}

/* A finished capture (complete or truncated) whose column `by` ("sha256" or
 * "fingerprint", never user input) equals value: its id, and its SHA-256 into
 * sha_out when not NULL; 0 if none. */
static int64_t find_finished(struct sift_store *st, const char *by, const char *value, char sha_out[65])
{
    char sql[160];
    sqlite3_stmt *s;
    int64_t id = 0;
    if (sha_out) sha_out[0] = '\0';
    snprintf(sql, sizeof sql, "SELECT id, sha256 FROM captures WHERE %s=? AND status IN"
             " ('complete','truncated') ORDER BY id LIMIT 1", by);
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) { set_error(st, "prepare"); return 0; }
    bind_text(s, 1, value);
    if (sqlite3_step(s) == SQLITE_ROW) {
        id = sqlite3_column_int64(s, 0);
        const unsigned char *h = sqlite3_column_text(s, 1);
        if (sha_out) snprintf(sha_out, 65, "%s", h ? (const char *)h : "");
    }
    sqlite3_finalize(s);
    return id;
}

/* Deletes unfinished captures whose column `by` equals value; the foreign keys
 * cascade to their sessions and from there to everything else. Commits. */
static int forget_unfinished(struct sift_store *st, const char *by, const char *value)
{
    char sql[160];
    sqlite3_stmt *s;
    ensure_txn(st);
    snprintf(sql, sizeof sql, "DELETE FROM captures WHERE %s=? AND status NOT IN ('complete','truncated')", by);
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) { set_error(st, "prepare"); return 0; }
    bind_text(s, 1, value);
    if (sqlite3_step(s) != SQLITE_DONE) set_error(st, "forget");
    sqlite3_finalize(s);
    int n = sqlite3_changes(st->db);
    sift_store_commit(st);
    return n;
}

int64_t sift_store_capture_find(struct sift_store *st, const char *sha256)
{
    return find_finished(st, "sha256", sha256, NULL);
}

int sift_store_capture_forget(struct sift_store *st, const char *sha256)
{
    return forget_unfinished(st, "sha256", sha256);
}

int64_t sift_store_capture_find_fp(struct sift_store *st, const char *fingerprint, char sha_out[65])
{
    return find_finished(st, "fingerprint", fingerprint, sha_out);
}

int sift_store_capture_forget_fp(struct sift_store *st, const char *fingerprint)
{
    return forget_unfinished(st, "fingerprint", fingerprint);
}

void sift_store_capture_set_hash(struct sift_store *st, int64_t capture_id, const char *sha256,
                                 const char *fingerprint)
{
    sqlite3_stmt *s;
    ensure_txn(st);
    if (sqlite3_prepare_v2(st->db,
            "UPDATE captures SET sha256=coalesce(?, sha256), fingerprint=coalesce(?, fingerprint) WHERE id=?",
            -1, &s, NULL) != SQLITE_OK) { set_error(st, "prepare"); return; }
    bind_text(s, 1, sha256);
    bind_text(s, 2, fingerprint);
    bind_int(s, 3, capture_id);
    if (sqlite3_step(s) != SQLITE_DONE) set_error(st, "capture");
    sqlite3_finalize(s);
}

void sift_store_capture_set_realpath(struct sift_store *st, int64_t capture_id, const char *realpath)
{
    sqlite3_stmt *s;
    ensure_txn(st);
    if (sqlite3_prepare_v2(st->db, "UPDATE captures SET realpath=? WHERE id=?", -1, &s, NULL) != SQLITE_OK) {
        set_error(st, "prepare");
        return;
    }
    bind_text(s, 1, realpath);
    bind_int(s, 2, capture_id);
    if (sqlite3_step(s) != SQLITE_DONE) set_error(st, "capture");
    sqlite3_finalize(s);
}

int64_t sift_store_capture_add(struct sift_store *st, int64_t ingest_id, uint32_t file_idx,
                               const char *path, const char *sha256, uint64_t size)
{
    sqlite3_stmt *s;
    ensure_txn(st);
    if (sqlite3_prepare_v2(st->db,
            "INSERT INTO captures(ingest_id, file_index, path, sha256, size, status) VALUES (?,?,?,?,?,'running')",
            -1, &s, NULL) != SQLITE_OK) { set_error(st, "prepare"); return 0; }
    bind_int(s, 1, ingest_id);
    bind_int(s, 2, file_idx);
    bind_text(s, 3, path);
    bind_text(s, 4, sha256);
    bind_int(s, 5, (int64_t)size);
    if (sqlite3_step(s) != SQLITE_DONE) set_error(st, "capture");
    sqlite3_finalize(s);
    int64_t id = st->error ? 0 : sqlite3_last_insert_rowid(st->db);
    if (id) sift_store_map_file(st, file_idx, id);
    return id;
}

void sift_store_capture_finish(struct sift_store *st, int64_t capture_id,
                               const struct sift_capture_info *info, const char *status,
                               const char *error)
{
    sqlite3_stmt *s;
    ensure_txn(st);
    if (sqlite3_prepare_v2(st->db,
            "UPDATE captures SET format=?, link_type=?, link_name=?, packets=?, bytes=?, short_frames=?,"
            " first_ts=?, last_ts=?, status=?, error=? WHERE id=?", -1, &s, NULL) != SQLITE_OK) {
        set_error(st, "prepare");
        return;
    }
    bind_text(s, 1, info && info->format[0] ? info->format : NULL);
    bind_int_or_null(s, 2, info ? info->dlt : 0, !info || !info->format[0]);
    bind_text(s, 3, info && info->dlt_name[0] ? info->dlt_name : NULL);
    bind_int(s, 4, info ? (int64_t)info->packets : 0);
    bind_int(s, 5, info ? (int64_t)info->bytes : 0);
    bind_int(s, 6, info ? (int64_t)info->short_frames : 0);
    if (info && info->packets) {
        sqlite3_bind_double(s, 7, (double)info->first_ts_us / 1e6);
        sqlite3_bind_double(s, 8, (double)info->last_ts_us / 1e6);
    }
    bind_text(s, 9, status);
    bind_text(s, 10, error);
    bind_int(s, 11, capture_id);
    if (sqlite3_step(s) != SQLITE_DONE) set_error(st, "capture");
    sqlite3_finalize(s);
}

void sift_store_map_file(struct sift_store *st, uint32_t file_idx, int64_t capture_id)
{
    if (file_idx >= st->n_file_capture) {
        size_t n = (size_t)file_idx + 16;
        st->file_capture = sift_xrealloc(st->file_capture, n * sizeof *st->file_capture);
        memset(st->file_capture + st->n_file_capture, 0, (n - st->n_file_capture) * sizeof *st->file_capture);
        st->n_file_capture = n;
    }
    st->file_capture[file_idx] = capture_id;
}

int64_t sift_store_capture_of(const struct sift_store *st, uint32_t file_idx)
{
    return file_idx < st->n_file_capture ? st->file_capture[file_idx] : 0;
}

int64_t sift_store_session_open(struct sift_store *st, const struct sift_flow_info *fi, const char *uid)
{
    sqlite3_stmt *s = st->stmt[S_SESSION_OPEN];
    ensure_txn(st);
    int64_t cap = sift_store_capture_of(st, fi->first.file_idx);
    bind_int_or_null(s, 1, cap, cap == 0);
    bind_text(s, 2, uid);
    bind_text(s, 3, fi->cli_addr);
    bind_int(s, 4, fi->cli_port);
    bind_text(s, 5, fi->srv_addr);
    bind_int(s, 6, fi->srv_port);
    bind_int(s, 7, fi->ip_version);
    bind_int(s, 8, (int64_t)fi->first.frame_no);
    sqlite3_bind_double(s, 9, (double)fi->first.ts_us / 1e6);
    step(st, S_SESSION_OPEN);
    return st->error ? 0 : sqlite3_last_insert_rowid(st->db);
}

/* Split an EHLO extension line into keyword and parameters. */
static void split_extension(const char *line, char **kw, const char **params)
{
    size_t n = strcspn(line, " =");
    char *k = sift_xstrndup(line, n);
    for (char *p = k; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
    *kw = k;
    const char *rest = line + n;
    while (*rest == ' ' || *rest == '=') rest++;
    *params = rest;
}

void sift_store_session_gap(struct sift_store *st, int64_t session_id, uint64_t gap_bytes)
{
    if (!gap_bytes) return;                  /* the column defaults to 0 */
    sqlite3_stmt *s = st->stmt[S_SESSION_GAP];
    bind_int(s, 1, (int64_t)gap_bytes);
    bind_int(s, 2, session_id);
    step(st, S_SESSION_GAP);
}

void sift_store_session_close(struct sift_store *st, int64_t session_id,
                              const struct sift_store_session_end *end)
{
    if (!session_id) return;
    sqlite3_stmt *s = st->stmt[S_SESSION_CLOSE];
    const struct sift_smtp_session *m = end->smtp;
    struct sift_buf ext = {0};
    ensure_txn(st);
    if (m) {
        for (size_t i = 0; i < m->n_extensions; i++) {
            char *kw;
            const char *params;
            split_extension(m->extensions[i], &kw, &params);
            if (ext.len) sift_buf_putc(&ext, ' ');
            sift_buf_append(&ext, kw, strlen(kw));
            sqlite3_stmt *e = st->stmt[S_EXTENSION];
            bind_int(e, 1, session_id);
            bind_int(e, 2, (int64_t)i);
            bind_text(e, 3, kw);
            bind_text(e, 4, params);
            step(st, S_EXTENSION);
            free(kw);
        }
    }
    bind_packet(st, s, 1, 2, &end->last);
    bind_ts(s, 3, &end->last);
    bind_text(s, 4, sift_close_reason_name(end->reason));
    bind_text(s, 5, end->reassembly ? end->reassembly : "complete");
    bind_int(s, 6, (int64_t)end->bytes_c2s);
    bind_int(s, 7, (int64_t)end->bytes_s2c);
    if (m) {
        bind_int_or_null(s, 8, m->banner_code, m->banner_code == 0);
        bind_text(s, 9, m->banner);
        bind_text(s, 10, m->helo_verb);
        bind_text(s, 11, m->helo_name);
        bind_text(s, 12, m->n_extensions ? (const char *)ext.data : NULL);
        bind_int(s, 13, m->pipelining_offered);
        bind_int(s, 14, m->pipelining_used);
        bind_int(s, 15, m->n_commands);
        bind_int(s, 17, m->quit_seen);
    } else {
        for (int i = 8; i <= 12; i++) sqlite3_bind_null(s, i);
        bind_int(s, 13, 0);
        bind_int(s, 14, 0);
        bind_int(s, 15, 0);
        bind_int(s, 17, 0);
    }
    bind_int(s, 16, end->n_messages);
    bind_int(s, 18, session_id);
    step(st, S_SESSION_CLOSE);
    sift_buf_free(&ext);
    if (m) {
        sqlite3_stmt *p = st->stmt[S_SESSION_PROTO];
        bind_int(p, 1, m->tls_started);
        bind_packet(st, p, 0, 2, m->tls_started ? &m->tls_pkt : NULL);
        bind_text(p, 3, m->tls_version);
        bind_text(p, 4, m->tls_sni);
        bind_int(p, 5, m->starttls_offered);
        bind_int(p, 6, m->n_auth);
        bind_int(p, 7, m->n_auth_failed);
        bind_int(p, 8, session_id);
        step(st, S_SESSION_PROTO);
    }
}

void sift_store_set_redact(struct sift_store *st, int redact)
{
    st->redact = redact;
}

void sift_store_set_no_raw(struct sift_store *st, int no_raw)
{
    st->no_raw = no_raw;
}


void sift_store_auth(struct sift_store *st, int64_t session_id, const struct sift_smtp_auth *a)
{
    sqlite3_stmt *s = st->stmt[S_AUTH];
    ensure_txn(st);
    bind_int(s, 1, session_id);
    bind_int(s, 2, a->seq);
    bind_text(s, 3, a->mechanism ? a->mechanism : "");
    bind_text(s, 4, a->username);
    bind_text(s, 5, st->redact ? NULL : a->password);
    bind_int_or_null(s, 6, a->outcome_code, a->outcome_code == 0);
    bind_text(s, 7, a->outcome_code ? a->outcome_text : NULL);
    bind_int(s, 8, a->cancelled);
    bind_int(s, 9, a->tls);
    bind_packet(st, s, 11, 10, &a->pkt);
    bind_ts(s, 12, &a->pkt);
    step(st, S_AUTH);
}

void sift_store_xclient(struct sift_store *st, int64_t session_id, const struct sift_smtp_xclient *x)
{
    sqlite3_stmt *s = st->stmt[S_XCLIENT];
    ensure_txn(st);
    bind_int(s, 1, session_id);
    bind_int(s, 2, x->seq);
    bind_text(s, 3, x->verb ? x->verb : "");
    bind_text(s, 4, x->attributes ? x->attributes : "");
    bind_int_or_null(s, 5, x->reply_code, x->reply_code == 0);
    bind_packet(st, s, 7, 6, &x->pkt);
    bind_ts(s, 8, &x->pkt);
    step(st, S_XCLIENT);
}

void sift_store_command(struct sift_store *st, int64_t session_id, const struct sift_smtp_cmd *c)
{
    sqlite3_stmt *s = st->stmt[S_COMMAND];
    ensure_txn(st);
    bind_int(s, 1, session_id);
    bind_int(s, 2, c->seq);
    bind_text(s, 3, c->verb);
    if (st->redact && c->verb && !strcmp(c->verb, "AUTH")) {
        /* Keep "AUTH MECHANISM", drop the initial response (SASL data). */
        const char *a = c->args ? c->args : "";
        size_t ml = strcspn(a, " ");
        char *mech = sift_xstrndup(a, ml);
        size_t ll = ml + 5;
        char *line = sift_xmalloc(ll + 1);
        snprintf(line, ll + 1, "AUTH %s", mech);
        bind_text(s, 4, mech);
        bind_blob(s, 5, line, strlen(line));
        free(mech);
        free(line);
    } else {
        bind_text(s, 4, c->verb ? c->args : NULL);
        bind_blob(s, 5, c->verb ? c->line : NULL, c->line_len);
    }
    bind_ts(s, 6, c->verb ? &c->cmd_pkt : NULL);
    bind_packet(st, s, 8, 7, c->verb ? &c->cmd_pkt : NULL);
    bind_int_or_null(s, 9, c->txn, c->txn < 0);
    bind_int_or_null(s, 10, c->reply_code, c->reply_code == 0);
    bind_text(s, 11, c->reply_code ? c->enhanced : NULL);
    bind_text(s, 12, c->reply_code ? c->reply_text : NULL);
    bind_int_or_null(s, 13, c->reply_lines, c->reply_code == 0);
    bind_ts(s, 14, c->reply_code ? &c->reply_pkt : NULL);
    bind_packet(st, s, 16, 15, c->reply_code ? &c->reply_pkt : NULL);
    step(st, S_COMMAND);
}

static const char *domain_of(const char *addr)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    return at && at[1] ? at + 1 : NULL;
}

/* Copies n bytes at offset off of fd into the zeroblob just inserted as row
 * rowid of table, through SQLite's incremental blob I/O (a bounded buffer). */
static void blob_from_fd(struct sift_store *st, const char *table, int64_t rowid, int fd, uint64_t off,
                         uint64_t n)
{
    sqlite3_blob *b;
    if (sqlite3_blob_open(st->db, "main", table, "data", rowid, 1, &b) != SQLITE_OK) {
        set_error(st, "message_raw");
        return;
    }
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = sift_xmalloc(CHUNK);
    for (uint64_t done = 0; done < n && !st->error;) {
        size_t k = n - done < CHUNK ? (size_t)(n - done) : CHUNK;
        if (sift_pread_all(fd, buf, k, off + done) != 0) {
            char msg[160];
            snprintf(msg, sizeof msg, "cannot read a spooled message back: %s", strerror(errno));
            free(st->error);
            st->error = sift_xstrdup(msg);
            break;
        }
        if (sqlite3_blob_write(b, buf, (int)k, (int)done) != SQLITE_OK) set_error(st, "message_raw");
        done += k;
    }
    free(buf);
    sqlite3_blob_close(b);
}

/* A spooled message: its bytes are read back from the file, 256 MiB per row
 * (message_raw, then message_raw_more; schema/006). */
static void store_spooled(struct sift_store *st, int64_t mid, const struct sift_smtp_txn *t)
{
    const uint64_t piece = (uint64_t)256 << 20;
    uint64_t len = t->spool_len, first = len < piece ? len : piece;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "INSERT INTO message_raw(message_id, data) VALUES (?, zeroblob(?))",
                           -1, &s, NULL) != SQLITE_OK) { set_error(st, "prepare"); return; }
    sqlite3_bind_int64(s, 1, mid);
    sqlite3_bind_int64(s, 2, (int64_t)first);
    if (sqlite3_step(s) != SQLITE_DONE) set_error(st, "message_raw");
    sqlite3_finalize(s);
    if (st->error) return;
    blob_from_fd(st, "message_raw", mid, t->spool_fd, 0, first);
    if (len <= first || st->error) return;
    if (sqlite3_prepare_v2(st->db, "INSERT INTO message_raw_more(message_id, seq, data) VALUES (?,?,zeroblob(?))",
                           -1, &s, NULL) != SQLITE_OK) { set_error(st, "prepare"); return; }
    int64_t seq = 0;
    for (uint64_t off = first; off < len && !st->error; off += piece, seq++) {
        uint64_t n = len - off < piece ? len - off : piece;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, mid);
        sqlite3_bind_int64(s, 2, seq);
        sqlite3_bind_int64(s, 3, (int64_t)n);
        if (sqlite3_step(s) != SQLITE_DONE) { set_error(st, "message_raw_more"); break; }
        blob_from_fd(st, "message_raw_more", sqlite3_last_insert_rowid(st->db), t->spool_fd, off, n);
    }
    sqlite3_finalize(s);
}

static int64_t message_rows(struct sift_store *st, int64_t session_id,
                            const struct sift_smtp_txn *t, const struct sift_mime_summary *mime,
                            const char *sha256);

int64_t sift_store_message(struct sift_store *st, int64_t session_id,
                           const struct sift_smtp_txn *t, const struct sift_mime_summary *mime,
                           const char *sha256)
{
    sift_store_unit_begin(st);   /* the message row and all its rows: one transaction */
    int64_t mid = message_rows(st, session_id, t, mime, sha256);
    sift_store_unit_end(st);
    return mid;
}

static int64_t message_rows(struct sift_store *st, int64_t session_id,
                            const struct sift_smtp_txn *t, const struct sift_mime_summary *mime,
                            const char *sha256)
{
    sqlite3_stmt *s = st->stmt[S_MESSAGE];
    size_t n_acc = 0;
    ensure_txn(st);
    for (size_t i = 0; i < t->n_rcpts; i++)
        if (t->rcpts[i].reply_code >= 200 && t->rcpts[i].reply_code < 300) n_acc++;
    bind_int(s, 1, session_id);
    bind_int(s, 2, t->index);
    bind_text(s, 3, t->mail_from);
    bind_text(s, 4, t->mail_from_raw);
    bind_text(s, 5, t->mail_params);
    bind_int_or_null(s, 6, t->mail_reply_code, t->mail_reply_code == 0);
    bind_text(s, 7, sift_smtp_disposition_name(t->disposition));
    bind_int(s, 8, t->has_content);
    bind_int_or_null(s, 9, t->data_reply_code, t->data_reply_code == 0);
    bind_text(s, 10, t->data_reply_text);
    bind_text(s, 11, t->queue_id);
    bind_int_or_null(s, 12, (int64_t)sift_smtp_content_len(t), !t->has_content);
    bind_text(s, 13, t->has_content ? sha256 : NULL);
    bind_int(s, 14, t->truncated);
    bind_int(s, 34, (int64_t)t->missing_bytes);
    bind_text(s, 15, t->terminator);
    bind_int(s, 16, mime ? mime->parsed : 0);
    if (mime) {
        bind_text(s, 17, mime->subject);
        bind_text(s, 18, mime->from_addr);
        bind_text(s, 19, mime->from_name);
        bind_text(s, 20, mime->date);
        if (mime->has_date) sqlite3_bind_double(s, 21, (double)mime->date_unix);
        bind_text(s, 22, mime->message_id);
        bind_text(s, 23, mime->in_reply_to);
    }
    bind_int(s, 24, (int64_t)(t->n_rcpts + t->rcpts_dropped));
    bind_int(s, 25, (int64_t)n_acc);
    bind_int(s, 26, mime ? (int64_t)mime->n_parts : 0);
    bind_int(s, 27, mime ? (int64_t)mime->n_attachments : 0);
    bind_packet(st, s, 28, 29, &t->first_pkt);
    bind_packet(st, s, 30, 31, &t->last_pkt);
    bind_ts(s, 32, &t->first_pkt);
    bind_ts(s, 33, &t->last_pkt);
    step(st, S_MESSAGE);
    if (st->error) return 0;
    int64_t mid = sqlite3_last_insert_rowid(st->db);

    if (t->has_content && !st->no_raw) {
        bind_int(st->stmt[S_RAW], 1, mid);
        if (t->spooled) {
            store_spooled(st, mid, t);
        } else {
            /* Not copied (the biggest value we store): valid until the step is done,
             * and unbound right after. */
            sqlite3_bind_blob64(st->stmt[S_RAW], 2, t->content.data ? (const void *)t->content.data : "",
                                t->content.len, SQLITE_STATIC);
            step(st, S_RAW);
            sqlite3_bind_null(st->stmt[S_RAW], 2);
        }
    }
    for (size_t i = 0; i < t->n_rcpts; i++) {
        const struct sift_smtp_rcpt *r = &t->rcpts[i];
        sqlite3_stmt *q = st->stmt[S_RCPT];
        bind_int(q, 1, mid);
        bind_int(q, 2, (int64_t)i);
        bind_text(q, 3, r->address ? r->address : "");
        bind_text(q, 4, r->raw);
        bind_text(q, 5, r->params);
        bind_int_or_null(q, 6, r->reply_code, r->reply_code == 0);
        bind_text(q, 7, r->reply_text);
        bind_int(q, 8, r->reply_code >= 200 && r->reply_code < 300);
        bind_packet(st, q, 0, 9, &r->pkt);
        bind_ts(q, 10, &r->pkt);
        step(st, S_RCPT);
    }
    if (!mime) { store_content(st, mid, NULL); return mid; }
    for (size_t i = 0; i < mime->n_headers; i++) {
        const struct sift_mime_header *h = &mime->headers[i];
        sqlite3_stmt *q = st->stmt[S_HEADER];
        bind_int(q, 1, mid);
        bind_int(q, 2, (int64_t)i);
        bind_text(q, 3, h->name ? h->name : "");
        bind_text(q, 4, h->value);
        bind_blob(q, 5, h->raw, h->raw_len);
        step(st, S_HEADER);
    }
    for (size_t i = 0; i < mime->n_addresses; i++) {
        const struct sift_mime_address *a = &mime->addresses[i];
        sqlite3_stmt *q = st->stmt[S_ADDRESS];
        const char *dom = domain_of(a->address);
        char *ldom = dom ? sift_xstrdup(dom) : NULL;
        for (char *p = ldom; p && *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        bind_int(q, 1, mid);
        bind_text(q, 2, a->field);
        bind_int(q, 3, (int64_t)i);
        bind_text(q, 4, a->name);
        bind_text(q, 5, a->address ? a->address : "");
        bind_text(q, 6, ldom);
        bind_text(q, 7, a->group);
        step(st, S_ADDRESS);
        free(ldom);
    }
    for (size_t i = 0; i < mime->n_parts; i++) {
        const struct sift_mime_part *p = &mime->parts[i];
        sqlite3_stmt *q = st->stmt[S_PART];
        bind_int(q, 1, mid);
        bind_int(q, 2, (int64_t)i);
        bind_text(q, 3, p->path ? p->path : "");
        bind_text(q, 4, p->content_type);
        bind_text(q, 5, p->charset);
        bind_text(q, 6, p->encoding);
        bind_text(q, 7, p->disposition);
        bind_text(q, 8, p->filename);
        bind_int(q, 9, (int64_t)p->size);
        bind_text(q, 10, p->sha256[0] ? p->sha256 : NULL);
        bind_int(q, 11, p->is_attachment);
        bind_text(q, 12, p->text);
        bind_text(q, 13, p->md5[0] ? p->md5 : NULL);
        bind_text(q, 14, p->sha1[0] ? p->sha1 : NULL);
        bind_text(q, 15, p->magic_type);
        bind_text(q, 16, p->html_text);
        bind_text(q, 17, p->extracted_path);
        step(st, S_PART);
    }
    store_content(st, mid, mime);
    return mid;
}

void sift_store_finding(struct sift_store *st, int64_t capture_id, int64_t session_id,
                        int64_t message_id, const char *rule, enum sift_severity sev,
                        const char *detail, const struct sift_pktref *where)
{
    sqlite3_stmt *s = st->stmt[S_FINDING];
    ensure_txn(st);
    if (!capture_id && where && where->frame_no) capture_id = sift_store_capture_of(st, where->file_idx);
    bind_int_or_null(s, 1, capture_id, capture_id == 0);
    bind_int_or_null(s, 2, session_id, session_id == 0);
    bind_int_or_null(s, 3, message_id, message_id == 0);
    bind_text(s, 4, rule);
    bind_text(s, 5, sift_severity_name(sev));
    bind_text(s, 6, detail);
    bind_packet(st, s, 0, 7, where);
    bind_ts(s, 8, where);
    step(st, S_FINDING);
}

enum sift_status sift_store_query(struct sift_store *st, const char *sql, sift_store_row_fn row,
                                  void *user, char *err, size_t errlen)
{
    const char *tail = sql;
    while (tail && *tail) {
        sqlite3_stmt *s = NULL;
        const char *next = NULL;
        if (sqlite3_prepare_v2(st->db, tail, -1, &s, &next) != SQLITE_OK) {
            snprintf(err, errlen, "SQL error: %s", sqlite3_errmsg(st->db));
            return SIFT_ERR_DB;
        }
        tail = next;
        if (!s) continue;   /* whitespace or comment */
        int n = sqlite3_column_count(s);
        const char **names = sift_xcalloc((size_t)n + 1, sizeof *names);
        const char **vals = sift_xcalloc((size_t)n + 1, sizeof *vals);
        char **owned = sift_xcalloc((size_t)n + 1, sizeof *owned);
        char *types = sift_xcalloc((size_t)n + 1, 1);
        for (int i = 0; i < n; i++) names[i] = sqlite3_column_name(s, i);
        int rc = SQLITE_DONE, stop = 0;
        if (n > 0 && row(user, n, names, NULL, NULL) != 0) stop = 1;   /* header */
        while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
            for (int i = 0; i < n; i++) {
                free(owned[i]);
                owned[i] = NULL;
                switch (sqlite3_column_type(s, i)) {
                case SQLITE_NULL: types[i] = 'n'; vals[i] = NULL; break;
                case SQLITE_INTEGER: types[i] = 'i'; vals[i] = (const char *)sqlite3_column_text(s, i); break;
                case SQLITE_FLOAT: types[i] = 'r'; vals[i] = (const char *)sqlite3_column_text(s, i); break;
                case SQLITE_BLOB: {
                    const uint8_t *b = sqlite3_column_blob(s, i);
                    size_t len = (size_t)sqlite3_column_bytes(s, i);
                    owned[i] = sift_xmalloc(2 * len + 4);
                    memcpy(owned[i], "x'", 2);
                    sift_hex(b ? b : (const uint8_t *)"", len, owned[i] + 2);
                    strcat(owned[i], "'");
                    types[i] = 'b';
                    vals[i] = owned[i];
                    break;
                }
                default: {
                    const uint8_t *t = sqlite3_column_text(s, i);
                    size_t len = (size_t)sqlite3_column_bytes(s, i);
                    types[i] = 't';
                    if (t && !sift_utf8_valid(t, len)) {
                        owned[i] = sift_utf8_fix(t, len, NULL);
                        vals[i] = owned[i];
                    } else {
                        vals[i] = (const char *)t;
                    }
                }
                }
            }
            if (row(user, n, names, vals, types) != 0) stop = 1;
        }
        int failed = !stop && rc != SQLITE_DONE;
        if (failed) snprintf(err, errlen, "SQL error: %s", sqlite3_errmsg(st->db));
        for (int i = 0; i < n; i++) free(owned[i]);
        free(owned);
        free(names);
        free(vals);
        free(types);
        sqlite3_finalize(s);
        if (failed) return SIFT_ERR_DB;
        if (stop) break;
    }
    return SIFT_OK;
}

/* ---- content queries for the CLI (search, export, extract) ------------- */

/* Runs a prepared statement, giving rows to row() as sift_store_query does. */
static enum sift_status run_rows(struct sift_store *st, sqlite3_stmt *s, sift_store_row_fn row,
                                 void *user, char *err, size_t errlen)
{
    int n = sqlite3_column_count(s);
    const char **names = sift_xcalloc((size_t)n + 1, sizeof *names);
    const char **vals = sift_xcalloc((size_t)n + 1, sizeof *vals);
    char **owned = sift_xcalloc((size_t)n + 1, sizeof *owned);
    char *types = sift_xcalloc((size_t)n + 1, 1);
    for (int i = 0; i < n; i++) names[i] = sqlite3_column_name(s, i);
    int rc = SQLITE_DONE, stop = row(user, n, names, NULL, NULL) != 0;
    while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        for (int i = 0; i < n; i++) {
            free(owned[i]);
            owned[i] = NULL;
            int t = sqlite3_column_type(s, i);
            types[i] = t == SQLITE_NULL ? 'n' : t == SQLITE_INTEGER ? 'i' : t == SQLITE_FLOAT ? 'r' : 't';
            const uint8_t *v = t == SQLITE_NULL ? NULL : sqlite3_column_text(s, i);
            size_t len = (size_t)sqlite3_column_bytes(s, i);
            if (v && !sift_utf8_valid(v, len)) { owned[i] = sift_utf8_fix(v, len, NULL); v = (const uint8_t *)owned[i]; }
            vals[i] = (const char *)v;
        }
        if (row(user, n, names, vals, types) != 0) stop = 1;
    }
    enum sift_status r = SIFT_OK;
    if (!stop && rc != SQLITE_DONE) {
        snprintf(err, errlen, "SQL error: %s", sqlite3_errmsg(st->db));
        r = SIFT_ERR_DB;
    }
    for (int i = 0; i < n; i++) free(owned[i]);
    free(owned); free(names); free(vals); free(types);
    return r;
}

enum sift_status sift_store_search(struct sift_store *st, const char *terms, int limit,
                                   sift_store_row_fn row, void *user, char *err, size_t errlen)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db,
            "SELECT m.id AS id, datetime(m.start_ts, 'unixepoch') AS time,"
            " coalesce(m.from_addr, m.mail_from) AS sender, m.subject AS subject,"
            " snippet(message_search, -1, '[', ']', '...', 12) AS snippet"
            " FROM message_search JOIN messages m ON m.id = message_search.rowid"
            " WHERE message_search MATCH ?1 ORDER BY rank, m.id LIMIT ?2", -1, &s, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "SQL error: %s", sqlite3_errmsg(st->db));
        return SIFT_ERR_DB;
    }
    sqlite3_bind_text(s, 1, terms, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 2, limit > 0 ? limit : -1);
    enum sift_status r = run_rows(st, s, row, user, err, errlen);
    if (r != SIFT_OK) snprintf(err, errlen, "search failed (%s); FTS5 query syntax: words, \"a phrase\","
                               " AND/OR/NOT, prefix*, column:word", sqlite3_errmsg(st->db));
    sqlite3_finalize(s);
    return r;
}

/* Prepares a read-only statement; on failure err says why. */
static int read_prepare(struct sift_store *st, const char *sql, sqlite3_stmt **s, char *err, size_t errlen)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) == SQLITE_OK) return 0;
    snprintf(err, errlen, "SQL error: %s", sqlite3_errmsg(st->db));
    return -1;
}

/* Ends a read whose last sqlite3_step gave rc (SQLITE_ROW: the caller stopped early). */
static enum sift_status read_finish(struct sift_store *st, sqlite3_stmt *s, int rc, char *err, size_t errlen)
{
    enum sift_status r = SIFT_OK;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        snprintf(err, errlen, "SQL error: %s", sqlite3_errmsg(st->db));
        r = SIFT_ERR_DB;
    }
    sqlite3_finalize(s);
    return r;
}

/* A message stored in pieces (schema/006): its first piece and every
 * message_raw_more row, in order, written to an unlinked temporary file that
 * is mapped read-only (the page cache holds it, not the heap). */
static int join_chunks(struct sift_store *st, int64_t mid, const void *first, size_t first_len,
                       void **map, size_t *maplen, char *err, size_t errlen)
{
    int fd = sift_tmpfile(NULL);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a temporary file for message %lld: %s", (long long)mid, strerror(errno));
        return -1;
    }
    int bad = sift_write_all(fd, first, first_len) != 0;
    uint64_t total = first_len;
    sqlite3_stmt *q;
    if (!bad && sqlite3_prepare_v2(st->db, "SELECT data FROM message_raw_more WHERE message_id=? ORDER BY seq",
                                   -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, mid);
        while (!bad && sqlite3_step(q) == SQLITE_ROW) {
            size_t n = (size_t)sqlite3_column_bytes(q, 0);
            bad = sift_write_all(fd, sqlite3_column_blob(q, 0), n) != 0;
            total += n;
        }
        sqlite3_finalize(q);
    }
    void *p = bad || !total ? MAP_FAILED : mmap(NULL, total, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "cannot put message %lld together in a temporary file: %s", (long long)mid,
                 strerror(errno));
        return -1;
    }
    *map = p;
    *maplen = total;
    return 0;
}

/* Messages with their bytes, in id order: all of them, or the one with id only_id (> 0). */
static enum sift_status raw_rows(struct sift_store *st, int64_t only_id, sift_store_raw_fn fn, void *user,
                                 char *err, size_t errlen)
{
    sqlite3_stmt *s;
    if (read_prepare(st, only_id > 0
            ? "SELECT m.id, m.sha256, m.mail_from, m.start_ts, r.data,"
              " EXISTS (SELECT 1 FROM message_raw_more x WHERE x.message_id = m.id) FROM messages m"
              " JOIN message_raw r ON r.message_id = m.id WHERE m.id = ?"
            : "SELECT m.id, m.sha256, m.mail_from, m.start_ts, r.data,"
              " EXISTS (SELECT 1 FROM message_raw_more x WHERE x.message_id = m.id) FROM messages m"
              " JOIN message_raw r ON r.message_id = m.id ORDER BY m.id", &s, err, errlen) != 0)
        return SIFT_ERR_DB;
    if (only_id > 0) sqlite3_bind_int64(s, 1, only_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct sift_store_raw m;
        memset(&m, 0, sizeof m);
        m.id = sqlite3_column_int64(s, 0);
        m.sha256 = (const char *)sqlite3_column_text(s, 1);
        m.mail_from = (const char *)sqlite3_column_text(s, 2);
        m.has_ts = sqlite3_column_type(s, 3) != SQLITE_NULL;
        m.ts = sqlite3_column_double(s, 3);
        m.data = sqlite3_column_blob(s, 4);
        m.len = (size_t)sqlite3_column_bytes(s, 4);
        if (sqlite3_column_int(s, 5)) {   /* over 256 MiB: put together in a mapped temporary file */
            void *map = NULL;
            size_t maplen = 0;
            if (join_chunks(st, m.id, m.data, m.len, &map, &maplen, err, errlen) != 0) {
                sqlite3_finalize(s);
                return SIFT_ERR_IO;
            }
            m.data = map;
            m.len = maplen;
            int stop = fn(user, &m);
            munmap(map, maplen);
            if (stop) break;
            continue;
        }
        if (fn(user, &m) != 0) break;
    }
    return read_finish(st, s, rc, err, errlen);
}

enum sift_status sift_store_each_raw(struct sift_store *st, sift_store_raw_fn fn, void *user,
                                     char *err, size_t errlen)
{
    return raw_rows(st, 0, fn, user, err, errlen);
}

enum sift_status sift_store_raw_one(struct sift_store *st, int64_t message_id, sift_store_raw_fn fn, void *user,
                                    char *err, size_t errlen)
{
    if (message_id <= 0) return SIFT_OK;
    return raw_rows(st, message_id, fn, user, err, errlen);
}

enum sift_status sift_store_each_content_sha(struct sift_store *st, sift_store_sha_fn fn, void *user,
                                             char *err, size_t errlen)
{
    sqlite3_stmt *s;
    if (read_prepare(st, "SELECT id, sha256 FROM messages WHERE has_content = 1 AND sha256 IS NOT NULL"
                     " ORDER BY id", &s, err, errlen) != 0)
        return SIFT_ERR_DB;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(user, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1)) != 0) break;
    return read_finish(st, s, rc, err, errlen);
}

enum sift_status sift_store_each_unstored(struct sift_store *st, sift_store_unstored_fn fn, void *user,
                                          char *err, size_t errlen)
{
    sqlite3_stmt *s;
    if (read_prepare(st,
            "SELECT m.id, m.sha256, m.mail_from, m.start_ts, c.ingest_id, c.file_index,"
            " coalesce(lc.file_index, c.file_index), s.client_ip, s.server_ip"
            " FROM messages m JOIN sessions s ON s.id = m.session_id JOIN captures c ON c.id = s.capture_id"
            " LEFT JOIN captures lc ON lc.id = s.last_capture_id"
            " WHERE m.has_content = 1 AND NOT EXISTS (SELECT 1 FROM message_raw r WHERE r.message_id = m.id)"
            " ORDER BY m.id", &s, err, errlen) != 0)
        return SIFT_ERR_DB;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct sift_store_unstored m = {
            .id = sqlite3_column_int64(s, 0),
            .sha256 = (const char *)sqlite3_column_text(s, 1),
            .mail_from = (const char *)sqlite3_column_text(s, 2),
            .has_ts = sqlite3_column_type(s, 3) != SQLITE_NULL,
            .ts = sqlite3_column_double(s, 3),
            .ingest_id = sqlite3_column_int64(s, 4),
            .first_file = sqlite3_column_int64(s, 5),
            .last_file = sqlite3_column_int64(s, 6),
            .client_ip = (const char *)sqlite3_column_text(s, 7),
            .server_ip = (const char *)sqlite3_column_text(s, 8),
        };
        if (fn(user, &m) != 0) break;
    }
    return read_finish(st, s, rc, err, errlen);
}

enum sift_status sift_store_each_capture(struct sift_store *st, int64_t ingest_id, sift_store_capfile_fn fn,
                                         void *user, char *err, size_t errlen)
{
    sqlite3_stmt *s;
    if (read_prepare(st, "SELECT id, file_index, path, realpath, format, size FROM captures"
                     " WHERE ingest_id=? ORDER BY file_index", &s, err, errlen) != 0)
        return SIFT_ERR_DB;
    sqlite3_bind_int64(s, 1, ingest_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct sift_store_capfile c = {
            .id = sqlite3_column_int64(s, 0),
            .file_index = sqlite3_column_int64(s, 1),
            .path = (const char *)sqlite3_column_text(s, 2),
            .realpath = (const char *)sqlite3_column_text(s, 3),
            .format = (const char *)sqlite3_column_text(s, 4),
            .size = (uint64_t)sqlite3_column_int64(s, 5),
        };
        if (fn(user, &c) != 0) break;
    }
    return read_finish(st, s, rc, err, errlen);
}

void sift_store_set_extracted(struct sift_store *st, int64_t message_id, size_t part_seq,
                              const char *path)
{
    sqlite3_stmt *s;
    ensure_txn(st);
    if (sqlite3_prepare_v2(st->db, "UPDATE parts SET extracted_path=? WHERE message_id=? AND seq=?",
                           -1, &s, NULL) != SQLITE_OK) { set_error(st, "prepare"); return; }
    bind_text(s, 1, path);
    bind_int(s, 2, message_id);
    bind_int(s, 3, (int64_t)part_seq);
    if (!st->error && sqlite3_step(s) != SQLITE_DONE) set_error(st, "extract");
    sqlite3_finalize(s);
    row_done(st);
}
