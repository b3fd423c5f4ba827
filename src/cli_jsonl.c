/* cli_jsonl.c — `smtpsift export --jsonl FILE|-`: one JSON object per mail
 * transaction, with Zeek smtp.log field names and Elastic Common Schema
 * email.* fields (mapping in README.md), so Filebeat, Logstash or Vector can
 * ship it unchanged. The objects are built by SQLite's JSON functions (valid
 * JSON, proper escaping); this file only picks fields and writes lines. */
#include "cli_multi.h"
#include "sift.h"
#include "store.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Header value helpers: first header `name` of message m, and the n-th (0-based). */
#define HDR(name) "(SELECT h.value FROM headers h WHERE h.message_id = m.id AND h.name = '" name \
                  "' COLLATE NOCASE ORDER BY h.seq LIMIT 1)"
#define HDR_N(name, n) "(SELECT h.value FROM headers h WHERE h.message_id = m.id AND h.name = '" name \
                       "' COLLATE NOCASE ORDER BY h.seq LIMIT 1 OFFSET " #n ")"
/* JSON array of the addresses of one header field, in order ('to', 'cc', ...). */
#define ADDRS(field) "json((SELECT json_group_array(a.address) FROM (SELECT address FROM addresses a2" \
                     " WHERE a2.message_id = m.id AND a2.field = '" field "' ORDER BY a2.seq) a))"
/* The same as Zeek writes them: "Name <addr>" or addr. */
#define ADDRS_FULL(field) "json((SELECT json_group_array(a.v) FROM (SELECT CASE WHEN a2.name IS NOT NULL" \
                          " AND a2.name <> '' THEN a2.name || ' <' || a2.address || '>' ELSE a2.address END" \
                          " AS v FROM addresses a2 WHERE a2.message_id = m.id AND a2.field = '" field \
                          "' ORDER BY a2.seq) a))"

static const char *const jsonl_sql =
    "SELECT json_object("
    /* ---- Zeek smtp.log ---- */
    " 'ts', m.start_ts,"
    " 'uid', s.uid,"
    " 'id.orig_h', s.client_ip, 'id.orig_p', s.client_port,"
    " 'id.resp_h', s.server_ip, 'id.resp_p', s.server_port,"
    " 'trans_depth', m.seq + 1,"
    " 'helo', s.helo,"
    " 'mailfrom', m.mail_from,"
    " 'rcptto', json((SELECT json_group_array(r.address) FROM (SELECT address FROM recipients r2"
    "     WHERE r2.message_id = m.id ORDER BY r2.seq) r)),"
    " 'date', m.date,"
    " 'from', " HDR("From") ","
    " 'to', " ADDRS_FULL("to") ","
    " 'cc', " ADDRS_FULL("cc") ","
    " 'reply_to', " HDR("Reply-To") ","
    " 'msg_id', " HDR("Message-ID") ","
    " 'in_reply_to', " HDR("In-Reply-To") ","
    " 'subject', m.subject,"
    " 'x_originating_ip', " HDR("X-Originating-IP") ","
    " 'first_received', " HDR("Received") ","
    " 'second_received', " HDR_N("Received", 1) ","
    " 'last_reply', COALESCE(m.data_reply_code || ' ' || m.data_reply_text,"
    "     (SELECT c.reply_code || ' ' || c.reply_text FROM commands c WHERE c.session_id = m.session_id"
    "      AND c.txn = m.seq AND c.reply_code IS NOT NULL ORDER BY c.seq DESC LIMIT 1)),"
    " 'path', json_array(s.server_ip, s.client_ip),"
    " 'user_agent', COALESCE(" HDR("User-Agent") ", " HDR("X-Mailer") "),"
    " 'tls', json(CASE WHEN s.tls THEN 'true' ELSE 'false' END),"
    " 'fuids', json((SELECT json_group_array('F' || substr(p.sha256, 1, 15)) FROM (SELECT sha256 FROM parts p2"
    "     WHERE p2.message_id = m.id AND p2.is_attachment AND p2.sha256 IS NOT NULL ORDER BY p2.seq) p)),"
    /* ---- Elastic Common Schema ---- */
    " '@timestamp', strftime('%Y-%m-%dT%H:%M:%fZ', m.start_ts, 'unixepoch'),"
    " 'event.kind', 'event', 'event.category', json_array('email', 'network'),"
    " 'event.dataset', 'smtpsift.smtp',"
    " 'network.transport', 'tcp', 'network.protocol', 'smtp',"
    " 'source.ip', s.client_ip, 'source.port', s.client_port,"
    " 'destination.ip', s.server_ip, 'destination.port', s.server_port,"
    " 'email.from.address', " ADDRS("from") ","
    " 'email.to.address', " ADDRS("to") ","
    " 'email.cc.address', " ADDRS("cc") ","
    " 'email.bcc.address', " ADDRS("bcc") ","
    " 'email.reply_to.address', " ADDRS("reply-to") ","
    " 'email.sender.address', (SELECT address FROM addresses a WHERE a.message_id = m.id"
    "     AND a.field = 'sender' ORDER BY a.seq LIMIT 1),"
    " 'email.subject', m.subject,"
    " 'email.message_id', m.message_id,"
    " 'email.local_id', m.queue_id,"
    " 'email.origination_timestamp', CASE WHEN m.date_ts IS NOT NULL THEN"
    "     strftime('%Y-%m-%dT%H:%M:%SZ', m.date_ts, 'unixepoch') END,"
    " 'email.x_mailer', " HDR("X-Mailer") ","
    " 'email.content_type', (SELECT p.content_type FROM parts p WHERE p.message_id = m.id ORDER BY p.seq LIMIT 1),"
    " 'email.attachments', json((SELECT json_group_array(json_object('file.name', p.filename,"
    "     'file.mime_type', p.content_type, 'file.size', p.size, 'file.hash.sha256', p.sha256))"
    "     FROM (SELECT * FROM parts p2 WHERE p2.message_id = m.id AND p2.is_attachment ORDER BY p2.seq) p)),"
    /* ---- smtpsift's own ---- */
    " 'smtpsift.message_id', m.id, 'smtpsift.session_id', m.session_id,"
    " 'smtpsift.disposition', m.disposition,"
    " 'smtpsift.rcptto_accepted', json((SELECT json_group_array(r.address) FROM (SELECT address FROM recipients r2"
    "     WHERE r2.message_id = m.id AND r2.accepted ORDER BY r2.seq) r)),"
    " 'smtpsift.size', m.size, 'smtpsift.sha256', m.sha256,"
    " 'smtpsift.capture_id', m.capture_id, 'smtpsift.first_packet', m.first_packet,"
    " 'smtpsift.last_packet', m.last_packet"
    ") FROM messages m JOIN sessions s ON s.id = m.session_id ORDER BY m.start_ts, m.id";

