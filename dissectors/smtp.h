/* smtp.h — SMTP dissector (RFC 5321, 2920 pipelining, 1870 SIZE, 6152 8BITMIME,
 * 3207 STARTTLS, 4954 AUTH, 6531 SMTPUTF8): a pure state machine over the bytes of
 * both directions of one connection. No I/O, no libraries. It emits command/reply
 * pairs, mail transactions with their un-stuffed message bytes, AUTH attempts,
 * XCLIENT/XFORWARD assertions and findings, through a sink. */
#ifndef SIFT_SMTP_H
#define SIFT_SMTP_H

#include "sift.h"

/* Bounds. 0 in a field means the default given in brackets. */
struct sift_smtp_limits {
    size_t max_line;        /* [1 MiB] command/reply line bytes kept; longer lines cut, finding */
    size_t max_pending;     /* [1000] commands awaiting a reply; beyond: oldest flushed unanswered, finding */
    size_t max_rcpts;       /* [10000] recipients kept per transaction; beyond: counted, finding */
    size_t max_message;     /* [64 GiB, or 256 MiB when spill_above is SIZE_MAX] message bytes kept;
                             * beyond: cut, truncated=1, finding */
    size_t spill_above;     /* [2 MiB] a message growing past this many bytes moves to an unlinked
                             * temporary file (spooled) and goes on there; SIZE_MAX: never */
    const char *spool_dir;  /* [NULL: $TMPDIR, else /tmp] where spooled messages go */
    size_t max_reply_lines; /* [1000] lines kept in one multi-line reply */
    size_t mem_budget;      /* [64 MiB] message bytes held in memory by all sessions of the
                             * process together while being received; past it, a message of
                             * 16 KiB or more moves to its temporary file at once (as past
                             * spill_above) and spooled ones write every piece straight away
                             * (sift_smtp_assembling_bytes). SIZE_MAX: no budget */
};

/* One command and the reply matched to it (FIFO, pipelining assumed). The
 * server greeting is a pseudo-command with verb == NULL. A reply that matched
 * no command has verb == NULL too and seq after the greeting. Everything is
 * borrowed for the duration of the callback. */
struct sift_smtp_cmd {
    uint32_t seq;               /* 0-based order of this command in the session */
    const char *verb;           /* upper-cased verb ("MAIL", "XYZZY"), NULL for greeting */
    const char *args;           /* text after the verb and separating space(s), "" if none */
    const uint8_t *line;        /* raw command line without its line ending */
    size_t line_len;
    struct sift_pktref cmd_pkt; /* packet holding the end of the command line (zero for greeting) */
    int32_t txn;                /* transaction index this command belongs to, -1 if none */
    int reply_code;             /* 0 if the command got no reply */
    const char *enhanced;       /* RFC 3463 code of the last reply line ("2.1.0"), NULL if none */
    const char *reply_text;     /* text of all reply lines after "NNN-"/"NNN ", joined by '\n' */
    uint32_t reply_lines;
    struct sift_pktref reply_pkt; /* packet holding the end of the final reply line */
    int intermediate_code;      /* 354 for DATA, 334 for AUTH when such replies came before
                                   the final one; 0 otherwise */
    uint32_t intermediate_replies; /* how many: 1 for DATA, SASL round trips for AUTH */
};

struct sift_smtp_rcpt {
    char *address;          /* path without <> (source route stripped); "" for <> */
    char *raw;              /* everything after "RCPT TO:" */
    char *params;           /* ESMTP parameters after the path, "" if none */
    int reply_code;         /* 0 if no reply seen */
    char *reply_text;
    struct sift_pktref pkt; /* the RCPT command's packet */
};

enum sift_smtp_disposition {
    SIFT_SMTP_ACCEPTED = 0,   /* final reply to DATA/BDAT LAST was 2xx */
    SIFT_SMTP_REJECTED,       /* final reply 4xx/5xx after the content, or DATA refused */
    SIFT_SMTP_ABORTED,        /* no content: RSET, new MAIL, HELO/EHLO, QUIT before content */
    SIFT_SMTP_INCOMPLETE      /* connection ended during the transaction / reply never seen */
};
const char *sift_smtp_disposition_name(enum sift_smtp_disposition d); /* "accepted", ... */

/* A mail transaction: from MAIL FROM to the end of its content (or its abort).
 * Ownership passes to the sink's on_txn; free with sift_smtp_txn_free. */
