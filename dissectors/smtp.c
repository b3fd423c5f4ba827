/* smtp.c — SMTP dissector: RFC 5321 commands/replies, RFC 2920 pipelining, RFC 3463
 * enhanced codes, RFC 3030 BDAT, RFC 3207 STARTTLS (plus the TLS ClientHello that follows),
 * RFC 4954 AUTH (user names and PLAIN/LOGIN passwords from the SASL exchange), RFC 1870
 * SIZE, 6152 8BITMIME, 6531 SMTPUTF8, Postfix XCLIENT/XFORWARD, as a pure state machine.
 * It does NOT do I/O, MIME, or decrypt TLS. Decisions: a txn exists from its MAIL
 * command; a MAIL refused (4xx/5xx) or DATA refused is emitted REJECTED without content. */
#include "smtp.h"
#include "lineproto.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/*
 * Model (the header above in one breath, the details here):
 * - Client lines go through a line assembler in ST_COMMAND. DATA, STARTTLS and AUTH
 *   put the client in ST_HOLD: its bytes are kept raw (bounded) until the reply to that
 *   command says what they are: 354 → DATA content, 334 → one SASL line, 220 to STARTTLS
 *   → TLS (nothing parsed any more), anything else → command lines again.
 * - Every complete reply pops the oldest pending command (FIFO, bounded by max_pending);
 *   354 to DATA and 334 to AUTH are intermediate and do not pop. The greeting is a
 *   pseudo-command queued at creation.
 * - A transaction is created on its MAIL command (optimistically) and emitted once the
 *   client moved past it (new MAIL, RSET, HELO/EHLO, QUIT, end of content, STARTTLS, close)
 *   and no pending command refers to it any more. Disposition at that moment:
 *   final reply to DATA/BDAT seen → ACCEPTED if 2xx else REJECTED (this covers DATA refused
 *   with 503/554: REJECTED, data_reply_code set, has_content 0, whether or not recipients
 *   were accepted); MAIL refused → REJECTED (mail_reply_code set, so refused senders are
 *   visible); content seen or connection end/gap → INCOMPLETE; otherwise ABORTED
 *   (finding nested_mail when a second MAIL replaced an accepted one).
 * - A 421 reply (any time) ends command processing: it answers the oldest pending
 *   command if there is one, the others are emitted unanswered.
 * - Findings on bare LF / bare CR are counted per direction and reported once at close.
 * - A non-canonical dot line is a candidate end of data (struct spec): the server's
 *   replies decide whether it ended the message (smuggling, CVE-2023-51764/5/6).
 * - Replies with no client byte ever seen: server-only capture, a skeleton session is
 *   built from the replies (server_only_reply).
 */

#define HOLD_MAX        (256u * 1024u)   /* client bytes kept while waiting for a reply */
#define FINDING_CAP     100u             /* same rule reported at most this often per session */
#define RFC_CMD_LINE    510u             /* 512 with CRLF (RFC 5321 4.5.3.1.4) */
#define RFC_REPLY_LINE  510u             /* 4.5.3.1.5 */
#define RFC_TEXT_LINE   998u             /* 4.5.3.1.6 */

enum state {
    ST_COMMAND,   /* client lines are commands */
    ST_HOLD,      /* client bytes held until the reply to DATA/STARTTLS/AUTH */
    ST_CONTENT,   /* DATA content after 354, up to the terminator */
    ST_BDAT,      /* BDAT chunk octets */
    ST_SASL,      /* the next client line is a SASL response */
    ST_GAP,       /* capture loss: client ignored until the next server reply */
    ST_TLS,       /* STARTTLS accepted: nothing is parsed any more */
    ST_CLOSED     /* 421 seen: nothing is parsed any more */
};

enum kind {
    K_GREETING, K_HELO, K_EHLO, K_MAIL, K_RCPT, K_DATA, K_BDAT, K_RSET, K_QUIT,
    K_STARTTLS, K_AUTH, K_XCLIENT, K_OTHER, K_UNKNOWN
};

enum reason { RS_OPEN = 0, RS_MAIL, RS_RSET, RS_HELO, RS_QUIT, RS_DONE, RS_REJECT, RS_TLS,
              RS_GAP, RS_CLOSE };

enum rule {
    R_REPLY_CODE_MISMATCH, R_REPLY_CODE_INVALID, R_REPLY_MALFORMED, R_REPLY_WITHOUT_COMMAND,
    R_REPLY_TOO_LARGE, R_PIPELINING_NOT_OFFERED, R_UNKNOWN_COMMAND, R_MAIL_SYNTAX,
    R_MAIL_FROM_SPACE, R_RCPT_TO_SPACE, R_PATH_WITHOUT_BRACKETS, R_PATH_MALFORMED,
    R_SOURCE_ROUTE, R_NESTED_MAIL, R_TOO_MANY_RECIPIENTS, R_NONSTANDARD_DATA_TERMINATOR,
    R_MESSAGE_TOO_LARGE, R_MESSAGE_SPOOLED, R_SPOOL_FAILED, R_DATA_REPLY_BEFORE_TERMINATOR, R_CONTENT_BEFORE_354,
    R_DATA_WITHOUT_MAIL, R_BDAT_BAD_SIZE, R_STARTTLS_PLAINTEXT_INJECTION, R_DATA_AFTER_QUIT,
    R_DATA_AFTER_SERVER_CLOSE,
    R_BARE_LF, R_BARE_CR, R_LINE_TOO_LONG, R_LINE_CUT, R_TOO_MANY_PENDING, R_HOLD_OVERFLOW,
    R_UNSOLICITED_421, R_CAPTURE_GAP, R_CONTENT_NEVER_ACCEPTED, R_REPLY_RESYNC,
    R_AUTH_CLEARTEXT, R_AUTH_FAILED_REPEATEDLY, R_SASL_MALFORMED, R_STARTTLS_NOT_USED,
    R_STARTTLS_REFUSED, R_UTF8_WITHOUT_SMTPUTF8, R_SIZE_MISMATCH, R_SIZE_EXCEEDS_LIMIT,
    R_EIGHTBIT_WITHOUT_8BITMIME, R_BINARYMIME_WITH_DATA, R_STARTTLS_FAILED, R_IMPLICIT_TLS, R_IMPLICIT_TLS_FAILED,
    R_CLIENT_SIDE_MISSING, R_SMUGGLING_ATTEMPT, R_DATA_WITHOUT_RECIPIENTS,
    R_COUNT
};

static const struct { const char *name; enum sift_severity sev; } rules[R_COUNT] = {
    [R_REPLY_CODE_MISMATCH] = { "reply_code_mismatch", SIFT_SEV_LOW },
    [R_REPLY_CODE_INVALID] = { "reply_code_invalid", SIFT_SEV_LOW },
    [R_REPLY_MALFORMED] = { "reply_malformed", SIFT_SEV_LOW },
    [R_REPLY_WITHOUT_COMMAND] = { "reply_without_command", SIFT_SEV_LOW },
    [R_REPLY_TOO_LARGE] = { "reply_too_large", SIFT_SEV_LOW },
    [R_PIPELINING_NOT_OFFERED] = { "pipelining_not_offered", SIFT_SEV_INFO },
    [R_UNKNOWN_COMMAND] = { "unknown_command", SIFT_SEV_INFO },
    [R_MAIL_SYNTAX] = { "mail_syntax", SIFT_SEV_LOW },
    [R_MAIL_FROM_SPACE] = { "mail_from_space", SIFT_SEV_LOW },
    [R_RCPT_TO_SPACE] = { "rcpt_to_space", SIFT_SEV_LOW },
    [R_PATH_WITHOUT_BRACKETS] = { "path_without_brackets", SIFT_SEV_LOW },
    [R_PATH_MALFORMED] = { "path_malformed", SIFT_SEV_LOW },
    [R_SOURCE_ROUTE] = { "source_route", SIFT_SEV_INFO },
    [R_NESTED_MAIL] = { "nested_mail", SIFT_SEV_LOW },
    [R_TOO_MANY_RECIPIENTS] = { "too_many_recipients", SIFT_SEV_MEDIUM },
    [R_NONSTANDARD_DATA_TERMINATOR] = { "nonstandard_data_terminator", SIFT_SEV_HIGH },
    [R_MESSAGE_TOO_LARGE] = { "message_too_large", SIFT_SEV_MEDIUM },
    [R_MESSAGE_SPOOLED] = { "message_spooled", SIFT_SEV_INFO },
    [R_SPOOL_FAILED] = { "spool_failed", SIFT_SEV_HIGH },
    [R_DATA_REPLY_BEFORE_TERMINATOR] = { "data_reply_before_terminator", SIFT_SEV_HIGH },
    [R_CONTENT_BEFORE_354] = { "content_before_354", SIFT_SEV_MEDIUM },
    [R_DATA_WITHOUT_MAIL] = { "data_without_mail", SIFT_SEV_LOW },
    [R_BDAT_BAD_SIZE] = { "bdat_bad_size", SIFT_SEV_MEDIUM },
    [R_STARTTLS_PLAINTEXT_INJECTION] = { "starttls_plaintext_injection", SIFT_SEV_HIGH },
    [R_DATA_AFTER_QUIT] = { "data_after_quit", SIFT_SEV_LOW },
    [R_DATA_AFTER_SERVER_CLOSE] = { "data_after_server_close", SIFT_SEV_LOW },
    [R_BARE_LF] = { "bare_lf", SIFT_SEV_MEDIUM },
    [R_BARE_CR] = { "bare_cr", SIFT_SEV_MEDIUM },
    [R_LINE_TOO_LONG] = { "line_too_long", SIFT_SEV_LOW },
    [R_LINE_CUT] = { "line_cut", SIFT_SEV_MEDIUM },
    [R_TOO_MANY_PENDING] = { "too_many_pending", SIFT_SEV_MEDIUM },
    [R_HOLD_OVERFLOW] = { "hold_overflow", SIFT_SEV_MEDIUM },
    [R_UNSOLICITED_421] = { "unsolicited_421", SIFT_SEV_INFO },
    [R_CAPTURE_GAP] = { "capture_gap", SIFT_SEV_MEDIUM },
    [R_CONTENT_NEVER_ACCEPTED] = { "content_never_accepted", SIFT_SEV_LOW },
    [R_REPLY_RESYNC] = { "reply_resync", SIFT_SEV_LOW },
    [R_AUTH_CLEARTEXT] = { "auth_cleartext", SIFT_SEV_MEDIUM },   /* high for reusable secrets */
    [R_AUTH_FAILED_REPEATEDLY] = { "auth_failed_repeatedly", SIFT_SEV_MEDIUM },
    [R_SASL_MALFORMED] = { "sasl_malformed", SIFT_SEV_LOW },
    [R_STARTTLS_NOT_USED] = { "starttls_not_used", SIFT_SEV_LOW },
    [R_STARTTLS_REFUSED] = { "starttls_refused", SIFT_SEV_MEDIUM },
    [R_UTF8_WITHOUT_SMTPUTF8] = { "utf8_without_smtputf8", SIFT_SEV_LOW },
    [R_SIZE_MISMATCH] = { "size_mismatch", SIFT_SEV_LOW },
    [R_SIZE_EXCEEDS_LIMIT] = { "size_exceeds_limit", SIFT_SEV_LOW },
    [R_EIGHTBIT_WITHOUT_8BITMIME] = { "eightbit_without_8bitmime", SIFT_SEV_LOW },
    [R_BINARYMIME_WITH_DATA] = { "binarymime_with_data", SIFT_SEV_LOW },
    [R_STARTTLS_FAILED] = { "starttls_failed", SIFT_SEV_MEDIUM },
    [R_IMPLICIT_TLS] = { "implicit_tls", SIFT_SEV_INFO },
    [R_IMPLICIT_TLS_FAILED] = { "implicit_tls_failed", SIFT_SEV_LOW },
    [R_CLIENT_SIDE_MISSING] = { "client_side_missing", SIFT_SEV_LOW },
    [R_SMUGGLING_ATTEMPT] = { "smuggling_attempt", SIFT_SEV_HIGH },
    [R_DATA_WITHOUT_RECIPIENTS] = { "data_without_recipients", SIFT_SEV_LOW },
};

#define AUTH_FAILS_FLAG 3u             /* auth_failed_repeatedly at this many failures */
#define TLS_HELLO_MAX   (20u * 1024u)  /* client bytes kept after STARTTLS to find the ClientHello */

/* The AUTH exchange in progress (one at a time: AUTH holds the client until replied). */
struct auth_state {
    int active;
    uint32_t seq;
    char *mech;              /* upper-cased mechanism */
    char *user, *pass;
    char *challenge;         /* last 334 text, base64-decoded when it decodes, else raw */
    int cancelled, creds_sent;
    unsigned n_resp;
    struct sift_pktref pkt;
};

/* A transaction under construction plus what decides when and how it is emitted. */
struct otxn {
    struct sift_smtp_txn *t;
    unsigned refs;        /* pending commands pointing here */
    int closed;           /* the client moved on: nothing attaches any more */
    enum reason reason;   /* why it was closed */
    int final_seen;       /* final reply to DATA/BDAT (or DATA refusal) seen */
    int rcpts_flagged, size_flagged, content_pkt_set;
    int spool_broken;                /* its spool file failed: nothing more kept */
    int lf_dots_content;  /* the server did not end this content at a non-canonical dot line */
};

/* A command waiting for its reply. */
struct pcmd {
    uint32_t seq;
    enum kind kind;
    char *verb, *args;       /* verb NULL for the greeting */
    uint8_t *line;
    size_t line_len;
    struct sift_pktref pkt;
    struct otxn *ot;         /* holds a reference when non-NULL */
    struct otxn *prev_ot;    /* MAIL: the transaction it would replace; HELO/EHLO: the one it
                                would reset. Decided on the reply; holds a reference. */
    size_t rcpt_idx;         /* RCPT: index in ot->t->rcpts, SIZE_MAX if not kept */
    int bdat_last;
    int inter_code;
    uint32_t inter_n;
};

/* The reply being assembled from server lines. */
struct reply {
    int active;
    int first_code, code, mismatch;
    uint32_t lines;
    struct sift_buf text;
    char enhanced[16];
    int too_large;
};

struct hold_seg { size_t off; struct sift_pktref pkt; };

enum cscan { CS_BOL, CS_INLINE, CS_DOT, CS_DOTCR };

/* SMTP smuggling (CVE-2023-51764/5/6, NOTES-libs 5.3): a non-canonical dot line is only
 * a candidate end of data until the server's replies say what it was. SP_LF: "\n.\n",
 * "\n.\r\n" or "\r\n.\n" ended the content (what most servers do) and the client bytes
 * after it are parsed as commands, speculatively: if the replies that follow do not fit
 * those commands, everything after the candidate is rolled back and re-read as content.
 * SP_CR: "\r.\r" stays content unless the server's final reply comes before any later
 * end of data, which cuts the message there. */
enum spec_kind { SP_NONE, SP_LF, SP_CR };
struct spec {
    enum spec_kind kind;
    struct otxn *ot;                 /* the transaction of the candidate (holds a reference) */
    uint64_t content_len;            /* SP_CR: content length at the candidate */
    char term[24];                   /* escaped terminator */
    uint8_t dotline[4];              /* SP_LF: the dot line's raw bytes ".\n" / ".\r\n" */
    size_t dotline_len;
    int prev_crlf;                   /* SP_LF: the line before the dot ended in CRLF */
    struct sift_pktref pkt;
    uint32_t seq0, txn0, ncmd0, ntxn0;  /* SP_LF: state to restore on roll back */
    int quit0;
    struct sift_buf raw;             /* raw client bytes after the candidate */
    struct hold_seg *segs;
    size_t n_segs, segs_cap;
    int r1_seen;                     /* the final reply to the candidate's DATA came */
};

struct sift_smtp {
    struct sift_smtp_sink sink;
    struct sift_smtp_limits lim;
    struct sift_smtp_session info;
    enum state state;
    int closed;