struct out {
    FILE *fp;
    uint64_t n;
    int werr;
};

static int write_line(void *user, int ncols, const char *const *names, const char *const *vals,
                      const char *types)
{
    (void)names;
    (void)types;
    struct out *o = user;
    if (!vals || ncols < 1 || !vals[0]) return 0;
    if (fputs(vals[0], o->fp) == EOF || fputc('\n', o->fp) == EOF) {
        o->werr = errno ? errno : EIO;
        return 1;
    }
    o->n++;
    return 0;
}

static void jsonl_usage(FILE *out)
{
    fprintf(out,
        "usage: smtpsift export --jsonl FILE|- [-d DB [-d DB2...]] [-q]\n"
        "\n"
        "Writes one JSON object per mail transaction (one line each, UTF-8) to FILE, or\n"
        "to standard output with -. Field names are those of Zeek's smtp.log (ts, uid,\n"
        "id.orig_h, mailfrom, rcptto, subject, tls, ...) and of the Elastic Common Schema\n"
        "(@timestamp, source.ip, email.from.address, email.subject, email.local_id,\n"
        "email.attachments, ...), as dotted keys: the mapping is in README.md.\n"
        "Several -d export several databases as one (see smtpsift query --help).\n"
        "\n"
        "examples:\n"
        "  smtpsift export --jsonl mail.jsonl\n"
        "  smtpsift export --jsonl - | jq -r '[.mailfrom, .subject] | @tsv'\n");
}

int sift_cli_jsonl(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "jsonl", required_argument, NULL, 'J' },
        { "db", required_argument, NULL, 'd' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char **dbs = sift_xcalloc((size_t)argc + 1, sizeof *dbs);
    size_t n_db = 0;
    const char *path = NULL;
    int quiet = 0, c;
    for (int i = 2; i < argc; i++)   /* "--html --help" must not write a file named --help */
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            jsonl_usage(stdout);
            free(dbs);
            return 0;
        }
    optind = 2;
    while ((c = getopt_long(argc, argv, "d:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'J': path = optarg; break;
        case 'd': dbs[n_db++] = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': jsonl_usage(stdout); free(dbs); return 0;
        default: jsonl_usage(stderr); free(dbs); return 2;
        }
    }
    if (!path || optind != argc) {
        fprintf(stderr, "smtpsift: export --jsonl needs one output (a file, or - for stdout);"
                        " try: smtpsift export --jsonl mail.jsonl\n");
        free(dbs);
        return 2;
    }
    if (n_db == 0) dbs[n_db++] = "smtpsift.db";
    struct sift_store *st;
    char err[512];
    enum sift_status os = sift_cli_open_dbs(dbs, n_db, &st, err, sizeof err);
    free(dbs);
    if (os != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s\n", err);
        return 1;
    }
    int to_stdout = !strcmp(path, "-");
    struct out o = { .fp = to_stdout ? stdout : fopen(path, "w") };
    if (!o.fp) {
        fprintf(stderr, "smtpsift: %s: cannot write: %s; check the directory exists and is writable\n",
                path, strerror(errno));
        sift_store_close(st);
        return 1;
    }
    errno = 0;
    enum sift_status rc = sift_store_query(st, jsonl_sql, write_line, &o, err, sizeof err);
    int close_err = to_stdout ? fflush(stdout) : fclose(o.fp);
    if (close_err && !o.werr) o.werr = errno ? errno : EIO;
    sift_store_close(st);
    if (o.werr) {
        fprintf(stderr, "smtpsift: %s: write failed: %s\n", to_stdout ? "stdout" : path, strerror(o.werr));
        return 1;
    }
    if (rc != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s\n", err);
        return 1;
    }
    if (!quiet && !to_stdout)
        fprintf(stderr, "smtpsift: %s: %llu messages written\n", path, (unsigned long long)o.n);
    return 0;
}
