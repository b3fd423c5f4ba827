/* detect_int.h — what the detect*.c files share: the run context, the per-message
 * working set and small helpers (domains, networks, headers). Not for other modules. */
#ifndef SIFT_DETECT_INT_H
#define SIFT_DETECT_INT_H

#include "detect.h"

#define DET_MAX_SEEN 4096      /* domains remembered as seen legitimately */
#define DET_MAX_CLIENTS 1024   /* clients with AUTH failure counters */

struct det_client {
    char ip[64];
    unsigned failures;
    int reported;
};

struct sift_detect {
    struct sift_detect_config cfg;
    const void *psl;              /* psl_ctx_t, only detect.c knows the type */
    void *la;                     /* look-alike state (ICU), only detect_lookalike.c knows it */
    char **seen; size_t n_seen;   /* org domains seen legitimately, lower-case */
    struct det_client *clients; size_t n_clients, next_client;   /* ring once full */
};

/* One message being examined. Strings are owned by the working set. */
struct det_msg {
    struct sift_detect *d;
    const struct sift_detect_session *s;
    const struct sift_detect_txn *t;
    const struct sift_mime_summary *m;   /* may be NULL */
    sift_finding_fn fn;
    void *user;
    char *env_domain, *env_org;    /* NULL for the null sender or no domain */
    char *from_domain, *from_org;  /* first From mailbox; NULL if none */
    const char *from_addr;         /* borrowed */
    const char *list_id;           /* List-Id header value, NULL if none */
    const char *forward_reason;    /* why this looks forwarded (SRS, Resent-*), NULL if not */
    int client_local;              /* 1 inside --local-net, 0 outside, -1 no nets configured */
    int max_sev;                   /* highest severity raised, -1 none */
};

/* Report a finding with printf-style evidence. */
void det_emit(struct det_msg *x, const char *rule, enum sift_severity sev, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Lower-case domain of an address ("a@B.Example." -> "b.example"), without
 * brackets; NULL if none. Caller frees. */
char *det_domain_of(const char *addr);
/* 1 if domain is a local domain or below one. */
int det_is_local_domain(const struct sift_detect *d, const char *domain);
/* 1 if ip is in a --local-net, 0 if not or unparsable, -1 if no nets are configured. */
int det_ip_is_local(const struct sift_detect *d, const char *ip);
/* Parse a textual IPv4/IPv6 address: family 4 or 6 into *fam and bytes; 0 ok, -1 not an address. */
int det_parse_ip(const char *s, int *fam, uint8_t out[16]);
/* The k-th (0-based) header named name (ASCII case-insensitive), or NULL. */
const struct sift_mime_header *det_header(const struct sift_mime_summary *m, const char *name, size_t k);
/* ASCII case-insensitive equality of strings (NULL equals nothing). */
int det_ieq(const char *a, const char *b);

/* Families of rules (one file each). */
void det_rules_align(struct det_msg *x);      /* detect_align.c: envelope/header, display names */
void det_rules_lookalike(struct det_msg *x);  /* detect_lookalike.c */
void det_rules_origin(struct det_msg *x);     /* detect_origin.c: local From, HELO, Received */
void det_rules_auth(struct det_msg *x);       /* detect_auth.c: DKIM d=, Authentication-Results */
void det_rules_session(struct det_msg *x);    /* detect_session.c: open relay, attachments */

/* Look-alike engine state (ICU), detect_lookalike.c. */
void *det_lookalike_new(void);
void det_lookalike_free(void *la);
/* Unicode form of a lower-case domain: xn-- labels decoded, UTS #46 mapped (so
 * "xn--mnchen-3ya.example" and "M\xc3\xbcnchen.example" compare equal); a copy
 * of the input if it is not a valid IDN. Caller frees. */
char *det_to_unicode(const struct sift_detect *d, const char *dom);
/* ASCII (punycode) form, or a copy if not convertible. Caller frees. */
char *det_to_ascii(const struct sift_detect *d, const char *dom);

#endif
