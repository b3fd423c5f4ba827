/* mime.h — message decoding with GMime 3 (RFC 5322, 2045-2049, 2047, 2231).
 * The only module that includes GMime/GLib headers. Turns raw message bytes
 * into a plain-C summary: headers (raw + decoded), addresses, parts with
 * hashes, text bodies as valid UTF-8. No GObject leaves mime.c. */
#ifndef SIFT_MIME_H
#define SIFT_MIME_H

#include "sift.h"
#include "hdrparse.h"

struct sift_mime_header {
    char *name;          /* as written (case kept) */
    char *value;         /* unfolded, RFC 2047-decoded (gmime#133 worked around), valid UTF-8 */
    uint8_t *raw;        /* exact bytes after "Name:" up to and including folding, without final CRLF */
    size_t raw_len;
};

struct sift_mime_address {
    char *field;         /* lower-case header name: "from","to","cc","bcc","reply-to","sender","return-path" */
    char *name;          /* decoded display name, NULL if none */
    char *address;       /* addr-spec (as written; UTF-8 allowed), "" if empty */
    char *group;         /* group display name if inside a group, else NULL; an empty group
                          * ("undisclosed-recipients:;") is one entry with address "" */
};

struct sift_mime_part {
    char *path;          /* position in the MIME tree, IMAP-style: children of a top-level multipart
                          * are "1", "2", ...; a non-multipart top-level body is "1"; the body parts
                          * of an embedded message at "2" are "2.1", "2.2" (a single-part one "2.1");
                          * a uuencoded block inside a text/plain part "1" is "1.uu1", "1.uu2", ...
                          * (right after it; encoding "x-uuencode", content_type = magic_type or
                          * "application/octet-stream", filename from the begin line) */
    char *content_type;  /* "text/plain" (lower-case type/subtype) */
    char *charset;       /* declared charset or NULL */
    char *encoding;      /* Content-Transfer-Encoding as declared (lower-case) or NULL */
    char *disposition;   /* "inline"/"attachment" or NULL */
    char *filename;      /* decoded (RFC 2231/2047) filename or NULL; attacker-controlled */
    uint64_t size;       /* decoded size in bytes; message/rfc822: the embedded message's bytes as
                          * on the wire (first header up to the enclosing boundary's CRLF) */
    char sha256[65];     /* of the same bytes, lower-case hex; "" (size 0) only for a message/rfc822
                          * part that could not be located or exceeded the work bound
                          * (finding "mime_hash_skipped") */
    int is_attachment;   /* leaf: disposition attachment, or a filename, or not a text type;
                          * message/rfc822: disposition attachment or a filename */
    char *text;          /* for text/ parts: decoded body as valid UTF-8, at most 1 MiB (finding
                          * "mime_text_truncated" if cut); declared charset, else UTF-8 if valid,
                          * else windows-1252; bad bytes become U+FFFD, never dropped. Else NULL */
    char md5[33];        /* MD5 and SHA-1 of the same bytes as sha256 (streamed together), */
    char sha1[41];       /* lower-case hex; "" exactly when sha256 is "" */
    char *magic_type;    /* attachments only: MIME type libmagic finds in the first 4 KiB, else NULL */
    char *html_text;     /* text/html parts: the visible text (sift_html_to_text of text), else NULL */
    char *extracted_path;/* with an extract directory: file name (the SHA-256) under it, else NULL */
};

/* One Received header (newest first, as in the message). */
struct sift_mime_received {
    struct sift_received hop;
    char *raw;           /* the decoded, unfolded header value */
    size_t header_seq;   /* index in headers */
    int64_t ts;          /* hop.date parsed (Unix seconds); valid only if has_ts */
    int has_ts;
};

/* One method result of Authentication-Results, ARC-Authentication-Results or Received-SPF. */
struct sift_mime_auth {
    const char *header;  /* "authentication-results", "arc-authentication-results", "received-spf" (static) */
    size_t header_seq;
    int instance;        /* ARC i=, -1 otherwise */
    char *authserv_id;   /* NULL for Received-SPF */
    char *method, *result, *reason, *props;   /* see struct sift_auth_result */
};