struct sift_smtp_txn {
    uint32_t index;          /* 0-based transaction number in the session */
    char *mail_from;         /* reverse-path without <>, "" for the null sender <> */
    char *mail_from_raw;     /* everything after "MAIL FROM:" */
    char *mail_params;       /* parameters after the path ("SIZE=123 BODY=8BITMIME"), "" if none */
    int mail_reply_code;     /* 0 if not seen */
    char *mail_reply_text;
    struct sift_smtp_rcpt *rcpts;
    size_t n_rcpts;          /* recipients kept */
    uint64_t rcpts_dropped;  /* recipients beyond max_rcpts (counted only) */
    int has_content;         /* 1 if content bytes were captured (after a 354) */
    struct sift_buf content; /* message bytes as the server received them, dot-un-stuffed,
                                without the terminating ".\r\n" (empty when spooled) */
    int spooled;             /* 1: the message bytes are in spool_fd instead (finding "message_spooled") */
    int spool_fd;            /* unlinked temporary file holding spool_len bytes; closed by txn_free */
    uint64_t spool_len;
    int truncated;           /* content incomplete (bound hit, capture gap, or connection ended inside) */
    uint64_t missing_bytes;  /* content bytes missing from the capture (gaps inside the content) */
    char *terminator;        /* how content ended, escaped: "\\r\\n.\\r\\n", or NULL */
    int data_reply_code;     /* final reply after content (or refusal of DATA), 0 if none */
    char *data_reply_text;
    char *queue_id;          /* queue id parsed from a 250 reply ("queued as ABC123"), or NULL */
    enum sift_smtp_disposition disposition;
    struct sift_pktref first_pkt;    /* MAIL FROM command packet */
    struct sift_pktref last_pkt;     /* final reply packet (or last seen) */
    struct sift_pktref content_first_pkt, content_last_pkt;  /* zero if no content */
    size_t mem_counted;      /* internal: bytes of content counted in sift_smtp_assembling_bytes */
};
void sift_smtp_txn_free(struct sift_smtp_txn *t);
/* Bytes of memory held by messages still being received, all sessions of the
 * process together (content buffers; messages handed to the sink no longer count). */
size_t sift_smtp_assembling_bytes(void);
/* Bytes of the message, in memory or spooled. */
static inline uint64_t sift_smtp_content_len(const struct sift_smtp_txn *t)
{
    return t->spool_len + t->content.len;
}

/* What the dissector learnt about the session; read at any time, borrowed. */
struct sift_smtp_session {
    char *banner;            /* greeting text (all lines, '\n'-joined), NULL if none */
    int banner_code;         /* 220, 421, 554 or 0 */
    char *helo_verb;         /* "EHLO", "HELO" (last one used), NULL */
    char *helo_name;         /* argument of the last EHLO/HELO */
    char **extensions;       /* EHLO reply lines after the first: "SIZE 10240000", "PIPELINING" */
    size_t n_extensions;
    int pipelining_offered;
    int pipelining_used;     /* client sent a command before the reply to the previous one */
    uint32_t n_commands, n_txns;
    int quit_seen;
    int tls_started;         /* STARTTLS got 220: nothing after it was parsed (back to 0 if
                                the server then sent something that is not TLS); also 1 for
                                implicit TLS */
    int tls_implicit;        /* TLS from the client's first byte (SMTPS, RFC 8314; finding
                                "implicit_tls"); tls_pkt is then the ClientHello's packet */
    struct sift_pktref tls_pkt; /* packet of that 220 reply (zero if none) */
    char *tls_version;       /* from the client's TLS ClientHello after the 220: highest
                                version offered ("TLS 1.3" when supported_versions lists
                                0x0304, else the legacy version), NULL if not seen */
    char *tls_sni;           /* server_name from that ClientHello, NULL if none */
    int starttls_offered;    /* the last EHLO reply listed STARTTLS */
    uint32_t n_auth;         /* AUTH attempts */
    uint32_t n_auth_failed;  /* of which answered 4xx/5xx */
};

/* One AUTH attempt (RFC 4954), from the AUTH command to its final reply. Borrowed
 * for the duration of the callback. */