    struct sift_linebuf lb[2];
    uint64_t bare_lf[2], bare_cr[2];
    struct sift_pktref bare_lf_pkt[2], bare_cr_pkt[2];
    int long_flagged[3];                 /* command, reply, text */
    unsigned rule_n[R_COUNT];
    int quit_flagged, pipelining_flagged;
    int server_spoke;                    /* any server byte seen */
    int client_spoke;                    /* any client byte (or client gap) seen */
    int server_only;                     /* skeleton mode: replies only, client side absent */
    int so_replies;                      /* replies seen in skeleton mode */
    struct otxn *so_ot;                  /* skeleton transaction after a 354 */
    struct spec sp;                      /* candidate non-canonical end of data */
    int cr_scan;                         /* "\r.\r" detector state inside content */
    int server_closing;                  /* last reply was 221, 421 or 521 */
    int after_close;                     /* client command seen after a closing reply */
    struct sift_pktref after_close_pkt;

    struct pcmd *q;                      /* ring of pending commands */
    size_t q_cap, q_head, q_len;
    uint32_t next_seq;

    struct reply rep;

    struct otxn **tx;                    /* transactions not yet emitted, in order */
    size_t tx_len, tx_cap;
    struct otxn *cur;                    /* where MAIL/RCPT/DATA/BDAT attach */
    uint32_t next_txn;

    struct sift_buf hold;                /* ST_HOLD bytes, with packet change points */
    struct hold_seg *segs;
    size_t n_segs, segs_cap;
    uint32_t hold_seq;                   /* the command whose reply releases the hold */
    enum kind hold_kind;
    int hold_flagged;

    struct otxn *content_ot;             /* target of DATA content / BDAT octets */
    enum cscan cs;
    int prev_eol_crlf, data_line_crlf;
    uint8_t prev_byte;
    uint64_t cur_line_len;
    uint64_t bdat_left;

    struct auth_state auth;
    uint64_t size_limit;                 /* EHLO "SIZE n" (0: none or no limit) */
    int starttls_tried, starttls_not_used_flagged, utf8_flagged;
    struct sift_buf tls_buf;             /* client bytes after the 220 to STARTTLS */
    int tls_hello_done, tls_server_checked;
};

/* ---------- small helpers ---------- */

/* Report a finding (at most FINDING_CAP times per rule and session). detail is printf-style. */
static void vfinding(struct sift_smtp *s, enum rule r, enum sift_severity sev,
                     const struct sift_pktref *pkt, const char *fmt, va_list ap)
{
    if (s->rule_n[r] >= FINDING_CAP) return;
    s->rule_n[r]++;
    if (!s->sink.on_finding) return;
    char detail[256];
    vsnprintf(detail, sizeof detail, fmt, ap);
    s->sink.on_finding(s->sink.user, rules[r].name, sev, detail, pkt);
}

static void finding(struct sift_smtp *s, enum rule r, const struct sift_pktref *pkt,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfinding(s, r, rules[r].sev, pkt, fmt, ap);
    va_end(ap);
}

/* The same with a severity other than the rule's default. */
static void finding_sev(struct sift_smtp *s, enum rule r, enum sift_severity sev,
                        const struct sift_pktref *pkt, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfinding(s, r, sev, pkt, fmt, ap);
    va_end(ap);
}

/* The only place the state changes; performs what entering a state implies. */
static void set_state(struct sift_smtp *s, enum state st)
{
    switch (st) {
    case ST_CONTENT:
        s->cs = CS_BOL;
        s->cur_line_len = 0;
        s->prev_byte = '\n';
        break;
    case ST_TLS:
        s->info.tls_started = 1;
        /* fall through */
    case ST_GAP:
    case ST_CLOSED:
        sift_buf_reset(&s->hold);
        s->n_segs = 0;
        break;
    default:
        break;
    }
    s->state = st;
}

static int pkt_eq(const struct sift_pktref *a, const struct sift_pktref *b)
{
    return a->file_idx == b->file_idx && a->frame_no == b->frame_no && a->ts_us == b->ts_us;
}

static const struct sift_pktref zero_pkt;

static const struct sift_pktref *pk(const struct sift_pktref *p)
{
    return p ? p : &zero_pkt;
}

/* Escape for a finding detail: printable ASCII kept, the rest as \xHH; at most max chars in. */
static void escape_short(const uint8_t *p, size_t n, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < outsz; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f) out[o++] = (char)p[i];
        else o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", p[i]);
    }
    out[o] = '\0';
}

/* ---------- base64, TLS ClientHello, ESMTP parameters ---------- */

long sift_smtp_b64decode(const char *in, size_t n, uint8_t *out, size_t outsz)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)in[i], v;
        if (c == '=') { pad++; continue; }
        if (pad) return -1;                       /* data after padding */
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+') v = 62;
        else if (c == '/') v = 63;
        else return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outsz) return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (pad > 2 || bits >= 6) return -1;          /* a lone sixth of a byte */
    if (pad && (n % 4) != 0) return -1;
    return (long)o;
}

/* Decode a base64 SASL line into a NUL-terminated malloc'd buffer; NULL if not base64. */
static uint8_t *b64_dup(const char *in, size_t n, size_t *out_len)
{
    uint8_t *d = sift_xmalloc(n / 4 * 3 + 4);
    long dl = sift_smtp_b64decode(in, n, d, n / 4 * 3 + 3);
    if (dl < 0) { free(d); return NULL; }
    d[dl] = 0;
    *out_len = (size_t)dl;
    return d;
}

/* Bounded reader over bytes: every read checks the length; a short read sets bad. */
struct rd { const uint8_t *p; size_t n, i; int bad; };

static unsigned rd_u8(struct rd *r)
{
    if (r->bad || r->i + 1 > r->n) { r->bad = 1; return 0; }
    return r->p[r->i++];
}

static unsigned rd_u16(struct rd *r)
{
    unsigned a = rd_u8(r);
    return (a << 8) | rd_u8(r);
}

static struct rd rd_sub(struct rd *r, size_t len)
{
    struct rd s = { r->p + r->i, len, 0, 0 };
    if (r->bad || len > r->n - r->i) { r->bad = 1; s.n = 0; s.bad = 1; return s; }
    r->i += len;
    return s;
}

static char *tls_version_name(unsigned v)
{
    char buf[16];
    switch (v) {
    case 0x0300: return sift_xstrdup("SSL 3.0");
    case 0x0301: return sift_xstrdup("TLS 1.0");
    case 0x0302: return sift_xstrdup("TLS 1.1");
    case 0x0303: return sift_xstrdup("TLS 1.2");
    case 0x0304: return sift_xstrdup("TLS 1.3");
    default:
        snprintf(buf, sizeof buf, "0x%04x", v);
        return sift_xstrdup(buf);
    }
}

int sift_smtp_tls_client_hello(const uint8_t *d, size_t len, char **version, char **sni)
{
    enum { HS_MAX = 16384 };
    struct sift_buf hs = { 0 };
    size_t off = 0, body = 0;
    int rc = 0;
    *version = NULL;
    *sni = NULL;
    /* Join the handshake fragments of consecutive handshake records. */
    for (;;) {
        if (len - off < 5) { rc = 0; goto out; }
        if (d[off] != 0x16 || d[off + 1] != 0x03) { rc = -1; goto out; }
        size_t rl = (size_t)d[off + 3] << 8 | d[off + 4];
        if (rl == 0 || rl > 16384 + 2048) { rc = -1; goto out; }
        if (len - off - 5 < rl) { rc = 0; goto out; }
        size_t take = rl < HS_MAX - hs.len ? rl : HS_MAX - hs.len;
        sift_buf_append(&hs, d + off + 5, take);
        off += 5 + rl;
        if (hs.len >= 4) {
            if (hs.data[0] != 1) { rc = -1; goto out; }     /* not a ClientHello */
            body = (size_t)hs.data[1] << 16 | (size_t)hs.data[2] << 8 | hs.data[3];
            if (body + 4 > HS_MAX) { rc = -1; goto out; }
            if (hs.len >= body + 4) break;
        }
        if (hs.len >= HS_MAX) { rc = -1; goto out; }
    }
    struct rd r = { hs.data + 4, body, 0, 0 };
    unsigned legacy = rd_u16(&r), best = 0;
    rd_sub(&r, 32);                                        /* random */
    rd_sub(&r, rd_u8(&r));                                 /* session id */
    rd_sub(&r, rd_u16(&r));                                /* cipher suites */
    rd_sub(&r, rd_u8(&r));                                 /* compression methods */
    if (r.bad || (legacy >> 8) != 3) { rc = -1; goto out; }
    if (r.i < r.n) {
        struct rd ext = rd_sub(&r, rd_u16(&r));
        while (!ext.bad && ext.i < ext.n) {
            unsigned type = rd_u16(&ext);
            struct rd e = rd_sub(&ext, rd_u16(&ext));
            if (type == 0 && !*sni) {                      /* server_name (RFC 6066 3) */
                struct rd list = rd_sub(&e, rd_u16(&e));
                while (!list.bad && list.i < list.n) {
                    unsigned nt = rd_u8(&list);
                    struct rd name = rd_sub(&list, rd_u16(&list));
                    if (nt == 0 && !name.bad && name.n && !*sni)
                        *sni = sift_xstrndup((const char *)name.p, name.n);
                }
            } else if (type == 43) {                       /* supported_versions (RFC 8446 4.2.1) */
                struct rd list = rd_sub(&e, rd_u8(&e));
                while (!list.bad && list.i + 2 <= list.n) {
                    unsigned v = rd_u16(&list);
                    if ((v & 0x0f0f) == 0x0a0a) continue;  /* GREASE */
                    if (v > best) best = v;
                }
            }
        }
        if (ext.bad) {
            free(*sni);
            *sni = NULL;
            rc = -1;
            goto out;
        }
    }
    *version = tls_version_name(best > legacy ? best : legacy);
    rc = 1;
out:
    sift_buf_free(&hs);
    return rc;
}

/* Value of ESMTP parameter name in params ("SIZE=12 BODY=8BITMIME"), case-insensitive:
 * returns a pointer to the value (to the end of the token for a bare keyword), or NULL. */
static const char *param_get(const char *params, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    for (const char *p = params; p && *p;) {
        while (*p == ' ') p++;
        size_t tl = strcspn(p, " ");
        if (tl >= nl && sift_strcaseprefix(p, name) && (tl == nl || p[nl] == '=')) {
            const char *v = p + nl + (tl > nl);
            if (vlen) *vlen = tl - (size_t)(v - p);
            return v;
        }
        p += tl;
    }
    return NULL;
}

static int param_is(const char *params, const char *name, const char *value)
{
    size_t vl;
    const char *v = param_get(params, name, &vl);
    return v && vl == strlen(value) && strncasecmp(v, value, vl) == 0;
}

static int has_8bit(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] >= 0x80) return 1;
    return 0;
}

static int spool_flush(struct sift_smtp_txn *t);

/* 8-bit bytes anywhere in the message (read back from its spool if need be). */
static int content_has_8bit(const struct sift_smtp_txn *t)
{
    if (!t->spooled) return has_8bit(t->content.data, t->content.len);
    enum { CHUNK = 1 << 16 };
    uint8_t *buf = sift_xmalloc(CHUNK);
    int found = 0;
    for (uint64_t off = 0; off < t->spool_len && !found;) {
        size_t n = t->spool_len - off < CHUNK ? (size_t)(t->spool_len - off) : CHUNK;
        if (sift_pread_all(t->spool_fd, buf, n, off) != 0) break;
        found = has_8bit(buf, n);
        off += n;
    }
    free(buf);
    return found || has_8bit(t->content.data, t->content.len);
}

/* Content checks done once the transaction ends (RFC 1870 SIZE, 6152 8BITMIME). */
static void check_content(struct sift_smtp *s, struct otxn *ot)
{
    struct sift_smtp_txn *t = ot->t;
    if (!t->has_content) return;
    const char *params = t->mail_params ? t->mail_params : "";
    const struct sift_pktref *where = t->content_last_pkt.frame_no ? &t->content_last_pkt : &t->first_pkt;
    size_t vl;
    const char *sz = param_get(params, "SIZE", &vl);
    if (sz && !t->truncated && vl > 0 && vl < 20 && isdigit((unsigned char)*sz)) {
        uint64_t declared = strtoull(sz, NULL, 10);
        uint64_t real = sift_smtp_content_len(t);
        uint64_t diff = declared > real ? declared - real : real - declared;
        if (declared && diff * 10 > declared)
            finding(s, R_SIZE_MISMATCH, where, "transaction %u declared SIZE=%llu, sent %llu bytes",
                    (unsigned)t->index, (unsigned long long)declared, (unsigned long long)real);
    }
    if (s->size_limit && sift_smtp_content_len(t) > s->size_limit)
        finding(s, R_SIZE_EXCEEDS_LIMIT, where, "transaction %u: %llu bytes over the server's SIZE %llu",
                (unsigned)t->index, (unsigned long long)sift_smtp_content_len(t),
                (unsigned long long)s->size_limit);
    if (!param_is(params, "BODY", "8BITMIME") && !param_is(params, "BODY", "BINARYMIME") &&
        !param_get(params, "SMTPUTF8", NULL) && content_has_8bit(t))
        finding(s, R_EIGHTBIT_WITHOUT_8BITMIME, where,
                "transaction %u: 8-bit content without BODY=8BITMIME", (unsigned)t->index);
}

/* ---------- AUTH (RFC 4954) ---------- */

static void auth_clear(struct auth_state *a)
{
    free(a->mech);
    free(a->user);
    free(a->pass);
    free(a->challenge);
    memset(a, 0, sizeof *a);
}

static void set_str(char **slot, const char *p, size_t n)
{
    free(*slot);
    *slot = sift_xstrndup(p, n);
}

/* UTF-16LE (NTLM unicode strings) to UTF-8, BMP only; others become '?'. */
static char *utf16le_dup(const uint8_t *p, size_t n)
{
    struct sift_buf b = { 0 };
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned c = p[i] | (unsigned)p[i + 1] << 8;
        uint8_t u[3];
        if (c == 0) break;
        if (c < 0x80) { u[0] = (uint8_t)c; sift_buf_append(&b, u, 1); }
        else if (c < 0x800) {
            u[0] = (uint8_t)(0xc0 | c >> 6); u[1] = (uint8_t)(0x80 | (c & 0x3f));
            sift_buf_append(&b, u, 2);
        } else if (c >= 0xd800 && c < 0xe000) sift_buf_putc(&b, '?');
        else {
            u[0] = (uint8_t)(0xe0 | c >> 12); u[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
            u[2] = (uint8_t)(0x80 | (c & 0x3f));
            sift_buf_append(&b, u, 3);
        }
    }
    sift_buf_putc(&b, 0);
    return (char *)sift_buf_steal(&b, NULL);
}

/* NTLM Type 3 (AUTHENTICATE) message: "DOMAIN\user" into *user. */
static void ntlm_user(const uint8_t *d, size_t n, char **user)
{
    if (n < 64 || memcmp(d, "NTLMSSP", 8) != 0 || d[8] != 3) return;
    uint32_t flags = n >= 64 ? (uint32_t)d[60] | (uint32_t)d[61] << 8 | (uint32_t)d[62] << 16 |
                                   (uint32_t)d[63] << 24 : 0;
    char *parts[2] = { NULL, NULL };
    for (int k = 0; k < 2; k++) {
        size_t at = k == 0 ? 28 : 36;   /* DomainNameFields, UserNameFields */
        size_t len = d[at] | (size_t)d[at + 1] << 8;
        size_t off = d[at + 4] | (size_t)d[at + 5] << 8 | (size_t)d[at + 6] << 16 | (size_t)d[at + 7] << 24;
        if (off > n || len > n - off) { free(parts[0]); return; }
        parts[k] = (flags & 1) ? utf16le_dup(d + off, len) : sift_xstrndup((const char *)d + off, len);
    }
    size_t l = strlen(parts[0]) + strlen(parts[1]) + 2;
    free(*user);
    *user = sift_xmalloc(l);
    snprintf(*user, l, "%s%s%s", parts[0], parts[0][0] ? "\\" : "", parts[1]);
    free(parts[0]);
    free(parts[1]);
}

/* "key=" value inside a SASL message (XOAUTH2 "user=", OAUTHBEARER "a=", SCRAM "n="),
 * where fields start at the beginning or after one of seps. */