/* One DKIM-Signature, ARC-Message-Signature or ARC-Seal (tags as written, FWS removed). */
struct sift_mime_dkim {
    const char *header;  /* "dkim-signature", "arc-message-signature", "arc-seal" (static) */
    size_t header_seq;
    int instance;        /* ARC i=, -1 for DKIM */
    char *version, *algorithm, *domain, *selector, *canonicalization, *signed_headers,
         *identity, *body_hash, *chain_validation;   /* v= a= d= s= c= h= i= bh= cv=, NULL if absent */
    int64_t timestamp; int has_timestamp;             /* t= */
};

/* A URL in a text body (plain text, or an <a href> in HTML). */
struct sift_mime_url {
    size_t part;         /* index in parts */
    char *url;
    char *host;          /* lower-case, NULL if none (mailto:, relative) */
    char *text;          /* HTML: the link's visible text; plain text: NULL */
};

struct sift_mime_summary {
    int parsed;                       /* 0 if GMime could not build a message (raw kept elsewhere) */
    struct sift_mime_header *headers; size_t n_headers;   /* top-level headers in order, duplicates kept */
    struct sift_mime_address *addresses; size_t n_addresses;
    struct sift_mime_part *parts; size_t n_parts;         /* leaves and message/rfc822 parts, tree order,
                                                             at most 10,000 ("mime_too_many_parts"),
                                                             plus at most 100 uuencoded blocks */
    char *subject;                    /* decoded, NULL if none */
    char *from_addr, *from_name;      /* first From mailbox */
    char *date;                       /* Date header as written (trimmed), NULL if none */
    int64_t date_unix;                /* parsed Date in seconds; valid only if has_date */
    int has_date;
    char *message_id;                 /* Message-ID without <>, NULL if none */
    char *in_reply_to;                /* as written (trimmed, <> kept), NULL if none */
    size_t n_attachments;
    struct sift_mime_received *received; size_t n_received;   /* at most 100 */
    struct sift_mime_auth *auth; size_t n_auth;               /* at most 200 */
    struct sift_mime_dkim *dkim; size_t n_dkim;               /* at most 100 */
    struct sift_mime_url *urls; size_t n_urls;                /* at most 1000 per part, 5000 per message */
    char *x_mailer, *user_agent;      /* first X-Mailer / User-Agent, decoded; NULL if none */
    char *x_originating_ip;           /* first X-Originating-IP without [] and blanks, NULL if none */
};

/* Options for sift_mime_parse_ex. */
struct sift_mime_opts {
    int extract_dirfd;   /* >= 0: write every attachment (decoded) into this directory as a file
                          * named by its SHA-256, once (an existing file is kept); -1: none */
};

/* Once per process, before any parse (g_mime_init) and at exit. */
void sift_mime_init(void);
void sift_mime_shutdown(void);

/* Parse len bytes of a message (borrowed for the call; not modified; data may
 * be NULL if len is 0). Never returns NULL. GMime parser warnings and decoding
 * problems are reported via finding (may be NULL) with stable rule names
 * (e.g. "mime_parse_failed", "mime_invalid_header", "mime_truncated",
 * "mime_8bit_header", "mime_invalid_address"; at most 200 parser warnings per
 * message, then "mime_too_many_warnings"); where is always NULL. The result
 * is owned by the caller: free with sift_mime_free. Call only between
 * sift_mime_init and sift_mime_shutdown. */
struct sift_mime_summary *sift_mime_parse(const uint8_t *data, size_t len,
                                          sift_finding_fn finding, void *user);
/* The same with options (NULL = defaults). An attachment that cannot be
 * written gives finding "extract_failed" and extracted_path NULL. */
struct sift_mime_summary *sift_mime_parse_ex(const uint8_t *data, size_t len,
                                             const struct sift_mime_opts *opts,
                                             sift_finding_fn finding, void *user);
/* The same for a message len bytes long in a file (a spooled message): GMime
 * reads it through the descriptor (borrowed, not closed), so memory does not
 * grow with the message. Differences: message/rfc822 parts are not hashed
 * (size 0, finding "mime_hash_skipped"). */
struct sift_mime_summary *sift_mime_parse_fd(int fd, uint64_t len, const struct sift_mime_opts *opts,
                                             sift_finding_fn finding, void *user);

void sift_mime_free(struct sift_mime_summary *m);

/* SHA-256 of data as 64 lower-case hex chars + NUL. */
void sift_sha256_hex(const uint8_t *data, size_t len, char out[65]);

#endif