struct sift_smtp_auth {
    uint32_t seq;               /* seq of the AUTH command (commands.seq) */
    const char *mechanism;      /* upper-cased: "PLAIN", "LOGIN", "CRAM-MD5", ... */
    const char *username;       /* NULL if not recoverable (see smtp.c: per mechanism) */
    const char *password;       /* PLAIN and LOGIN only, else NULL */
    int outcome_code;           /* final reply (235 ok, 535, 501 after "*"...), 0 if none */
    const char *outcome_text;   /* its text, NULL if none */
    int cancelled;              /* the client answered a challenge with "*" */
    int tls;                    /* TLS was active: always 0 (nothing is parsed inside TLS) */
    struct sift_pktref pkt;     /* the AUTH command's packet */
};

/* XCLIENT / XFORWARD (Postfix): attributes the client asserts about the real
 * client, distinct from the TCP peer. Borrowed for the callback. */
struct sift_smtp_xclient {
    uint32_t seq;               /* the command's seq */
    const char *verb;           /* "XCLIENT" or "XFORWARD" */
    const char *attributes;     /* the arguments as sent: "ADDR=192.0.2.1 NAME=x HELO=y" */
    int reply_code;             /* 0 if unanswered; XCLIENT success is a new 220 greeting */
    struct sift_pktref pkt;
};

struct sift_smtp_sink {
    void *user;
    void (*on_command)(void *user, const struct sift_smtp_cmd *c);  /* may be NULL */
    void (*on_txn)(void *user, struct sift_smtp_txn *t);            /* takes ownership */
    sift_finding_fn on_finding;                                     /* may be NULL */
    void (*on_auth)(void *user, const struct sift_smtp_auth *a);    /* may be NULL */
    void (*on_xclient)(void *user, const struct sift_smtp_xclient *x); /* may be NULL */
};

struct sift_smtp;

/* Probe the first bytes of a connection: 1 = SMTP, 0 = not SMTP, -1 = need more.
 * A server "220 "/"220-" (also 421/554 greetings; a first line naming FTP and not
 * SMTP is refused) or client EHLO/HELO/LHLO.
 * dir says which side sent data. */
int sift_smtp_probe(const uint8_t *data, size_t len, enum sift_dir dir);

/* Weaker evidence, used only together with a mail port (25, 465, 587, 2525): 1 if
 * the client's first bytes are another SMTP command (MAIL FROM:, QUIT, STARTTLS...). */
int sift_smtp_probe_verb(const uint8_t *data, size_t len);

/* New state machine; limits may be NULL (defaults). sink is copied. */
struct sift_smtp *sift_smtp_new(const struct sift_smtp_sink *sink, const struct sift_smtp_limits *limits);

/* Feed bytes of one direction (any split). pkt is the packet the bytes came with. */
void sift_smtp_feed(struct sift_smtp *s, enum sift_dir dir, const uint8_t *data, size_t len,
                    const struct sift_pktref *pkt);

/* len bytes of one direction are missing (capture loss). */
void sift_smtp_gap(struct sift_smtp *s, enum sift_dir dir, uint64_t len, const struct sift_pktref *pkt);

/* End of connection: flushes partial lines, emits unanswered commands (reply_code 0)
 * and any open transaction (INCOMPLETE, or ACCEPTED/REJECTED if its reply came). */
void sift_smtp_close(struct sift_smtp *s, const struct sift_pktref *last);

const struct sift_smtp_session *sift_smtp_session_info(const struct sift_smtp *s);

void sift_smtp_free(struct sift_smtp *s);

/* Base64 (RFC 4648) decode of n bytes of in into out, which has room for outsz
 * bytes (3 * n / 4 suffices). Padding is optional; whitespace is not allowed.
 * Returns the decoded length, or -1 if in is not base64 or out is too small. */
long sift_smtp_b64decode(const char *in, size_t n, uint8_t *out, size_t outsz);

/* Parse the start of a TLS stream from the client (RFC 8446/5246 records holding a
 * ClientHello; the handshake may span records). Returns 1 when parsed (*version
 * gets a malloc'd "TLS 1.x"/"SSL 3.0", *sni a malloc'd host name or NULL), 0 if
 * more bytes are needed, -1 if this is not a ClientHello or is malformed. Reads
 * only within len; never reads more than 16 KiB of handshake. */
int sift_smtp_tls_client_hello(const uint8_t *data, size_t len, char **version, char **sni);

#endif