static int sasl_field(const uint8_t *d, size_t n, const char *key, const char *seps, char **out)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl <= n; i++) {
        if ((i == 0 || strchr(seps, d[i - 1] ? d[i - 1] : '\x02')) && memcmp(d + i, key, kl) == 0) {
            size_t j = i + kl, e = j;
            while (e < n && d[e] && !strchr(seps, d[e])) e++;
            set_str(out, (const char *)d + j, e - j);
            return 1;
        }
    }
    return 0;
}

/* One client SASL message (the initial response, or a line after a 334). */
static void auth_response(struct sift_smtp *s, const uint8_t *line, size_t n, int initial,
                          const struct sift_pktref *pkt)
{
    struct auth_state *a = &s->auth;
    if (!a->active) return;
    a->n_resp++;
    if (n == 1 && line[0] == '*') { a->cancelled = 1; return; }
    if (n == 1 && line[0] == '=' && initial) return;   /* empty initial response */
    if (n == 0) return;
    a->creds_sent = 1;
    size_t dl = 0;
    uint8_t *d = b64_dup((const char *)line, n, &dl);
    if (!d) {
        char ev[80];
        escape_short(line, n < 40 ? n : 40, ev, sizeof ev);
        finding(s, R_SASL_MALFORMED, pkt, "SASL response for %s is not base64: \"%s\"", a->mech, ev);
        return;
    }
    const char *m = a->mech;
    if (!strcmp(m, "PLAIN")) {
        /* authzid NUL authcid NUL passwd (RFC 4616) */
        const uint8_t *z1 = memchr(d, 0, dl);
        const uint8_t *z2 = z1 ? memchr(z1 + 1, 0, dl - (size_t)(z1 + 1 - d)) : NULL;
        if (z2) {
            size_t ul = (size_t)(z2 - z1 - 1);
            if (ul) set_str(&a->user, (const char *)z1 + 1, ul);
            else set_str(&a->user, (const char *)d, (size_t)(z1 - d));
            set_str(&a->pass, (const char *)z2 + 1, dl - (size_t)(z2 + 1 - d));
        } else {
            finding(s, R_SASL_MALFORMED, pkt, "AUTH PLAIN response without two NUL separators");
        }
    } else if (!strcmp(m, "LOGIN")) {
        /* The prompts say which is which ("Username:", "Password:" in base64); servers
         * that say something else get username first, password second. */
        const char *c = a->challenge ? a->challenge : "";
        int is_pass = initial ? 0 : strcasestr(c, "pass") ? 1 : strcasestr(c, "user") ? 0 : a->user != NULL;
        set_str(is_pass ? &a->pass : &a->user, (const char *)d, dl);
    } else if (!strcmp(m, "CRAM-MD5")) {
        /* "user hexdigest" (RFC 2195) */
        size_t sp = dl;
        while (sp > 0 && d[sp - 1] != ' ') sp--;
        if (sp > 1) set_str(&a->user, (const char *)d, sp - 1);
    } else if (!strcmp(m, "XOAUTH2")) {
        sasl_field(d, dl, "user=", "\x01", &a->user);
    } else if (!strcmp(m, "OAUTHBEARER")) {
        sasl_field(d, dl, "a=", ",\x01", &a->user);
    } else if (!strncmp(m, "SCRAM-", 6)) {
        if (!a->user) sasl_field(d, dl, "n=", ",", &a->user);
    } else if (!strcmp(m, "DIGEST-MD5")) {
        sasl_field(d, dl, "username=\"", "\",", &a->user);
    } else if (!strcmp(m, "NTLM")) {
        ntlm_user(d, dl, &a->user);
    }
    free(d);
}

/* A 334 challenge: kept (decoded when it is base64) for the next response. */
static void auth_challenge(struct sift_smtp *s, const char *text)
{
    struct auth_state *a = &s->auth;
    if (!a->active) return;
    size_t dl;
    uint8_t *d = b64_dup(text, strlen(text), &dl);
    free(a->challenge);
    a->challenge = d ? (char *)d : sift_xstrdup(text);
}

static void auth_begin(struct sift_smtp *s, const struct pcmd *pc, const struct sift_pktref *pkt)
{
    struct auth_state *a = &s->auth;
    auth_clear(a);
    a->active = 1;
    a->seq = pc->seq;
    a->pkt = *pk(pkt);
    const char *args = pc->args ? pc->args : "";
    size_t ml = strcspn(args, " ");
    a->mech = sift_xstrndup(args, ml);
    for (char *p = a->mech; *p; p++) *p = (char)toupper((unsigned char)*p);
    const char *ir = args + ml;
    while (*ir == ' ') ir++;
    s->info.n_auth++;
    if (*ir) auth_response(s, (const uint8_t *)ir, strlen(ir), 1, pkt);
}

/* The AUTH command got its final reply (rep NULL: none): emit the attempt. */
static void auth_finish(struct sift_smtp *s, const struct reply *rep, const struct sift_pktref *pkt)
{
    struct auth_state *a = &s->auth;
    if (!a->active) return;
    int code = rep ? rep->code : 0;
    int reusable = !strcmp(a->mech, "PLAIN") || !strcmp(a->mech, "LOGIN") ||
                   !strcmp(a->mech, "XOAUTH2") || !strcmp(a->mech, "OAUTHBEARER");
    if (a->creds_sent)
        finding_sev(s, R_AUTH_CLEARTEXT, reusable ? SIFT_SEV_HIGH : SIFT_SEV_MEDIUM, &a->pkt,
                    "AUTH %s credentials%s%s sent without TLS%s", a->mech,
                    a->user ? " of " : "", a->user ? a->user : "",
                    (!strcmp(a->mech, "PLAIN") || !strcmp(a->mech, "LOGIN")) ? " (password readable)" : "");
    if (code >= 400 && !a->cancelled) {
        s->info.n_auth_failed++;
        if (s->info.n_auth_failed == AUTH_FAILS_FLAG)
            finding(s, R_AUTH_FAILED_REPEATEDLY, pkt, "%u failed AUTH attempts in one session (last %03d)",
                    AUTH_FAILS_FLAG, code);
    }
    if (s->sink.on_auth) {
        struct sift_smtp_auth out = {
            .seq = a->seq, .mechanism = a->mech, .username = a->user,
            .password = (!strcmp(a->mech, "PLAIN") || !strcmp(a->mech, "LOGIN")) ? a->pass : NULL,
            .outcome_code = code,
            .outcome_text = rep ? (rep->text.data ? (const char *)rep->text.data : "") : NULL,
            .cancelled = a->cancelled, .tls = 0, .pkt = a->pkt,
        };
        s->sink.on_auth(s->sink.user, &out);
    }
    auth_clear(a);
}

/* Client bytes after the 220 to STARTTLS: look for the ClientHello, then ignore all. */
static void tls_feed(struct sift_smtp *s, const uint8_t *data, size_t len)
{
    if (s->tls_hello_done || !len) return;
    size_t room = TLS_HELLO_MAX - s->tls_buf.len;
    sift_buf_append(&s->tls_buf, data, len < room ? len : room);
    char *ver, *sni;
    int rc = sift_smtp_tls_client_hello(s->tls_buf.data, s->tls_buf.len, &ver, &sni);
    if (rc == 0 && s->tls_buf.len < TLS_HELLO_MAX) return;
    if (rc == 1) {
        free(s->info.tls_version);
        free(s->info.tls_sni);
        s->info.tls_version = ver;
        s->info.tls_sni = sni;
    }
    s->tls_hello_done = 1;
    sift_buf_free(&s->tls_buf);
}

/* ---------- transactions ---------- */

static struct otxn *txn_new(struct sift_smtp *s, const struct sift_pktref *pkt)
{
    struct otxn *ot = sift_xcalloc(1, sizeof *ot);
    ot->t = sift_xcalloc(1, sizeof *ot->t);
    ot->t->index = s->next_txn++;
    ot->t->first_pkt = *pk(pkt);
    ot->t->last_pkt = *pk(pkt);
    if (s->tx_len == s->tx_cap) {
        s->tx_cap = s->tx_cap ? s->tx_cap * 2 : 4;
        s->tx = sift_xrealloc(s->tx, s->tx_cap * sizeof *s->tx);
    }
    s->tx[s->tx_len++] = ot;
    s->info.n_txns++;
    return ot;
}

#define PRESSURE_MIN ((size_t)16 << 10)  /* past mem_budget, messages this big are spooled */

/* Memory held by messages being received, all sessions together (atomic: a
 * transaction may be freed on another thread). Each transaction counts the
 * capacity of its content buffer while it is the dissector's. */
static _Atomic size_t g_assembling;

size_t sift_smtp_assembling_bytes(void)
{
    return atomic_load(&g_assembling);
}

/* Brings t's share of g_assembling to its buffer's capacity (0: none held). */
static void mem_sync(struct sift_smtp_txn *t, size_t now)
{
    if (now > t->mem_counted) atomic_fetch_add(&g_assembling, now - t->mem_counted);
    else if (now < t->mem_counted) atomic_fetch_sub(&g_assembling, t->mem_counted - now);
    t->mem_counted = now;
}

/* Decide the disposition and hand the txn to the sink (which then owns it). */
static void txn_emit(struct sift_smtp *s, struct otxn *ot)
{
    struct sift_smtp_txn *t = ot->t;
    if (t->spooled) {   /* all of a spooled message is in its file when handed over */
        if (spool_flush(t) != 0) {
            t->truncated = 1;
            finding(s, R_SPOOL_FAILED, &t->content_last_pkt, "message %u: writing its temporary file failed (%s)",
                    (unsigned)t->index, strerror(errno));
        }
        sift_buf_free(&t->content);
    }
    mem_sync(t, 0);   /* the sink's from here (the work queue bounds what waits there) */
    check_content(s, ot);
    if (ot->final_seen)
        t->disposition = (t->data_reply_code >= 200 && t->data_reply_code < 300)
                       ? SIFT_SMTP_ACCEPTED : SIFT_SMTP_REJECTED;
    else if (t->mail_reply_code >= 400)
        t->disposition = SIFT_SMTP_REJECTED;
    else if (t->has_content || ot->reason == RS_CLOSE || ot->reason == RS_GAP || ot->reason == RS_OPEN)
        t->disposition = SIFT_SMTP_INCOMPLETE;
    else {
        t->disposition = SIFT_SMTP_ABORTED;
    }
    if (t->has_content && ot->reason == RS_CLOSE && !ot->final_seen && !t->terminator)
        t->truncated = 1;
    ot->t = NULL;
    if (s->sink.on_txn) s->sink.on_txn(s->sink.user, t);
    else sift_smtp_txn_free(t);
    free(ot);
}

/* Emit, in order, every leading transaction that is closed and unreferenced. */
static void txn_flush_ready(struct sift_smtp *s, int force)
{
    size_t n = 0;
    while (n < s->tx_len && (force || (s->tx[n]->closed && s->tx[n]->refs == 0))) {
        if (force && !s->tx[n]->closed) { s->tx[n]->closed = 1; s->tx[n]->reason = RS_CLOSE; }
        txn_emit(s, s->tx[n]);
        n++;
    }
    if (n) {
        memmove(s->tx, s->tx + n, (s->tx_len - n) * sizeof *s->tx);
        s->tx_len -= n;
    }
}

/* The client moved past ot (why = reason); it is emitted when no command refers to it. */
static void txn_close(struct sift_smtp *s, struct otxn *ot, enum reason why)
{
    if (!ot) return;
    if (!ot->closed) {
        ot->closed = 1;
        ot->reason = why;
    }
    if (s->cur == ot) s->cur = NULL;
    txn_flush_ready(s, 0);
}

static void txn_unref(struct sift_smtp *s, struct otxn *ot)
{
    if (!ot) return;
    if (ot->refs) ot->refs--;
    txn_flush_ready(s, 0);
}

/* Point content (DATA/BDAT bytes) at ot, holding a reference so it outlives replies. */
static void content_target(struct sift_smtp *s, struct otxn *ot)
{
    struct otxn *old = s->content_ot;
    if (ot) ot->refs++;
    s->content_ot = ot;
    if (old) txn_unref(s, old);
}

#define SPOOL_CHUNK ((size_t)1 << 20)   /* bytes gathered in memory between writes to a spool */

/* Moves what is in memory to the spool file. 0 on success. */
static int spool_flush(struct sift_smtp_txn *t)
{
    if (!t->spooled || !t->content.len) return 0;
    if (sift_write_all(t->spool_fd, t->content.data, t->content.len) != 0) return -1;
    t->spool_len += t->content.len;
    t->content.len = 0;
    return 0;
}

/* The message outgrew spill_above: from now on its bytes go to a temporary file. */
static int spool_start(struct sift_smtp *s, struct otxn *ot, const struct sift_pktref *pkt, int pressure)
{
    struct sift_smtp_txn *t = ot->t;
    int fd = sift_tmpfile(s->lim.spool_dir);
    if (fd < 0) return -1;
    t->spooled = 1;
    t->spool_fd = fd;
    t->spool_len = 0;
    if (spool_flush(t) != 0) return -1;
    sift_buf_free(&t->content);   /* from here it only gathers SPOOL_CHUNK bytes at a time */
    mem_sync(t, 0);
    if (!pressure)
        finding(s, R_MESSAGE_SPOOLED, pkt, "message %u passed %zu bytes: kept in a temporary file from here",
                (unsigned)t->index, s->lim.spill_above);
    else
        finding(s, R_MESSAGE_SPOOLED, pkt, "message %u: kept in a temporary file from byte %llu on: %zu MiB of"
                " messages were being received at once", (unsigned)t->index,
                (unsigned long long)t->spool_len, s->lim.mem_budget >> 20);
    return 0;
}

/* Append message bytes, bounded by max_message; large ones are spooled. */
static void content_put(struct sift_smtp *s, struct otxn *ot, const uint8_t *p, size_t n,
                        const struct sift_pktref *pkt)
{
    if (!ot || !ot->t || n == 0) return;
    struct sift_smtp_txn *t = ot->t;
    uint64_t have = sift_smtp_content_len(t);
    size_t room = have < s->lim.max_message ? (size_t)(s->lim.max_message - have) : 0;
    size_t keep = n < room ? n : room;
    if (keep && ot->spool_broken) keep = 0;
    int pressure = keep && s->lim.mem_budget != SIZE_MAX && atomic_load(&g_assembling) > s->lim.mem_budget;
    if (keep) {
        int big = t->content.len + keep > s->lim.spill_above;
        if (!t->spooled && (big || (pressure && t->content.len + keep >= PRESSURE_MIN))) {
            if (spool_start(s, ot, pkt, !big) != 0) {
                ot->spool_broken = 1;
                keep = 0;
                finding(s, R_SPOOL_FAILED, pkt, "message %u: cannot write a temporary file (%s): cut at %zu bytes",
                        (unsigned)t->index, strerror(errno), t->content.len);
            }
        }
        if (keep) sift_buf_append(&t->content, p, keep);
        if (t->spooled && (t->content.len >= SPOOL_CHUNK || pressure) && spool_flush(t) != 0) {
            ot->spool_broken = 1;
            t->content.len = 0;   /* dropped: the file is the message so far */
            finding(s, R_SPOOL_FAILED, pkt, "message %u: writing its temporary file failed (%s): cut at %llu bytes",
                    (unsigned)t->index, strerror(errno), (unsigned long long)t->spool_len);
        }
        if (t->spooled && pressure) sift_buf_free(&t->content);   /* nothing held between pieces */
        mem_sync(t, t->content.cap);
    }
    if (keep < n) {
        t->truncated = 1;
        if (!ot->size_flagged && !ot->spool_broken) {
            ot->size_flagged = 1;
            finding(s, R_MESSAGE_TOO_LARGE, pkt, "message %u exceeds %zu bytes kept",
                    (unsigned)t->index, s->lim.max_message);
        }
    }
}

