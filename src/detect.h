/* detect.h — forged-sender and risky-mail detection (DMARC alignment per RFC 7489
 * §3.1, RFC 5321 HELO, RFC 6376 DKIM tags, RFC 8601 Authentication-Results):
 * pure functions from plain-C session/transaction/message facts to findings,
 * each with a stable rule name, a severity and evidence text naming the values
 * compared. No SQLite, no GMime here; detect.c holds libpsl, detect_lookalike.c ICU. */
#ifndef SIFT_DETECT_H
#define SIFT_DETECT_H

#include "sift.h"
#include "mime.h"

/* An IPv4 or IPv6 network (CIDR). */
struct sift_detect_net {
    int family;            /* 4 or 6 */
    uint8_t addr[16];      /* network bytes (4 used for IPv4) */
    unsigned prefix;       /* 0..32 / 0..128 */
};

/* What the analyst told us. All lists are owned by the struct (free with
 * sift_detect_config_free); strings are lower-cased where the comparison is
 * case-insensitive (domains, authserv-ids). Zero-initialise for empty. */
struct sift_detect_config {
    char **local_domains; size_t n_local_domains;       /* --local-domain: ours, and trusted */
    struct sift_detect_net *local_nets; size_t n_local_nets;   /* --local-net CIDR */
    char **protected_names; size_t n_protected_names;   /* --protected-name "Jane Doe" */
    char **protected_domains; size_t n_protected_domains; /* --protected-domain: brands to guard */
    char **trusted_authserv; size_t n_trusted_authserv; /* --trusted-authserv ID */
    unsigned bruteforce_threshold;                      /* failed AUTHs per client [5] */
};

/* Add one setting: key is one of "local-domain", "local-net", "protected-name",
 * "protected-domain", "trusted-authserv", "bruteforce-threshold" (a leading
 * "--" is accepted). Returns SIFT_OK, or SIFT_ERR_USAGE with a one-line err
 * (unknown key, bad CIDR, bad number). value is copied. */
enum sift_status sift_detect_config_set(struct sift_detect_config *c, const char *key,
                                        const char *value, char *err, size_t errlen);

/* Read a configuration file of "key = value" lines (same keys; '#' starts a
 * comment line; blank lines ignored). SIFT_ERR_IO if unreadable, SIFT_ERR_USAGE
 * naming file and line for a bad line. */
enum sift_status sift_detect_config_load(struct sift_detect_config *c, const char *path,
                                         char *err, size_t errlen);
void sift_detect_config_free(struct sift_detect_config *c);

/* Parse "192.0.2.0/24", "2001:db8::/32" or a bare address (full prefix). 0 ok, -1 bad. */
int sift_detect_parse_net(const char *s, struct sift_detect_net *out);

/* The facts detectors read. Everything is borrowed for the call. */
struct sift_detect_session {
    const char *client_ip;     /* textual, IPv4 or IPv6 as stored */
    const char *helo;          /* last EHLO/HELO argument, NULL if none */
    int auth_ok;               /* a successful AUTH (235) happened before this point */
    unsigned auth_failures;    /* failed AUTH attempts in this session */
    int tls;                   /* STARTTLS succeeded */
};

struct sift_detect_rcpt {
    const char *address;       /* without <> */
    int reply_code;            /* 0 if no reply seen */
};

struct sift_detect_txn {
    const char *mail_from;     /* without <>, "" for the null sender */
    const struct sift_detect_rcpt *rcpts;
    size_t n_rcpts;
};

struct sift_detect;   /* run context: config, PSL, ICU, memory across messages */

/* New context for one ingest run; cfg may be NULL (nothing configured) and is
 * copied. Never returns NULL. */
struct sift_detect *sift_detect_new(const struct sift_detect_config *cfg);
void sift_detect_free(struct sift_detect *d);

/* Once per run, before the first message: reports "detect_config_missing"
 * (info, naming the rules skipped and why) if some rules lack configuration. */
void sift_detect_begin(struct sift_detect *d, sift_finding_fn fn, void *user);

/* All message rules for one transaction. msg may be NULL (no content: only the
 * envelope and session rules run). Findings go to fn with where == NULL. The
 * From domain of a message that raised nothing above "low" and whose envelope
 * aligns is remembered (bounded) as seen legitimately, for look-alike checks. */
void sift_detect_message(struct sift_detect *d, const struct sift_detect_session *s,
                         const struct sift_detect_txn *t, const struct sift_mime_summary *msg,
                         sift_finding_fn fn, void *user);

/* Session rules at the end of a connection (AUTH brute force across sessions:
 * a bounded per-client counter lives in d). */
void sift_detect_session_end(struct sift_detect *d, const struct sift_detect_session *s,
                             sift_finding_fn fn, void *user);

/* Helpers exposed for tests. */
/* Organizational domain (PSL registrable domain) of a lower-case domain, or a
 * copy of the domain itself if it has none (a public suffix, unknown). Caller frees. */
char *sift_detect_org_domain(const struct sift_detect *d, const char *domain);
/* Restricted Damerau-Levenshtein (optimal string alignment) distance of two
 * byte strings, capped: returns at most cap + 1. */
unsigned sift_detect_edit_distance(const char *a, const char *b, unsigned cap);

#endif