/* Cuts the message back to len bytes (a "\r.\r" end of data confirmed by the server). */
static void content_cut(struct sift_smtp_txn *t, uint64_t len)
{
    if (len >= t->spool_len) {
        if (len - t->spool_len < t->content.len) t->content.len = (size_t)(len - t->spool_len);
        return;
    }
    t->content.len = 0;
    if (ftruncate(t->spool_fd, (off_t)len) == 0) t->spool_len = len;
}

/* The message bytes from offset from onwards (at most max of them), for a
 * look at them: a pointer into memory, or a copy read back from the spool in
 * *tmp (caller frees tmp->data). */
static const uint8_t *content_tail(struct sift_smtp_txn *t, uint64_t from, size_t max, size_t *len,
                                   struct sift_buf *tmp)
{
    uint64_t total = sift_smtp_content_len(t);
    *len = 0;
    if (from >= total) return (const uint8_t *)"";
    size_t n = total - from < max ? (size_t)(total - from) : max;
    if (from >= t->spool_len) {
        *len = n;
        return t->content.data + (from - t->spool_len);
    }
    uint8_t *b = sift_xmalloc(n + 1);
    size_t in_file = t->spool_len - from < n ? (size_t)(t->spool_len - from) : n;
    if (sift_pread_all(t->spool_fd, b, in_file, from) != 0) { free(b); return (const uint8_t *)""; }
    if (n > in_file) memcpy(b + in_file, t->content.data, n - in_file);
    tmp->data = b;
    tmp->len = tmp->cap = n;
    *len = n;
    return b;
}

static void content_touch(struct otxn *ot, const struct sift_pktref *pkt)
{
    if (!ot || !ot->t) return;
    if (!ot->content_pkt_set) {
        ot->content_pkt_set = 1;
        ot->t->content_first_pkt = *pk(pkt);
    }
    ot->t->content_last_pkt = *pk(pkt);
}

/* ---------- pending command FIFO ---------- */

static struct pcmd *q_at(struct sift_smtp *s, size_t i)
{
    return &s->q[(s->q_head + i) % s->q_cap];
}

static void pcmd_free(struct pcmd *pc)
{
    free(pc->verb);
    free(pc->args);
    free(pc->line);
    memset(pc, 0, sizeof *pc);
}

/* Hand one command row to the sink. rep NULL = unanswered. Borrowed data only. */
static void emit_cmd(struct sift_smtp *s, const struct pcmd *pc, const struct reply *rep,
                     const struct sift_pktref *reply_pkt)
{
    if (pc->kind == K_AUTH && s->auth.active && s->auth.seq == pc->seq)
        auth_finish(s, rep, reply_pkt);
    if (pc->kind == K_XCLIENT && s->sink.on_xclient) {
        struct sift_smtp_xclient x = { pc->seq, pc->verb, pc->args ? pc->args : "",
                                       rep ? rep->code : 0, pc->pkt };
        s->sink.on_xclient(s->sink.user, &x);
    }
    if (!s->sink.on_command) return;
    struct sift_smtp_cmd c;
    memset(&c, 0, sizeof c);
    c.seq = pc->seq;
    c.verb = pc->verb;
    c.args = pc->args ? pc->args : "";
    c.line = pc->line;
    c.line_len = pc->line_len;
    c.cmd_pkt = pc->pkt;
    c.txn = (pc->ot && pc->ot->t) ? (int32_t)pc->ot->t->index : -1;
    c.intermediate_code = pc->inter_code;
    c.intermediate_replies = pc->inter_n;
    if (rep) {
        c.reply_code = rep->code;
        c.enhanced = rep->enhanced[0] ? rep->enhanced : NULL;
        c.reply_text = rep->text.data ? (const char *)rep->text.data : "";
        c.reply_lines = rep->lines;
        c.reply_pkt = *pk(reply_pkt);
    }
    s->sink.on_command(s->sink.user, &c);
}

/* Remove the oldest pending command; the caller owns the copy returned in *out. */
static void q_pop(struct sift_smtp *s, struct pcmd *out)
{
    *out = *q_at(s, 0);
    memset(q_at(s, 0), 0, sizeof(struct pcmd));
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_len--;
}

/* Emit the oldest pending command without a reply and drop it. */
static void q_drop_oldest(struct sift_smtp *s)
{
    struct pcmd pc;
    q_pop(s, &pc);
    if (pc.kind != K_GREETING) emit_cmd(s, &pc, NULL, NULL);
    struct otxn *ot = pc.ot, *prev = pc.prev_ot;
    enum kind kind = pc.kind;
    pcmd_free(&pc);
    if (prev) {   /* no reply: assume the command did what it asked */
        txn_close(s, prev, kind == K_MAIL ? RS_MAIL : RS_HELO);
        txn_unref(s, prev);
    }
    txn_unref(s, ot);
}

static void q_flush_all(struct sift_smtp *s)
{
    while (s->q_len) q_drop_oldest(s);
}

/* Append a slot at the tail (zeroed) and return it; the oldest is flushed
 * unanswered when max_pending would be exceeded. */
static struct pcmd *q_push(struct sift_smtp *s, const struct sift_pktref *pkt)
{
    if (s->q_len >= s->lim.max_pending) {
        finding(s, R_TOO_MANY_PENDING, pkt, "more than %zu commands awaiting a reply",
                s->lim.max_pending);
        q_drop_oldest(s);
    }
    if (s->q_len == s->q_cap) {
        size_t cap = s->q_cap ? s->q_cap * 2 : 8;
        struct pcmd *nq = sift_xcalloc(cap, sizeof *nq);
        for (size_t i = 0; i < s->q_len; i++) nq[i] = *q_at(s, i);
        free(s->q);
        s->q = nq;
        s->q_cap = cap;
        s->q_head = 0;
    }
    struct pcmd *pc = q_at(s, s->q_len++);
    memset(pc, 0, sizeof *pc);
    pc->seq = s->next_seq++;
    pc->rcpt_idx = SIZE_MAX;
    return pc;
}

static struct pcmd *q_find_seq(struct sift_smtp *s, uint32_t seq)
{
    for (size_t i = 0; i < s->q_len; i++)
        if (q_at(s, i)->seq == seq) return q_at(s, i);
    return NULL;
}

/* ---------- hold buffer ---------- */

static void client_bytes(struct sift_smtp *s, const uint8_t *data, size_t len,
                         const struct sift_pktref *pkt);
static void start_content(struct sift_smtp *s, struct pcmd *pc, const struct sift_pktref *pkt);

/* Feed the held client bytes again, in the state the reply just chose. */
static void replay_hold(struct sift_smtp *s)
{
    if (s->hold.len == 0) return;
    size_t n;
    uint8_t *data = sift_buf_steal(&s->hold, &n);
    struct hold_seg *segs = s->segs;
    size_t n_segs = s->n_segs;
    s->segs = NULL;
    s->n_segs = s->segs_cap = 0;
    for (size_t i = 0; i < n_segs; i++) {
        size_t end = i + 1 < n_segs ? segs[i + 1].off : n;
        if (end > segs[i].off) client_bytes(s, data + segs[i].off, end - segs[i].off, &segs[i].pkt);
    }
    free(segs);
    free(data);
}

/* Keep client bytes while waiting for the reply that decides what they are. */
/* No reply came to the AUTH or STARTTLS whose bytes are held, and none is coming
 * (bound hit, or end of connection). Bytes that look like a TLS record mean TLS
 * started; otherwise they are read as command lines, so nothing the client sent
 * is lost (a SASL response then shows up as an unknown command). */
static void release_unanswered_hold(struct sift_smtp *s)
{
    if (s->hold.len >= 3 && s->hold.data[0] == 0x16 && s->hold.data[1] == 0x03) {
        size_t n;
        uint8_t *held = sift_buf_steal(&s->hold, &n);
        set_state(s, ST_TLS);
        tls_feed(s, held, n);
        free(held);
        return;
    }
    set_state(s, ST_COMMAND);
    replay_hold(s);
}

static void hold_append(struct sift_smtp *s, const uint8_t *data, size_t len,
                        const struct sift_pktref *pkt)
{
    if (s->hold.len + len > HOLD_MAX) {
        if (s->hold_kind == K_DATA) {
            /* So much before any reply: take it as content (as without server replies). */
            struct pcmd *pc = q_find_seq(s, s->hold_seq);
            finding(s, R_HOLD_OVERFLOW, pkt, "over %u client bytes before the reply to DATA",
                    HOLD_MAX);
            if (pc) {
                start_content(s, pc, pkt);
                replay_hold(s);
                client_bytes(s, data, len, pkt);
                return;
            }
        }
        finding(s, R_HOLD_OVERFLOW, pkt, "over %u client bytes before the reply to %s",
                HOLD_MAX, s->hold_kind == K_AUTH ? "AUTH" : "STARTTLS");
        release_unanswered_hold(s);
        client_bytes(s, data, len, pkt);
        return;
    }
    if (s->n_segs == 0 || !pkt_eq(&s->segs[s->n_segs - 1].pkt, pk(pkt))) {
        if (s->n_segs == s->segs_cap) {
            s->segs_cap = s->segs_cap ? s->segs_cap * 2 : 4;
            s->segs = sift_xrealloc(s->segs, s->segs_cap * sizeof *s->segs);
        }
        s->segs[s->n_segs].off = s->hold.len;
        s->segs[s->n_segs].pkt = *pk(pkt);
        s->n_segs++;
    }
    sift_buf_append(&s->hold, data, len);
}

static void enter_hold(struct sift_smtp *s, const struct pcmd *pc)
{
    s->hold_seq = pc->seq;
    s->hold_kind = pc->kind;
    s->hold_flagged = 0;
    set_state(s, ST_HOLD);
}

/* ---------- DATA content ---------- */

/* DATA got 354 (or we assume it did): content goes to pc's transaction. */
static void start_content(struct sift_smtp *s, struct pcmd *pc, const struct sift_pktref *pkt)
{
    if (!pc->ot) {
        finding(s, R_DATA_WITHOUT_MAIL, pkt, "DATA content without a MAIL command");
        pc->ot = txn_new(s, &pc->pkt);
        pc->ot->refs++;
    }
    pc->ot->t->has_content = 1;
    content_target(s, pc->ot);
    s->prev_eol_crlf = s->data_line_crlf;
    set_state(s, ST_CONTENT);
}

/* ---------- candidate ends of data (struct spec) ---------- */

static void spec_clear(struct sift_smtp *s)
{
    struct otxn *ot = s->sp.ot;
    sift_buf_free(&s->sp.raw);
    free(s->sp.segs);
    memset(&s->sp, 0, sizeof s->sp);
    txn_unref(s, ot);
}

/* The server took the SP_LF candidate as the end of data. */
static void spec_confirm(struct sift_smtp *s)
{
    finding(s, R_NONSTANDARD_DATA_TERMINATOR, &s->sp.pkt, "end of data was %s", s->sp.term);
    spec_clear(s);
}

static void spec_append(struct sift_smtp *s, const uint8_t *data, size_t len,
                        const struct sift_pktref *pkt)
{
    struct spec *sp = &s->sp;
    if (!len || sp->kind == SP_NONE) return;
    if (sp->raw.len + len > HOLD_MAX) {   /* too long to keep: take the likelier reading */
        if (sp->kind == SP_LF) spec_confirm(s);
        else spec_clear(s);
        return;
    }
    if (sp->n_segs == 0 || !pkt_eq(&sp->segs[sp->n_segs - 1].pkt, pk(pkt))) {
        if (sp->n_segs == sp->segs_cap) {
            sp->segs_cap = sp->segs_cap ? sp->segs_cap * 2 : 4;
            sp->segs = sift_xrealloc(sp->segs, sp->segs_cap * sizeof *sp->segs);
        }
        sp->segs[sp->n_segs].off = sp->raw.len;
        sp->segs[sp->n_segs].pkt = *pk(pkt);
        sp->n_segs++;
    }
    sift_buf_append(&sp->raw, data, len);
}

/* Lines starting "MAIL FROM:" or "RCPT TO:" (any line ending) in n bytes. */
static unsigned smtp_like_lines(const uint8_t *p, size_t n)
{
    unsigned k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && p[i - 1] != '\n' && p[i - 1] != '\r') continue;
        size_t rest = n - i;
        if ((rest >= 10 && strncasecmp((const char *)p + i, "MAIL FROM:", 10) == 0) ||
            (rest >= 8 && strncasecmp((const char *)p + i, "RCPT TO:", 8) == 0))
            k++;
    }
    return k;
}

/* The candidate was not an end (the server answered only after a later one): the bytes
 * after it are content. smuggling_attempt if they look like SMTP commands. */
static void spec_smuggle_check(struct sift_smtp *s, const uint8_t *p, size_t n)
{
    unsigned k = smtp_like_lines(p, n);
    if (k)
        finding(s, R_SMUGGLING_ATTEMPT, &s->sp.pkt,
                "%s inside the content (the server did not end the data there) followed by %u "
                "MAIL/RCPT command line%s", s->sp.term, k, k == 1 ? "" : "s");
}

/* Feed recorded bytes again as client bytes (their packets kept). Takes ownership. */
static void feed_again(struct sift_smtp *s, uint8_t *data, size_t n, struct hold_seg *segs,
                       size_t n_segs)
{
    for (size_t i = 0; i < n_segs; i++) {
        size_t end = i + 1 < n_segs ? segs[i + 1].off : n;
        if (end > segs[i].off) client_bytes(s, data + segs[i].off, end - segs[i].off, &segs[i].pkt);
    }
    free(segs);
    free(data);
}

/* The replies do not fit the commands read after an SP_LF candidate: the server did not
 * end the data there. Undo those commands (none was emitted: no reply matched them) and
 * their transactions, and read everything after the candidate again as content. */
static void spec_rollback(struct sift_smtp *s)
{
    struct spec *sp = &s->sp;
    struct otxn *ot = sp->ot;
    while (s->q_len && q_at(s, s->q_len - 1)->seq >= sp->seq0) {
        struct pcmd *pc = q_at(s, s->q_len - 1);
        if (pc->ot && pc->ot->refs) pc->ot->refs--;
        if (pc->prev_ot && pc->prev_ot->refs) pc->prev_ot->refs--;
        pcmd_free(pc);
        s->q_len--;
    }
    s->content_ot = NULL;   /* only a speculative transaction can be the target now */
    s->cur = NULL;
    while (s->tx_len && s->tx[s->tx_len - 1] != ot && s->tx[s->tx_len - 1]->t->index >= sp->txn0) {
        s->tx_len--;
        sift_smtp_txn_free(s->tx[s->tx_len]->t);
        free(s->tx[s->tx_len]);
    }
    if (s->auth.active && s->auth.seq >= sp->seq0) auth_clear(&s->auth);
    s->next_seq = sp->seq0;
    s->next_txn = sp->txn0;
    s->info.n_commands = sp->ncmd0;
    s->info.n_txns = sp->ntxn0;
    s->info.quit_seen = sp->quit0;
    s->after_close = 0;
    s->bdat_left = 0;
    /* everything after the candidate: recorded bytes, then those still held */
    struct sift_buf all = { 0 };
    struct hold_seg *segs = sp->segs;
    size_t n_segs = sp->n_segs, cap = sp->segs_cap;
    sift_buf_append(&all, sp->raw.data ? sp->raw.data : (const uint8_t *)"", sp->raw.len);
    for (size_t i = 0; i < s->n_segs; i++) {
        if (n_segs == cap) {
            cap = cap ? cap * 2 : 4;
            segs = sift_xrealloc(segs, cap * sizeof *segs);
        }
        segs[n_segs].off = sp->raw.len + s->segs[i].off;
        segs[n_segs++].pkt = s->segs[i].pkt;
    }
    sift_buf_append(&all, s->hold.data ? s->hold.data : (const uint8_t *)"", s->hold.len);
    sift_buf_reset(&s->hold);
    s->n_segs = 0;
    sift_linebuf_free(&s->lb[SIFT_DIR_C2S]);
    sift_linebuf_init(&s->lb[SIFT_DIR_C2S], s->lim.max_line);
    /* the candidate's dot line is content; the content goes on */
    struct sift_smtp_txn *t = ot->t;
    free(t->terminator);
    t->terminator = NULL;
    content_put(s, ot, sp->dotline, sp->dotline_len, &sp->pkt);
    ot->lf_dots_content = 1;
    ot->closed = 0;
    ot->reason = RS_OPEN;
    content_target(s, ot);
    set_state(s, ST_CONTENT);
    s->prev_eol_crlf = sp->dotline_len == 3;
    spec_smuggle_check(s, all.data, all.len);
    size_t n;
    uint8_t *data = sift_buf_steal(&all, &n);
    sp->segs = NULL;
    spec_clear(s);                 /* drops the candidate's reference; ot is the target now */
    feed_again(s, data, n, segs, n_segs);
}

/* A reply while an SP_LF candidate waits for its verdict (the DATA's final reply came):
 * does it fit the commands read after the candidate? */
static void spec_check_reply(struct sift_smtp *s, int code)
{
    if (s->sp.kind != SP_LF || !s->sp.r1_seen) return;
    if (s->state == ST_TLS || s->state == ST_CLOSED || s->state == ST_GAP) { spec_confirm(s); return; }
    struct pcmd *h = s->q_len ? q_at(s, 0) : NULL;
    if (h && h->seq < s->sp.seq0) return;    /* still answering earlier commands */
    int fits = h && !((code == 221 && h->kind != K_QUIT) || (code == 354 && h->kind != K_DATA) ||
                      ((code == 334 || code == 235) && h->kind != K_AUTH));
    if (fits || (!h && s->sp.raw.len == 0 && s->hold.len == 0)) spec_confirm(s);
    else spec_rollback(s);
}

/* Does the client, after the SP_LF candidate, send a canonical end of data? If not, the
 * server's final reply can only have come for the candidate. */
static int spec_later_end(const struct sift_smtp *s)
{
    const struct sift_buf *b[2] = { &s->sp.raw, &s->hold };
    struct sift_buf all = { 0 };
    for (int k = 0; k < 2; k++)
        if (b[k]->len) sift_buf_append(&all, b[k]->data, b[k]->len);
    int found = 0;
    static const uint8_t canon[] = "\r\n.\r\n";
    if (s->sp.dotline_len == 3 && all.len >= 3 && memcmp(all.data, ".\r\n", 3) == 0) found = 1;
    for (size_t i = 0; !found && i + 5 <= all.len; i++)
        if (memcmp(all.data + i, canon, 5) == 0) found = 1;
    sift_buf_free(&all);
    return found;
}

static void end_content_line(struct sift_smtp *s, int crlf, const struct sift_pktref *pkt)
{
    if (!crlf) {
        if (s->bare_lf[SIFT_DIR_C2S]++ == 0) s->bare_lf_pkt[SIFT_DIR_C2S] = *pk(pkt);
    }
    if (s->cur_line_len - (crlf ? 2 : 1) > RFC_TEXT_LINE && !s->long_flagged[2]) {
        s->long_flagged[2] = 1;
        finding(s, R_LINE_TOO_LONG, pkt, "text line of %llu bytes (limit 1000 with CRLF)",
                (unsigned long long)s->cur_line_len);
    }
    s->prev_eol_crlf = crlf;
    s->cur_line_len = 0;
}

/* The end-of-data line was seen; cr says whether the dot line ended in CRLF. Returns 1
 * when it was non-canonical and became the SP_LF candidate (bytes after it are recorded). */
static int content_terminated(struct sift_smtp *s, int cr, const struct sift_pktref *pkt)
{
    struct otxn *ot = s->content_ot;
    char term[16];
    snprintf(term, sizeof term, "%s.%s", s->prev_eol_crlf ? "\\r\\n" : "\\n", cr ? "\\r\\n" : "\\n");
    int started = 0;
    if ((!s->prev_eol_crlf || !cr) && s->sp.kind == SP_NONE && ot && ot->t && !ot->t->truncated) {
        /* a candidate: the replies will say (struct spec) */
        struct spec *sp = &s->sp;
        sp->kind = SP_LF;
        sp->ot = ot;
        ot->refs++;
        snprintf(sp->term, sizeof sp->term, "%s", term);
        memcpy(sp->dotline, cr ? ".\r\n" : ".\n", cr ? 3 : 2);
        sp->dotline_len = cr ? 3 : 2;
        sp->prev_crlf = s->prev_eol_crlf;
        sp->pkt = *pk(pkt);
        sp->seq0 = s->next_seq;
        sp->txn0 = s->next_txn;
        sp->ncmd0 = s->info.n_commands;
        sp->ntxn0 = s->info.n_txns;
        sp->quit0 = s->info.quit_seen;
        started = 1;
    } else if (!s->prev_eol_crlf || !cr) {
        finding(s, R_NONSTANDARD_DATA_TERMINATOR, pkt, "end of data was %s", term);
    }
    if (!cr && s->bare_lf[SIFT_DIR_C2S]++ == 0) s->bare_lf_pkt[SIFT_DIR_C2S] = *pk(pkt);
    if (ot && ot->t) {
        free(ot->t->terminator);
        ot->t->terminator = sift_xstrdup(term);
    }
    set_state(s, ST_COMMAND);
    txn_close(s, ot, RS_DONE);
    content_target(s, NULL);
    return started;
}

/* "\r.\r" inside content (a CR that is not part of CRLF, a dot, a CR): the SP_CR
 * candidate. Scans p[0..n) which ends at content offset end_len; returns the index in p
 * of the second CR, or SIZE_MAX. */
static size_t cr_dot_scan(struct sift_smtp *s, const uint8_t *p, size_t n)
{
    size_t j = 0;
    for (;;) {
        /* the state machine runs only from a CR on: the bytes between are skipped with memchr */
        while (j < n && s->cr_scan) {
            uint8_t c = p[j];
            if (s->cr_scan == 1) {
                s->cr_scan = c == '.' ? 2 : c == '\r' ? 1 : 0;
            } else {
                s->cr_scan = 0;
                if (c == '\r') return j;
            }
            j++;
        }
        if (j >= n) return SIZE_MAX;
        const uint8_t *cr = memchr(p + j, '\r', n - j);
        if (!cr) return SIZE_MAX;
        j = (size_t)(cr - p) + 1;
        s->cr_scan = 1;
    }
}

/* Un-stuff content bytes (streaming, any split); returns bytes consumed, which is
 * less than len only when the terminator was reached. */
static size_t content_bytes(struct sift_smtp *s, const uint8_t *data, size_t len,
                            const struct sift_pktref *pkt)
{
    struct otxn *ot = s->content_ot;
    content_touch(ot, pkt);
    int lf_dots = ot && ot->lf_dots_content;
    size_t i = 0, rec_from = SIZE_MAX, done = len;
    while (i < len) {
        switch (s->cs) {
        case CS_BOL:
            if (data[i] == '.') { s->cs = CS_DOT; s->cur_line_len = 1; i++; }
            else { s->cs = CS_INLINE; s->cur_line_len = 0; }
            break;
        case CS_DOT:
            if (data[i] == '\n' && lf_dots) {   /* not an end for this server: content */
                content_put(s, ot, (const uint8_t *)".\n", 2, pkt);
                end_content_line(s, 0, pkt);
                s->prev_byte = '\n';
                s->cs = CS_BOL;
                i++;
                break;
            }
            if (data[i] == '\n') {
                if (content_terminated(s, 0, pkt)) rec_from = i + 1;
                done = i + 1;
                goto out;
            }
            if (data[i] == '\r') { s->cs = CS_DOTCR; s->cur_line_len++; i++; break; }
            s->cs = CS_INLINE;           /* the stuffed dot is dropped */
            s->prev_byte = '.';
            break;
        case CS_DOTCR:
            if (data[i] == '\n' && lf_dots && !s->prev_eol_crlf) {
                content_put(s, ot, (const uint8_t *)".\r\n", 3, pkt);
                end_content_line(s, 1, pkt);
                s->prev_byte = '\n';
                s->cs = CS_BOL;
                i++;
                break;
            }
            if (data[i] == '\n') {
                if (content_terminated(s, 1, pkt)) rec_from = i + 1;
                done = i + 1;
                goto out;
            }
            content_put(s, ot, (const uint8_t *)"\r", 1, pkt);   /* ".\rX": CR is content */
            s->prev_byte = '\r';
            s->cr_scan = 1;
            s->cs = CS_INLINE;
            break;
        case CS_INLINE: {
            const uint8_t *nl = memchr(data + i, '\n', len - i);
            size_t end = nl ? (size_t)(nl - data) + 1 : len;
            content_put(s, ot, data + i, end - i, pkt);
            if (s->sp.kind == SP_NONE && ot && ot->t && !ot->t->truncated) {
                size_t j = cr_dot_scan(s, data + i, end - i);
                if (j != SIZE_MAX) {
                    struct spec *sp = &s->sp;
                    sp->kind = SP_CR;
                    sp->ot = ot;
                    ot->refs++;
                    /* the cut keeps the first CR, drops the dot onwards */
                    sp->content_len = sift_smtp_content_len(ot->t) - (end - i - j) - 1;
                    snprintf(sp->term, sizeof sp->term, "\\r.\\r");
                    sp->pkt = *pk(pkt);
                    rec_from = i + j + 1;
                }
            } else {
                s->cr_scan = 0;
            }
            s->cur_line_len += end - i;
            if (nl) {
                int crlf = end - i >= 2 ? data[end - 2] == '\r' : s->prev_byte == '\r';
                end_content_line(s, crlf, pkt);
                s->cs = CS_BOL;
                s->cr_scan = 0;
            }
            s->prev_byte = data[end - 1];
            i = end;
            break;
        }
        }
    }
out:
    if (rec_from < done) spec_append(s, data + rec_from, done - rec_from, pkt);
    return done;
}

/* ---------- command parsing ---------- */

static const struct { const char *verb; enum kind kind; } verbs[] = {
    { "HELO", K_HELO }, { "EHLO", K_EHLO }, { "LHLO", K_EHLO }, { "MAIL", K_MAIL },
    { "RCPT", K_RCPT }, { "DATA", K_DATA }, { "BDAT", K_BDAT }, { "RSET", K_RSET },
    { "QUIT", K_QUIT }, { "STARTTLS", K_STARTTLS }, { "AUTH", K_AUTH },
    { "NOOP", K_OTHER }, { "VRFY", K_OTHER }, { "EXPN", K_OTHER }, { "HELP", K_OTHER },
    { "ETRN", K_OTHER }, { "TURN", K_OTHER }, { "ATRN", K_OTHER }, { "XCLIENT", K_XCLIENT },
    { "XFORWARD", K_XCLIENT }, { "SEND", K_OTHER }, { "SOML", K_OTHER }, { "SAML", K_OTHER },
};

/* Split "<path> params" (after "FROM:"/"TO:"): address without <> and source route,
 * params after it. Returns findings through s. Both outputs are malloc'd. */
static void parse_path(struct sift_smtp *s, const char *raw, int is_mail, char **addr,
                       char **params, const struct sift_pktref *pkt)
{
    const char *p = raw, *a, *ae, *rest;
    if (*p == ' ') {
        finding(s, is_mail ? R_MAIL_FROM_SPACE : R_RCPT_TO_SPACE, pkt,
                "space after the colon in %s", is_mail ? "MAIL FROM:" : "RCPT TO:");
        while (*p == ' ') p++;
    }
    if (*p == '<') {
        const char *q = p + 1;
        int inq = 0;
        while (*q && (inq || *q != '>')) {
            if (*q == '"') inq = !inq;
            else if (*q == '\\' && q[1]) q++;
            q++;
        }
        a = p + 1;
        if (*q == '>') { ae = q; rest = q + 1; }
        else {
            finding(s, R_PATH_MALFORMED, pkt, "no closing > in path");
            ae = a + strcspn(a, " ");
            rest = ae;
        }
    } else {
        finding(s, R_PATH_WITHOUT_BRACKETS, pkt, "%s path without <>", is_mail ? "MAIL" : "RCPT");
        a = p;
        ae = a + strcspn(a, " ");
        rest = ae;
    }
    if (a < ae && *a == '@') {
        const char *colon = memchr(a, ':', (size_t)(ae - a));
        if (colon) {
            finding(s, R_SOURCE_ROUTE, pkt, "source route in path");
            a = colon + 1;
        }
    }
    while (*rest == ' ') rest++;
    *addr = sift_xstrndup(a, (size_t)(ae - a));
    *params = sift_xstrdup(rest);
}

/* "FROM:"/"TO:" keyword; returns what follows the colon (tolerating odd spacing). */
static const char *after_keyword(struct sift_smtp *s, const char *args, const char *kw,
                                 const struct sift_pktref *pkt)
{
    size_t kl = strlen(kw);
    if (sift_strcaseprefix(args, kw) && args[kl] == ':') return args + kl + 1;
    finding(s, R_MAIL_SYNTAX, pkt, "expected %s: in \"%.60s\"", kw, args);
    if (sift_strcaseprefix(args, kw)) {
        const char *p = args + kl;
        while (*p == ' ') p++;
        if (*p == ':') p++;
        return p;
    }
    return args;
}

static void add_rcpt(struct sift_smtp *s, struct otxn *ot, struct pcmd *pc,
                     const struct sift_pktref *pkt)
{
    struct sift_smtp_txn *t = ot->t;
    const char *raw = after_keyword(s, pc->args, "TO", pkt);
    char *addr, *params;
    parse_path(s, raw, 0, &addr, &params, pkt);
    if (t->n_rcpts >= s->lim.max_rcpts) {
        t->rcpts_dropped++;
        if (!ot->rcpts_flagged) {
            ot->rcpts_flagged = 1;
            finding(s, R_TOO_MANY_RECIPIENTS, pkt, "more than %zu recipients in transaction %u",
                    s->lim.max_rcpts, (unsigned)t->index);
        }
        free(addr);
        free(params);
        return;
    }
    /* capacity is implicit: 4, then doubled each time n_rcpts reaches a power of two */
    if (t->n_rcpts == 0 || (t->n_rcpts >= 4 && (t->n_rcpts & (t->n_rcpts - 1)) == 0))
        t->rcpts = sift_xrealloc(t->rcpts, (t->n_rcpts ? t->n_rcpts * 2 : 4) * sizeof *t->rcpts);
    struct sift_smtp_rcpt *r = &t->rcpts[t->n_rcpts];
    memset(r, 0, sizeof *r);
    r->address = addr;
    r->params = params;
    r->raw = sift_xstrdup(raw);
    r->pkt = *pk(pkt);
    pc->rcpt_idx = t->n_rcpts++;
}

/* Parse "BDAT size [LAST]"; 0 if malformed. */
static int parse_bdat(const char *args, uint64_t *size, int *last)
{
    const char *p = args;
    if (!isdigit((unsigned char)*p)) return 0;
    uint64_t v = 0;
    for (; isdigit((unsigned char)*p); p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    while (*p == ' ') p++;
    *last = 0;
    if (sift_strcaseprefix(p, "LAST")) {
        *last = 1;
        p += 4;
        while (*p == ' ') p++;
    }
    if (*p) return 0;
    *size = v;
    return 1;
}

/* A complete line from the client in ST_COMMAND: queue it as a command and apply what
 * it does to the session optimistically (the reply may correct it). */
static void client_command(struct sift_smtp *s, const struct sift_line *ln,
                           const struct sift_pktref *pkt)
{
    if (s->info.quit_seen && !s->quit_flagged) {
        s->quit_flagged = 1;
        finding(s, R_DATA_AFTER_QUIT, pkt, "client sent a command after QUIT");
    } else if (s->server_closing && !s->info.quit_seen && !s->after_close) {
        /* The server said it was closing (221/521 without a QUIT): nothing after it
         * was read by the server. Reported at close, if the closing reply still
         * stands then (a smuggling re-read may re-match it to a QUIT). */
        s->after_close = 1;
        s->after_close_pkt = *pk(pkt);
    }
    if (ln->full_len > RFC_CMD_LINE && !s->long_flagged[0]) {
        s->long_flagged[0] = 1;
        finding(s, R_LINE_TOO_LONG, pkt, "command line of %llu bytes (limit 512 with CRLF)",
                (unsigned long long)ln->full_len);
    }
    if (ln->overlong)
        finding(s, R_LINE_CUT, pkt, "command line of %llu bytes cut to %zu",
                (unsigned long long)ln->full_len, ln->len);

    /* pipelining: a command while a real command still waits for its reply */
    int waiting = s->q_len > 1 || (s->q_len == 1 && q_at(s, 0)->kind != K_GREETING);
    if (waiting) {
        s->info.pipelining_used = 1;
        if (!s->info.pipelining_offered && !s->pipelining_flagged) {
            s->pipelining_flagged = 1;
            finding(s, R_PIPELINING_NOT_OFFERED, pkt, "client pipelined without PIPELINING");
        }
    }

    struct pcmd *pc = q_push(s, pkt);
    size_t vlen = 0;
    while (vlen < ln->len && ln->data[vlen] != ' ') vlen++;
    size_t a = vlen;
    while (a < ln->len && ln->data[a] == ' ') a++;
    pc->verb = sift_xmemdup(ln->data, vlen);
    for (char *v = pc->verb; *v; v++) *v = (char)toupper((unsigned char)*v);
    pc->args = sift_xmemdup(ln->data + a, ln->len - a);
    pc->line = sift_xmemdup(ln->data, ln->len);
    pc->line_len = ln->len;
    pc->pkt = *pk(pkt);
    pc->kind = K_UNKNOWN;
    for (size_t i = 0; i < SIFT_ARRAY_LEN(verbs); i++)
        if (strcmp(pc->verb, verbs[i].verb) == 0) { pc->kind = verbs[i].kind; break; }
    s->info.n_commands++;

    switch (pc->kind) {
    case K_HELO:
    case K_EHLO:
        /* Recorded now only if nothing better is known; a 2xx reply confirms it, and
         * only a 2xx reply resets the open transaction (a refused EHLO keeps it). */
        if (!s->info.helo_verb) {
            s->info.helo_verb = sift_xstrdup(pc->verb);
            s->info.helo_name = sift_xstrdup(pc->args);
        }
        if (s->cur) {
            pc->prev_ot = s->cur;
            pc->prev_ot->refs++;
        }
        break;
    case K_MAIL: {
        /* A MAIL inside an open transaction: the server decides. 2xx ends the old one
         * (nested_mail), a refusal keeps it open (see merge_refused_mail). */
        struct otxn *prev = s->cur;
        struct otxn *ot = txn_new(s, pkt);
        if (prev) {
            pc->prev_ot = prev;
            prev->refs++;
        }
        struct sift_smtp_txn *t = ot->t;
        const char *raw = after_keyword(s, pc->args, "FROM", pkt);
        t->mail_from_raw = sift_xstrdup(raw);
        parse_path(s, raw, 1, &t->mail_from, &t->mail_params, pkt);
        if (s->info.starttls_offered && !s->starttls_tried && !s->starttls_not_used_flagged) {
            s->starttls_not_used_flagged = 1;
            finding(s, R_STARTTLS_NOT_USED, pkt, "server offered STARTTLS; client sent MAIL in clear text");
        }
        if (has_8bit(ln->data, ln->len) && !param_get(t->mail_params, "SMTPUTF8", NULL) && !s->utf8_flagged) {
            s->utf8_flagged = 1;
            finding(s, R_UTF8_WITHOUT_SMTPUTF8, pkt, "8-bit bytes in MAIL FROM without SMTPUTF8");
        }
        s->cur = ot;
        pc->ot = ot;
        ot->refs++;
        break;
    }
    case K_RCPT:
        if (s->cur) {
            pc->ot = s->cur;
            pc->ot->refs++;
            add_rcpt(s, pc->ot, pc, pkt);
            if (has_8bit(ln->data, ln->len) && !s->utf8_flagged &&
                !param_get(s->cur->t->mail_params, "SMTPUTF8", NULL)) {
                s->utf8_flagged = 1;
                finding(s, R_UTF8_WITHOUT_SMTPUTF8, pkt, "8-bit bytes in RCPT TO without SMTPUTF8 on MAIL");
            }
        }
        break;
    case K_DATA:
        if (s->cur) {
            pc->ot = s->cur;
            pc->ot->refs++;
            if (param_is(s->cur->t->mail_params, "BODY", "BINARYMIME"))
                finding(s, R_BINARYMIME_WITH_DATA, pkt,
                        "BODY=BINARYMIME transaction sent with DATA (RFC 3030 requires BDAT)");
        }
        s->data_line_crlf = ln->eol == SIFT_EOL_CRLF;
        enter_hold(s, pc);
        break;
    case K_BDAT: {
        uint64_t size;
        int last;
        if (!parse_bdat(pc->args, &size, &last)) {
            finding(s, R_BDAT_BAD_SIZE, pkt, "BDAT with a bad size: \"%.60s\"", pc->args);
            break;
        }
        if (!s->cur) {
            finding(s, R_DATA_WITHOUT_MAIL, pkt, "BDAT without a MAIL command");
            s->cur = txn_new(s, pkt);
        }
        pc->ot = s->cur;
        pc->ot->refs++;
        pc->bdat_last = last;
        pc->ot->t->has_content = 1;
        content_touch(pc->ot, pkt);
        content_target(s, pc->ot);
        s->bdat_left = size;
        if (last) txn_close(s, pc->ot, RS_DONE);
        if (size) set_state(s, ST_BDAT);
        break;
    }
    case K_RSET:
        txn_close(s, s->cur, RS_RSET);
        break;
    case K_QUIT:
        s->info.quit_seen = 1;
        txn_close(s, s->cur, RS_QUIT);
        break;
    case K_STARTTLS:
        s->starttls_tried = 1;
        enter_hold(s, pc);
        break;
    case K_AUTH:
        auth_begin(s, pc, pkt);
        enter_hold(s, pc);
        break;
    case K_UNKNOWN: {
        char v[80];
        escape_short(ln->data, vlen < 40 ? vlen : 40, v, sizeof v);
        if (vlen) finding(s, R_UNKNOWN_COMMAND, pkt, "unknown command \"%s\"", v);
        else finding(s, R_UNKNOWN_COMMAND, pkt, "empty command line");
        break;
    }
    default:
        break;
    }
}

/* A client line outside content: counts line-ending oddities, then SASL or command. */
static void client_line(struct sift_smtp *s, const struct sift_line *ln,
                        const struct sift_pktref *pkt)
{
    if (ln->eol == SIFT_EOL_LF && s->bare_lf[SIFT_DIR_C2S]++ == 0)
        s->bare_lf_pkt[SIFT_DIR_C2S] = *pk(pkt);
    if (memchr(ln->data, '\r', ln->len) && s->bare_cr[SIFT_DIR_C2S]++ == 0)
        s->bare_cr_pkt[SIFT_DIR_C2S] = *pk(pkt);
    if (s->state == ST_SASL) {
        /* A SASL response (base64 or "*"): never a command; wait for the next reply. */
        auth_response(s, ln->data, ln->len, 0, pkt);
        set_state(s, ST_HOLD);
        return;
    }
    client_command(s, ln, pkt);
}

/* Dispatch client bytes according to the state; states may change mid-chunk. */
static void client_bytes(struct sift_smtp *s, const uint8_t *data, size_t len,
                         const struct sift_pktref *pkt)
{
    while (len) {
        size_t n;
        int recording = s->sp.kind != SP_NONE;   /* bytes after a candidate end of data */
        switch (s->state) {
        case ST_COMMAND:
        case ST_SASL: {
            struct sift_line ln;
            n = sift_linebuf_take(&s->lb[SIFT_DIR_C2S], data, len, &ln);
            if (ln.data) client_line(s, &ln, pkt);
            break;
        }
        case ST_HOLD:
            hold_append(s, data, len, pkt);
            return;
        case ST_CONTENT:
            n = content_bytes(s, data, len, pkt);
            break;
        case ST_BDAT:
            n = len < s->bdat_left ? len : (size_t)s->bdat_left;
            if (s->content_ot && !s->content_ot->final_seen) {
                content_touch(s->content_ot, pkt);
                content_put(s, s->content_ot, data, n, pkt);
            }
            s->bdat_left -= n;
            if (s->bdat_left == 0) {
                set_state(s, ST_COMMAND);
                content_target(s, NULL);
            }
            break;
        case ST_TLS:
            tls_feed(s, data, len);
            return;
        case ST_GAP:
        case ST_CLOSED:
        default:
            return;
        }
        if (recording && s->sp.kind != SP_NONE) spec_append(s, data, n, pkt);
        data += n;
        len -= n;
    }
}

/* ---------- replies ---------- */

static void reply_reset(struct reply *r)
{
    r->active = 0;
    r->first_code = r->code = r->mismatch = 0;
    r->lines = 0;
    r->enhanced[0] = '\0';
    r->too_large = 0;
    sift_buf_reset(&r->text);
}

/* RFC 3463 "c.sss.ddd" at the start of text, followed by space or end. */
static void parse_enhanced(const char *text, char out[16])
{
    const char *p = text;
    out[0] = '\0';
    if (*p != '2' && *p != '4' && *p != '5') return;
    p++;
    for (int part = 0; part < 2; part++) {
        if (*p++ != '.') return;
        int d = 0;
        while (isdigit((unsigned char)*p) && d < 4) { p++; d++; }
        if (d < 1 || d > 3) return;
    }
    if (*p && *p != ' ') return;
    size_t n = (size_t)(p - text);
    memcpy(out, text, n);
    out[n] = '\0';
}

/* Token after position p: up to whitespace or ",;)", trailing '.' removed; NULL if empty. */
static char *id_token(const char *p)
{
    while (*p == ' ' || *p == '\t') p++;
    size_t n = strcspn(p, " \t\n\r,;)");
    while (n && p[n - 1] == '.') n--;
    return n ? sift_xstrndup(p, n) : NULL;
}

/* Queue id from a 2xx reply to end of data: Postfix "queued as X", Exim "id=X",
 * Sendmail "X Message accepted for delivery". NULL if none recognised. */
static char *parse_queue_id(const char *text)
{
    const char *p = strcasestr(text, "queued as ");
    if (p) return id_token(p + 10);
    for (p = text; (p = strcasestr(p, "id=")) != NULL; p += 3)
        if (p == text || p[-1] == ' ') return id_token(p + 3);
    p = strcasestr(text, " Message accepted for delivery");
    if (p) {
        const char *b = p;
        while (b > text && b[-1] != ' ' && b[-1] != '\n') b--;
        if (b < p) {
            char *tok = sift_xstrndup(b, (size_t)(p - b));
            char enh[16];
            parse_enhanced(tok, enh);
            if (!enh[0]) return tok;
            free(tok);
        }
    }
    return NULL;
}

static void set_extensions(struct sift_smtp *s, const char *text)
{
    for (size_t i = 0; i < s->info.n_extensions; i++) free(s->info.extensions[i]);
    free(s->info.extensions);
    s->info.extensions = NULL;
    s->info.n_extensions = 0;
    s->info.pipelining_offered = 0;
    s->info.starttls_offered = 0;
    s->size_limit = 0;
    const char *nl = strchr(text, '\n');
    size_t cap = 0;
    while (nl) {
        const char *line = nl + 1;
        nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (s->info.n_extensions == cap) {
            cap = cap ? cap * 2 : 8;
            s->info.extensions = sift_xrealloc(s->info.extensions, cap * sizeof(char *));
        }
        char *e = sift_xstrndup(line, n);
        s->info.extensions[s->info.n_extensions++] = e;
        if (sift_strcaseprefix(e, "PIPELINING") && (e[10] == '\0' || e[10] == ' '))
            s->info.pipelining_offered = 1;
        if (sift_strcaseprefix(e, "STARTTLS") && (e[8] == '\0' || e[8] == ' '))
            s->info.starttls_offered = 1;
        if (sift_strcaseprefix(e, "SIZE ") && isdigit((unsigned char)e[5]))
            s->size_limit = strtoull(e + 5, NULL, 10);
    }
}

/* 421: the server closes. Everything pending is unanswered; nothing more is parsed. */
static void session_closing(struct sift_smtp *s)
{
    if (s->content_ot && s->content_ot->t && (s->state == ST_CONTENT || s->state == ST_BDAT))
        s->content_ot->t->truncated = 1;
    content_target(s, NULL);
    q_flush_all(s);
    txn_close(s, s->cur, RS_CLOSE);
    set_state(s, ST_CLOSED);
}

/* Record reply fields into a txn string slot. */
static void set_text(char **slot, const struct reply *r)
{
    free(*slot);
    *slot = sift_xstrdup(r->text.data ? (const char *)r->text.data : "");
}

/* A MAIL sent inside open transaction a was refused: it never started a transaction,
 * so b (created optimistically) is folded back into a. The RCPT/DATA/BDAT commands
 * pipelined behind it belong to a, as the server saw them. b is freed unemitted; the
 * refused MAIL stays visible in the commands with its reply. */
static void merge_refused_mail(struct sift_smtp *s, struct otxn *a, struct otxn *b)
{
    struct sift_smtp_txn *ta = a->t, *tb = b->t;
    size_t base = ta->n_rcpts;
    for (size_t i = 0; i < tb->n_rcpts; i++) {
        if (ta->n_rcpts >= s->lim.max_rcpts) {
            ta->rcpts_dropped++;
            free(tb->rcpts[i].address);
            free(tb->rcpts[i].raw);
            free(tb->rcpts[i].params);
            free(tb->rcpts[i].reply_text);
            continue;
        }
        if (ta->n_rcpts == 0 || (ta->n_rcpts >= 4 && (ta->n_rcpts & (ta->n_rcpts - 1)) == 0))
            ta->rcpts = sift_xrealloc(ta->rcpts, (ta->n_rcpts ? ta->n_rcpts * 2 : 4) * sizeof *ta->rcpts);
        ta->rcpts[ta->n_rcpts++] = tb->rcpts[i];
    }
    ta->rcpts_dropped += tb->rcpts_dropped;
    tb->n_rcpts = 0;
    for (size_t i = 0; i < s->q_len; i++) {
        struct pcmd *q = q_at(s, i);
        if (q->prev_ot == b) {
            q->prev_ot = a;
            a->refs++;
            b->refs--;
        }
        if (q->ot == b) {
            q->ot = a;
            a->refs++;
            b->refs--;
            if (q->rcpt_idx != SIZE_MAX) {
                q->rcpt_idx += base;
                if (q->rcpt_idx >= ta->n_rcpts) q->rcpt_idx = SIZE_MAX;
            }
        }
    }
    for (size_t i = 0; i < s->tx_len; i++)   /* first, so nothing below can emit b */
        if (s->tx[i] == b) {
            memmove(s->tx + i, s->tx + i + 1, (s->tx_len - i - 1) * sizeof *s->tx);
            s->tx_len--;
            break;
        }
    if (s->cur == b) s->cur = a;
    if (b->closed && !a->closed) {   /* e.g. BDAT LAST already closed it */
        a->closed = 1;
        a->reason = b->reason;
    }
    if (s->content_ot == b) content_target(s, a);
    if (tb->index + 1 == s->next_txn) s->next_txn--;
    if (s->info.n_txns) s->info.n_txns--;
    sift_smtp_txn_free(tb);
    free(b);
}

/* Server-only capture (NOTES-libs 5.10): a reply after the greeting with no client
 * byte ever seen. The commands are unknowable, so a skeleton is built from the replies:
 * a multi-line 2xx as the first reply after the greeting is the EHLO reply (its
 * extensions are kept); a 354 opens a transaction (no sender, no recipients, no
 * content) that the next final reply closes, accepted or rejected, with its queue id.
 * Every reply is still a command row with verb NULL. One client_side_missing finding. */
static void server_only_reply(struct sift_smtp *s, const struct sift_pktref *pkt)
{
    struct reply *r = &s->rep;
    int code = r->code;
    const char *text = r->text.data ? (const char *)r->text.data : "";
    if (!s->server_only) {
        s->server_only = 1;
        finding(s, R_CLIENT_SIDE_MISSING, pkt,
                "replies without any client bytes: the client side is not in the capture; "
                "session rebuilt from the server's replies");
    }
    s->so_replies++;
    struct pcmd orphan;
    memset(&orphan, 0, sizeof orphan);
    orphan.seq = s->next_seq++;
    if (s->so_replies == 1 && r->lines > 1 && code >= 200 && code < 300 && s->info.banner) {
        set_extensions(s, text);
        if (!s->info.helo_verb) s->info.helo_verb = sift_xstrdup("EHLO");
    }
    struct otxn *ot = s->so_ot;
    if (code == 354) {
        if (ot) txn_close(s, ot, RS_CLOSE);      /* a second 354 without a final reply */
        ot = s->so_ot = txn_new(s, pkt);
        ot->refs++;
        orphan.ot = ot;
        emit_cmd(s, &orphan, r, pkt);
        return;
    }
    if (ot && code >= 200 && code < 600) {
        struct sift_smtp_txn *t = ot->t;
        ot->final_seen = 1;
        t->data_reply_code = code;
        t->last_pkt = *pk(pkt);
        set_text(&t->data_reply_text, r);
        if (code < 300) t->queue_id = parse_queue_id(text);
        orphan.ot = ot;
        emit_cmd(s, &orphan, r, pkt);
        s->so_ot = NULL;
        txn_close(s, ot, RS_DONE);
        txn_unref(s, ot);
        return;
    }
    if (code == 221) s->info.quit_seen = 1;
    emit_cmd(s, &orphan, r, pkt);
}

/* Client bytes after all in a session taken as server-only: leave the skeleton mode. */
static void server_only_end(struct sift_smtp *s)
{
    struct otxn *ot = s->so_ot;
    s->server_only = 0;
    s->so_ot = NULL;
    if (ot) {
        txn_close(s, ot, RS_CLOSE);
        txn_unref(s, ot);
    }
}

/* A complete reply (final line seen, or flushed at close): match it to the oldest
 * pending command and apply its effect. */
static void complete_reply(struct sift_smtp *s, const struct sift_pktref *pkt)
{
    struct reply *r = &s->rep;
    int code = r->code;
    if (code < 200 || code > 559)
        finding(s, R_REPLY_CODE_INVALID, pkt, "reply code %03d outside 200-559", code);
    if (r->mismatch)
        finding(s, R_REPLY_CODE_MISMATCH, pkt, "multi-line reply mixes codes %03d and %03d",
                r->first_code, code);

    if (s->state == ST_GAP) {
        /* Resynchronise: what was pending can no longer be matched. */
        if (s->content_ot && s->content_ot->t) s->content_ot->t->truncated = 1;
        content_target(s, NULL);
        q_flush_all(s);
        txn_close(s, s->cur, RS_GAP);
        struct pcmd orphan;
        memset(&orphan, 0, sizeof orphan);
        orphan.seq = s->next_seq++;
        emit_cmd(s, &orphan, r, pkt);
        sift_linebuf_free(&s->lb[SIFT_DIR_C2S]);
        sift_linebuf_init(&s->lb[SIFT_DIR_C2S], s->lim.max_line);
        set_state(s, ST_COMMAND);
        if (code == 354) {
            struct pcmd *pc = q_push(s, pkt);       /* stands for the lost DATA */
            pc->kind = K_DATA;
            pc->verb = sift_xstrdup("DATA");
            pc->args = sift_xstrdup("");
            pc->line = sift_xmemdup("", 0);     /* no line was seen */
            pc->pkt = *pk(pkt);
            pc->inter_code = 354;
            pc->inter_n = 1;
            s->data_line_crlf = 1;
            start_content(s, pc, pkt);
        }
        reply_reset(r);
        return;
    }

    spec_check_reply(s, code);
    /* Closing replies: 421/521 always, 221 unless it answers a QUIT (the normal end).
     * Decided after a smuggling candidate was settled, against the real command. */
    s->server_closing = code == 421 || code == 521 ||
                        (code == 221 && (s->q_len == 0 || q_at(s, 0)->kind != K_QUIT));

    /* Mid-stream start: the greeting is missing, this reply is for a real command. */
    if (s->q_len > 1 && q_at(s, 0)->kind == K_GREETING && code != 220 && code != 421 && code != 554) {
        struct pcmd g;
        q_pop(s, &g);
        pcmd_free(&g);
    }

    /* Some codes answer one command only (354 DATA, 334/235 AUTH, 221 QUIT). If such a
     * reply arrives while another command heads the queue and the right one waits
     * behind it, the replies in between were lost or merged (an unterminated line):
     * the commands before it are emitted unanswered and matching goes on in step. */
    enum kind only = code == 354 ? K_DATA : (code == 334 || code == 235) ? K_AUTH
                   : code == 221 ? K_QUIT : K_UNKNOWN;
    if (only != K_UNKNOWN && s->q_len > 1 && q_at(s, 0)->kind != only &&
        !((s->state == ST_HOLD || s->state == ST_SASL) && s->hold_seq == q_at(s, 0)->seq)) {
        size_t k = 1;
        while (k < s->q_len && q_at(s, k)->kind != only) k++;
        if (k < s->q_len) {
            finding(s, R_REPLY_RESYNC, pkt, "reply %03d belongs to a later %s: %zu command%s left unanswered",
                    code, q_at(s, k)->verb ? q_at(s, k)->verb : "command", k, k == 1 ? "" : "s");
            while (k--) q_drop_oldest(s);
        }
    }

    if (s->q_len == 0 && !s->client_spoke && code != 421) {
        server_only_reply(s, pkt);
        reply_reset(r);
        return;
    }

    if (s->q_len == 0) {
        struct pcmd orphan;
        memset(&orphan, 0, sizeof orphan);
        orphan.seq = s->next_seq++;
        if (code == 421) finding(s, R_UNSOLICITED_421, pkt, "server closing without a command pending");
        else finding(s, R_REPLY_WITHOUT_COMMAND, pkt, "reply %03d matches no command", code);
        emit_cmd(s, &orphan, r, pkt);
        if (code == 421) session_closing(s);
        reply_reset(r);
        return;
    }

    struct pcmd *h = q_at(s, 0);
    int is_hold_target = (s->state == ST_HOLD || s->state == ST_SASL) && s->hold_seq == h->seq;

    /* Intermediate replies: the command stays pending. */
    if ((h->kind == K_DATA && code == 354) || (h->kind == K_AUTH && code == 334)) {
        h->inter_code = code;
        h->inter_n++;
        if (is_hold_target) {
            if (h->kind == K_DATA) {
                if (s->hold.len)
                    finding(s, R_CONTENT_BEFORE_354, pkt, "%zu content bytes sent before 354",
                            s->hold.len);
                start_content(s, h, pkt);
            } else {
                auth_challenge(s, r->text.data ? (const char *)r->text.data : "");
                set_state(s, ST_SASL);
            }
            reply_reset(r);
            replay_hold(s);
        } else {
            reply_reset(r);
        }
        return;
    }

    struct pcmd pc;
    q_pop(s, &pc);
    struct otxn *ot = pc.ot;
    struct sift_smtp_txn *t = ot ? ot->t : NULL;
    const char *text = r->text.data ? (const char *)r->text.data : "";
    enum state next = s->state;
    int replay = 0, tls = 0, data_final = 0, cr_cut = 0;
    if (t) t->last_pkt = *pk(pkt);

    switch (pc.kind) {
    case K_GREETING:
        free(s->info.banner);
        s->info.banner = sift_xstrdup(text);
        s->info.banner_code = code;
        break;
    case K_EHLO:
        if (code >= 200 && code < 300) set_extensions(s, text);
        /* fall through */
    case K_HELO:
        if (code >= 200 && code < 300) {
            free(s->info.helo_verb);
            free(s->info.helo_name);
            s->info.helo_verb = sift_xstrdup(pc.verb);
            s->info.helo_name = sift_xstrdup(pc.args ? pc.args : "");
            if (pc.prev_ot) txn_close(s, pc.prev_ot, RS_HELO);
        }
        break;
    case K_MAIL:
        if (t) {
            t->mail_reply_code = code;
            set_text(&t->mail_reply_text, r);
        }
        if (pc.prev_ot) {
            int pc_code = pc.prev_ot->t->mail_reply_code;
            if (!pc.prev_ot->closed && (pc_code == 0 || (pc_code >= 200 && pc_code < 300)))
                finding(s, R_NESTED_MAIL, pk(&pc.pkt), "MAIL while transaction %u was open (server replied %03d)",
                        (unsigned)pc.prev_ot->t->index, code);
            if (code >= 400 && code < 600 && ot && !pc.prev_ot->closed && !ot->final_seen &&
                !ot->t->has_content) {
                merge_refused_mail(s, pc.prev_ot, ot);
                pc.ot = NULL;
                ot = NULL;
                t = NULL;
            } else {
                txn_close(s, pc.prev_ot, RS_MAIL);
            }
        }
        break;
    case K_RCPT:
        if (t && pc.rcpt_idx != SIZE_MAX && pc.rcpt_idx < t->n_rcpts) {
            t->rcpts[pc.rcpt_idx].reply_code = code;
            set_text(&t->rcpts[pc.rcpt_idx].reply_text, r);
        }
        break;
    case K_DATA:
        data_final = 1;
        if (is_hold_target) { next = ST_COMMAND; replay = 1; }
        else if (s->state == ST_CONTENT && s->content_ot == ot && s->sp.kind == SP_CR &&
                 s->sp.ot == ot && t) {
            /* The server ended the data at the "\r.\r" candidate: cut there; what
             * followed it is read again as commands. */
            content_cut(t, s->sp.content_len);
            free(t->terminator);
            t->terminator = sift_xstrdup(s->sp.term);
            finding(s, R_NONSTANDARD_DATA_TERMINATOR, &s->sp.pkt,
                    "end of data was %s (the server replied %03d there)", s->sp.term, code);
            content_target(s, NULL);
            next = ST_COMMAND;
            cr_cut = 1;
        } else if (s->state == ST_CONTENT && s->content_ot == ot) {
            /* The server's reply is the truth: the message ended before what we took
             * for its end. Suspicious (smuggling) unless a capture gap ate the end. */
            if (!t || !t->missing_bytes)
                finding(s, R_DATA_REPLY_BEFORE_TERMINATOR, pkt,
                        "reply %03d to DATA before the end of data", code);
            content_target(s, NULL);
            next = ST_COMMAND;
        }
        if (ot && s->sp.ot == ot && !cr_cut) {
            if (s->sp.kind == SP_CR) {
                /* the reply came after a later end: "\r.\r" was content */
                struct sift_buf tmp = { 0 };
                size_t tl;
                const uint8_t *tail = content_tail(t, s->sp.content_len, HOLD_MAX, &tl, &tmp);
                spec_smuggle_check(s, tail, tl);
                sift_buf_free(&tmp);
                spec_clear(s);
            } else if (s->sp.kind == SP_LF && !s->sp.r1_seen) {
                s->sp.r1_seen = 1;
                if (!spec_later_end(s)) spec_confirm(s);
            }
        }
        if (t) {   /* RFC 5321 3.3: DATA needs an accepted recipient */
            size_t ok = 0, refused = 0;
            for (size_t i = 0; i < t->n_rcpts; i++) {
                if (t->rcpts[i].reply_code >= 200 && t->rcpts[i].reply_code < 300) ok++;
                if (t->rcpts[i].reply_code >= 400) refused++;
            }
            if (!ok && refused == t->n_rcpts && (refused || code >= 400))
                finding(s, R_DATA_WITHOUT_RECIPIENTS, pk(&pc.pkt), "DATA with no accepted recipient "
                        "(%zu refused; server replied %03d)", refused, code);
        }
        break;
    case K_BDAT:
        if (pc.bdat_last || code >= 400 || code < 200) data_final = 1;
        break;
    case K_STARTTLS:
        if (code == 220) tls = 1;
        else {
            if (code >= 400)
                finding(s, R_STARTTLS_REFUSED, pkt, "STARTTLS refused with %03d; the session stays in clear text", code);
            if (is_hold_target) { next = ST_COMMAND; replay = 1; }
        }
        break;
    case K_XCLIENT:
        /* XCLIENT success is a new 220 greeting: the server starts over as for a new
         * connection (Postfix XCLIENT_README), so any open transaction ends. */
        if (code == 220 && !strcmp(pc.verb, "XCLIENT")) txn_close(s, s->cur, RS_HELO);
        break;
    case K_AUTH:
        if (is_hold_target) { next = ST_COMMAND; replay = 1; }
        break;
    default:
        break;
    }
    if (data_final && t && !ot->final_seen) {
        ot->final_seen = 1;
        t->data_reply_code = code;
        set_text(&t->data_reply_text, r);
        if (code >= 200 && code < 300) {
            free(t->queue_id);
            t->queue_id = parse_queue_id(text);
        }
    }

    enum kind kind = pc.kind;
    struct otxn *prev = pc.prev_ot;
    emit_cmd(s, &pc, r, pkt);
    pcmd_free(&pc);
    txn_unref(s, prev);
    if (data_final) txn_close(s, ot, RS_DONE);
    if (kind == K_MAIL && code >= 400) txn_close(s, ot, RS_REJECT);
    txn_unref(s, ot);

    if (code == 421) {
        reply_reset(r);
        session_closing(s);
        return;
    }
    if (tls) {
        if (s->hold.len)
            finding(s, R_STARTTLS_PLAINTEXT_INJECTION, pkt,
                    "%zu client bytes after STARTTLS before the 220", s->hold.len);
        txn_close(s, s->cur, RS_TLS);
        s->info.tls_pkt = *pk(pkt);
        set_state(s, ST_TLS);
        reply_reset(r);
        return;
    }
    if (next != s->state) set_state(s, next);
    reply_reset(r);
    if (replay) replay_hold(s);
    if (cr_cut && s->sp.kind == SP_CR) {
        size_t n;
        uint8_t *data = sift_buf_steal(&s->sp.raw, &n);
        struct hold_seg *segs = s->sp.segs;
        size_t n_segs = s->sp.n_segs;
        s->sp.segs = NULL;
        if (n && data[0] == '\n') {   /* "\r.\r\n": the LF belongs to the end */
            struct sift_smtp_txn *ct = s->sp.ot && s->sp.ot->t ? s->sp.ot->t : NULL;
            if (ct) {
                free(ct->terminator);
                ct->terminator = sift_xstrdup("\\r.\\r\\n");
            }
            memmove(data, data + 1, --n);
            for (size_t i = 1; i < n_segs; i++) segs[i].off--;
        }
        spec_clear(s);   /* emits the transaction */
        feed_again(s, data, n, segs, n_segs);
    }
}

/* One line from the server. */
static void server_line(struct sift_smtp *s, const struct sift_line *ln,
                        const struct sift_pktref *pkt)
{
    struct reply *r = &s->rep;
    if (ln->eol == SIFT_EOL_LF && s->bare_lf[SIFT_DIR_S2C]++ == 0)
        s->bare_lf_pkt[SIFT_DIR_S2C] = *pk(pkt);
    if (memchr(ln->data, '\r', ln->len) && s->bare_cr[SIFT_DIR_S2C]++ == 0)
        s->bare_cr_pkt[SIFT_DIR_S2C] = *pk(pkt);
    if (ln->full_len > RFC_REPLY_LINE && !s->long_flagged[1]) {
        s->long_flagged[1] = 1;
        finding(s, R_LINE_TOO_LONG, pkt, "reply line of %llu bytes (limit 512 with CRLF)",
                (unsigned long long)ln->full_len);
    }
    if (ln->overlong)
        finding(s, R_LINE_CUT, pkt, "reply line of %llu bytes cut to %zu",
                (unsigned long long)ln->full_len, ln->len);

    const uint8_t *d = ln->data;
    if (ln->len < 3 || !isdigit(d[0]) || !isdigit(d[1]) || !isdigit(d[2])) {
        char ev[80];
        escape_short(d, ln->len < 40 ? ln->len : 40, ev, sizeof ev);
        finding(s, R_REPLY_MALFORMED, pkt, "server line is not a reply: \"%s\"", ev);
        return;
    }
    int code = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    int more = 0;
    size_t text_at = 3;
    if (ln->len > 3) {
        if (d[3] == '-') more = 1;
        else if (d[3] != ' ') {
            char ev[80];
            escape_short(d, ln->len < 40 ? ln->len : 40, ev, sizeof ev);
            finding(s, R_REPLY_MALFORMED, pkt, "no space or '-' after the code: \"%s\"", ev);
            text_at = 3;
        }
        if (d[3] == '-' || d[3] == ' ') text_at = 4;
    }
    if (!r->active) {
        r->active = 1;
        r->first_code = code;
    } else if (code != r->first_code) {
        r->mismatch = 1;
    }
    size_t tl = ln->len - text_at;
    size_t cap = s->lim.max_line;
    if (r->lines < s->lim.max_reply_lines && r->text.len + tl + 1 <= cap) {
        if (r->lines) sift_buf_putc(&r->text, '\n');
        sift_buf_append(&r->text, d + text_at, tl);
    } else if (!r->too_large) {
        r->too_large = 1;
        finding(s, R_REPLY_TOO_LARGE, pkt, "reply over %zu lines or %zu bytes; rest not kept",
                s->lim.max_reply_lines, cap);
    }
    r->lines++;
    if (more) return;
    r->code = code;
    char *last = sift_xmemdup(d + text_at, tl);
    parse_enhanced(last, r->enhanced);
    free(last);
    complete_reply(s, pkt);
}

static void server_bytes(struct sift_smtp *s, const uint8_t *data, size_t len,
                         const struct sift_pktref *pkt)
{
    if (len) s->server_spoke = 1;
    while (len && s->state != ST_CLOSED) {
        if (s->state == ST_TLS) {
            /* The server's first bytes after its 220 must be a TLS record (content type
             * 20-23): otherwise TLS never started, though nothing more is parsed. */
            if (!s->tls_server_checked && (data[0] < 0x14 || data[0] > 0x17)) {
                s->info.tls_started = 0;
                char ev[80];
                escape_short(data, len < 24 ? len : 24, ev, sizeof ev);
                if (s->info.tls_implicit) {
                    /* A ClientHello to a server that speaks SMTP in clear: no TLS; its
                     * greeting (and whatever follows) is read as usual. */
                    s->tls_server_checked = 1;
                    finding(s, R_IMPLICIT_TLS_FAILED, pkt,
                            "the client opened with a TLS ClientHello, the server answered in clear: \"%s\"", ev);
                    set_state(s, ST_COMMAND);
                    s->info.tls_started = 0;
                    continue;
                }
                finding(s, R_STARTTLS_FAILED, pkt, "server sent non-TLS bytes after 220 to STARTTLS: \"%s\"", ev);
            }
            s->tls_server_checked = 1;
            return;
        }
        struct sift_line ln;
        size_t n = sift_linebuf_take(&s->lb[SIFT_DIR_S2C], data, len, &ln);
        data += n;
        len -= n;
        if (ln.data) server_line(s, &ln, pkt);
    }
}

/* ---------- public API ---------- */

/* Case-insensitive search for an ASCII word in n bytes. */
static int contains_ci(const uint8_t *p, size_t n, const char *word)
{
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++) {
        size_t j = 0;
        while (j < w && toupper(p[i + j]) == (unsigned char)word[j]) j++;
        if (j == w) return 1;
    }
    return 0;
}

int sift_smtp_probe(const uint8_t *data, size_t len, enum sift_dir dir)
{
    static const char *const srv[] = { "220 ", "220-", "421 ", "421-", "554 ", "554-" };
    static const char *const cli[] = { "EHLO ", "HELO ", "LHLO ", "EHLO\r", "HELO\r", "EHLO\n", "HELO\n" };
    const char *const *pat = dir == SIFT_DIR_S2C ? srv : cli;
    size_t npat = dir == SIFT_DIR_S2C ? SIFT_ARRAY_LEN(srv) : SIFT_ARRAY_LEN(cli);
    int need_more = 0;
    for (size_t i = 0; i < npat; i++) {
        size_t pl = strlen(pat[i]), n = len < pl ? len : pl, j;
        for (j = 0; j < n; j++)
            if (toupper(data[j]) != (unsigned char)pat[i][j]) break;
        if (j < n) continue;
        if (len < pl) { need_more = 1; continue; }
        if (dir == SIFT_DIR_C2S) return 1;
        /* FTP servers greet with 220 too: look at the whole first line. */
        const uint8_t *eol = memchr(data, '\n', len);
        size_t line = eol ? (size_t)(eol - data) : len;
        if (!eol && len < 512) return -1;
        if (contains_ci(data, line, "FTP") && !contains_ci(data, line, "SMTP")) return 0;
        return 1;
    }
    /* A bare "220\r\n" greeting is still SMTP-shaped enough. */
    if (len >= 5 && dir == SIFT_DIR_S2C && memcmp(data, "220\r\n", 5) == 0) return 1;
    if (dir == SIFT_DIR_S2C && len < 5 && memcmp(data, "220\r\n", len) == 0) return -1;
    return need_more ? -1 : 0;
}

int sift_smtp_probe_verb(const uint8_t *data, size_t len)
{
    /* a TLS ClientHello record first: implicit TLS on a mail port (SMTPS) */
    if (len >= 6 && data[0] == 0x16 && data[1] == 0x03 && data[2] <= 0x04 && data[5] == 0x01) return 1;
    static const char *const verbs_weak[] = { "MAIL FROM:", "RCPT TO:", "DATA\r", "DATA\n", "QUIT\r",
        "QUIT\n", "RSET\r", "RSET\n", "NOOP", "STARTTLS", "AUTH ", "VRFY ", "EXPN ", "HELP", "BDAT " };
    for (size_t i = 0; i < SIFT_ARRAY_LEN(verbs_weak); i++) {
        size_t pl = strlen(verbs_weak[i]), j;
        if (len < pl) continue;
        for (j = 0; j < pl; j++)
            if (toupper(data[j]) != (unsigned char)verbs_weak[i][j]) break;
        if (j == pl) return 1;
    }
    return 0;
}

struct sift_smtp *sift_smtp_new(const struct sift_smtp_sink *sink, const struct sift_smtp_limits *limits)
{
    struct sift_smtp *s = sift_xcalloc(1, sizeof *s);
    if (sink) s->sink = *sink;
    if (limits) s->lim = *limits;
    if (!s->lim.max_line) s->lim.max_line = 1u << 20;
    if (!s->lim.max_pending) s->lim.max_pending = 1000;
    if (!s->lim.max_rcpts) s->lim.max_rcpts = 10000;
    if (!s->lim.spill_above) s->lim.spill_above = 2u << 20;
    if (!s->lim.max_message) s->lim.max_message = s->lim.spill_above == SIZE_MAX ? 256u << 20 : (size_t)64 << 30;
    if (!s->lim.max_reply_lines) s->lim.max_reply_lines = 1000;
    if (!s->lim.mem_budget) s->lim.mem_budget = (size_t)64 << 20;
    for (int d = 0; d < 2; d++) sift_linebuf_init(&s->lb[d], s->lim.max_line);
    set_state(s, ST_COMMAND);
    struct pcmd *g = q_push(s, NULL);   /* the greeting is the first "command" */
    g->kind = K_GREETING;
    return s;
}

void sift_smtp_feed(struct sift_smtp *s, enum sift_dir dir, const uint8_t *data, size_t len,
                    const struct sift_pktref *pkt)
{
    if (!s || s->closed || !data || !len) return;
    /* Implicit TLS (RFC 8314, SMTPS on port 465): the client's very first bytes,
     * before any greeting, are a TLS handshake record. Nothing of the session is
     * readable; the ClientHello still gives the TLS version and the SNI name. */
    if (dir == SIFT_DIR_C2S && !s->client_spoke && !s->server_spoke && s->state == ST_COMMAND &&
        data[0] == 0x16) {   /* a handshake record's first byte: never an SMTP command's */
        s->client_spoke = 1;
        s->info.tls_pkt = *pk(pkt);
        s->info.tls_implicit = 1;
        set_state(s, ST_TLS);
        finding(s, R_IMPLICIT_TLS, pkt, "the client opened with a TLS ClientHello (implicit TLS, RFC 8314)");
        tls_feed(s, data, len);
        return;
    }
    if (dir == SIFT_DIR_C2S) {
        s->client_spoke = 1;
        if (s->server_only) server_only_end(s);
        client_bytes(s, data, len, pkt);
    }
    else server_bytes(s, data, len, pkt);
}

void sift_smtp_gap(struct sift_smtp *s, enum sift_dir dir, uint64_t len, const struct sift_pktref *pkt)
{
    if (!s || s->closed || s->state == ST_TLS || s->state == ST_CLOSED) return;
    if (dir == SIFT_DIR_C2S) {
        s->client_spoke = 1;
        if (s->server_only) server_only_end(s);
    }
    finding(s, R_CAPTURE_GAP, pkt, "%llu %s bytes missing", (unsigned long long)len,
            dir == SIFT_DIR_C2S ? "client" : "server");
    int in_content = s->content_ot && s->content_ot->t && (s->state == ST_CONTENT || s->state == ST_BDAT);
    if (in_content) s->content_ot->t->truncated = 1;
    /* A hole of known length inside message content does not lose the protocol:
     * DATA content goes on after it (the terminator, or the server's final reply if
     * the hole swallowed the terminator, ends it); a BDAT chunk's octet count simply
     * includes the missing bytes. The message is kept, marked truncated, with the
     * missing byte count added up. */
    if (in_content && dir == SIFT_DIR_C2S) {
        s->content_ot->t->missing_bytes += len;
        if (s->state == ST_CONTENT) {
            s->cs = CS_INLINE;   /* after a hole we are not at a line start we can trust */
            return;
        }
        if (len < s->bdat_left) {
            s->bdat_left -= len;
            return;
        }
        len -= s->bdat_left;
        s->bdat_left = 0;
        set_state(s, ST_COMMAND);
        content_target(s, NULL);
        if (len == 0) return;
    } else if (in_content && dir == SIFT_DIR_S2C) {
        /* A lost server reply while the client sends content: the next reply is most
         * likely the final one for this content; only the reply being assembled is lost. */
        reply_reset(&s->rep);
        sift_linebuf_free(&s->lb[dir]);
        sift_linebuf_init(&s->lb[dir], s->lim.max_line);
        return;
    }
    sift_linebuf_free(&s->lb[dir]);
    sift_linebuf_init(&s->lb[dir], s->lim.max_line);
    if (dir == SIFT_DIR_S2C) reply_reset(&s->rep);
    set_state(s, ST_GAP);
}

void sift_smtp_close(struct sift_smtp *s, const struct sift_pktref *last)
{
    if (!s || s->closed) return;
    struct sift_line ln;
    /* A partial final reply line still completes the reply. */
    if (s->state != ST_TLS && s->state != ST_CLOSED) {
        if (sift_linebuf_flush(&s->lb[SIFT_DIR_S2C], &ln)) {
            uint8_t *copy = sift_xmemdup(ln.data, ln.len);
            ln.data = copy;
            server_line(s, &ln, last);
            free(copy);
        }
        if (s->rep.active && s->state != ST_TLS && s->state != ST_CLOSED) {
            s->rep.code = s->rep.first_code;
            complete_reply(s, last);
        }
    }
    if (s->sp.kind == SP_LF) {
        /* No reply after the DATA's final one: commands read after the candidate that
         * never got a reply mean the server was still reading content. */
        int pending = s->state == ST_HOLD && s->hold_seq >= s->sp.seq0;
        for (size_t i = 0; i < s->q_len; i++)
            if (q_at(s, i)->seq >= s->sp.seq0) pending = 1;
        if (s->sp.r1_seen && pending && s->state != ST_TLS && s->state != ST_CLOSED) spec_rollback(s);
        else spec_confirm(s);
    }
    if (s->sp.kind == SP_CR) spec_clear(s);
    if (s->state == ST_HOLD && s->hold_kind != K_DATA && s->hold.len)
        release_unanswered_hold(s);
    if (s->state == ST_HOLD && s->hold_kind == K_DATA && s->hold.len && s->server_closing) {
        /* The server had said it was closing (221/421/521) and never said 354: it did
         * not take these bytes. */
        finding(s, R_CONTENT_NEVER_ACCEPTED, last,
                "%zu client bytes after DATA were never accepted (no 354 before the end)", s->hold.len);
    } else if (s->state == ST_HOLD && s->hold_kind == K_DATA && s->hold.len) {
        /* No reply to DATA (server side not captured, or the capture ends): the bytes
         * are what the client sent as the message; keep them as (incomplete) content. */
        struct pcmd *pc = q_find_seq(s, s->hold_seq);
        if (pc) {
            start_content(s, pc, last);
            replay_hold(s);
        }
    }
    if (s->state == ST_COMMAND && sift_linebuf_flush(&s->lb[SIFT_DIR_C2S], &ln)) {
        uint8_t *copy = sift_xmemdup(ln.data, ln.len);
        ln.data = copy;
        client_line(s, &ln, last);
        free(copy);
    }
    if ((s->state == ST_CONTENT || (s->state == ST_BDAT && s->bdat_left)) && s->content_ot &&
        s->content_ot->t)
        s->content_ot->t->truncated = 1;
    if (s->after_close && s->server_closing)
        finding(s, R_DATA_AFTER_SERVER_CLOSE, &s->after_close_pkt,
                "client sent a command after the server's closing reply; the server did not read it");
    s->closed = 1;
    if (s->server_only) server_only_end(s);
    content_target(s, NULL);
    q_flush_all(s);
    txn_close(s, s->cur, RS_CLOSE);
    txn_flush_ready(s, 1);
    static const char *const side[2] = { "client", "server" };
    for (int d = 0; d < 2; d++) {
        if (s->bare_lf[d])
            finding(s, R_BARE_LF, &s->bare_lf_pkt[d], "%s: %llu lines ended in bare LF", side[d],
                    (unsigned long long)s->bare_lf[d]);
        if (s->bare_cr[d])
            finding(s, R_BARE_CR, &s->bare_cr_pkt[d], "%s: %llu lines with a bare CR", side[d],
                    (unsigned long long)s->bare_cr[d]);
    }
}

const struct sift_smtp_session *sift_smtp_session_info(const struct sift_smtp *s)
{
    return &s->info;
}

void sift_smtp_txn_free(struct sift_smtp_txn *t)
{
    if (!t) return;
    free(t->mail_from);
    free(t->mail_from_raw);
    free(t->mail_params);
    free(t->mail_reply_text);
    for (size_t i = 0; i < t->n_rcpts; i++) {
        free(t->rcpts[i].address);
        free(t->rcpts[i].raw);
        free(t->rcpts[i].params);
        free(t->rcpts[i].reply_text);
    }
    free(t->rcpts);
    mem_sync(t, 0);
    sift_buf_free(&t->content);
    if (t->spooled) close(t->spool_fd);
    free(t->terminator);
    free(t->data_reply_text);
    free(t->queue_id);
    free(t);
}

const char *sift_smtp_disposition_name(enum sift_smtp_disposition d)
{
    switch (d) {
    case SIFT_SMTP_ACCEPTED: return "accepted";
    case SIFT_SMTP_REJECTED: return "rejected";
    case SIFT_SMTP_ABORTED: return "aborted";
    case SIFT_SMTP_INCOMPLETE: return "incomplete";
    }
    return "incomplete";
}

void sift_smtp_free(struct sift_smtp *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->q_len; i++) pcmd_free(q_at(s, i));
    free(s->q);
    for (size_t i = 0; i < s->tx_len; i++) {
        sift_smtp_txn_free(s->tx[i]->t);
        free(s->tx[i]);
    }
    free(s->tx);
    for (int d = 0; d < 2; d++) sift_linebuf_free(&s->lb[d]);
    sift_buf_free(&s->rep.text);
    sift_buf_free(&s->hold);
    free(s->segs);
    free(s->info.banner);
    free(s->info.helo_verb);
    free(s->info.helo_name);
    for (size_t i = 0; i < s->info.n_extensions; i++) free(s->info.extensions[i]);
    free(s->info.extensions);
    free(s->info.tls_version);
    free(s->info.tls_sni);
    auth_clear(&s->auth);
    sift_buf_free(&s->tls_buf);
    sift_buf_free(&s->sp.raw);
    free(s->sp.segs);
    free(s);
}
