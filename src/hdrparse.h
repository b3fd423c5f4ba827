/* hdrparse.h — pure parsers for trace and authentication headers: Received
 * (RFC 5321 4.4), Authentication-Results / ARC-Authentication-Results
 * (RFC 8601, 8617), Received-SPF (RFC 7208 9.1), DKIM-Signature / ARC tag
 * lists (RFC 6376 3.2). No library, no I/O; does NOT verify signatures. */
#ifndef SIFT_HDRPARSE_H
#define SIFT_HDRPARSE_H

#include "sift.h"

/* One Received hop. Every field is a malloc'd string or NULL when absent. */
struct sift_received {
    char *from_name;     /* first word after "from" (the name the client gave) */
    char *from_ip;       /* first IP literal of the from clause ("[192.0.2.1]", "IPv6:" removed) */
    char *by_name;       /* first word after "by" */
    char *protocol;      /* word after "with" (ESMTP, ESMTPS, LMTP, ...) */
    char *id;            /* word after "id" */
    char *for_addr;      /* word after "for", <> removed */
    char *date;          /* text after the last ';', trimmed */
};

/* Parses an unfolded Received value (borrowed). Keywords are recognised
 * outside comments only; comments are kept for the IP search. Bounded: reads
 * at most the first 8 KiB. Free with sift_received_clear. */
void sift_received_parse(const char *value, struct sift_received *out);
void sift_received_clear(struct sift_received *r);

/* One method result of an Authentication-Results-like header. */
struct sift_auth_result {
    char *method;        /* lower-case: spf, dkim, dmarc, arc, ... */
    char *result;        /* lower-case: pass, fail, softfail, none, ... */
    char *reason;        /* reason= value, NULL if none */
    char *props;         /* "ptype.property=value" pairs, space separated, comments removed; NULL if none */
};

/* Parses Authentication-Results (arc = 0) or ARC-Authentication-Results
 * (arc = 1: a leading "i=N;" is read into *instance, else *instance = -1).
 * *authserv_id gets the authserv-id (malloc'd, may be NULL). Returns the
 * results (malloc'd array, *n entries, at most 64); "none" gives 0 results.
 * Free with sift_auth_results_free. */
struct sift_auth_result *sift_auth_results_parse(const char *value, int arc, int *instance,
                                                 char **authserv_id, size_t *n);
/* Received-SPF: one result with method "spf"; props are the key=value pairs. */
struct sift_auth_result *sift_received_spf_parse(const char *value, size_t *n);
void sift_auth_results_free(struct sift_auth_result *r, size_t n);

/* A DKIM-Signature / ARC-Message-Signature / ARC-Seal tag list. */
struct sift_tag { char *name; char *value; };

/* Parses "tag=value; tag=value" (RFC 6376 3.2): names trimmed, all folding
 * white space removed from values. At most 64 tags. Free with sift_tags_free. */
struct sift_tag *sift_tags_parse(const char *value, size_t *n);
const char *sift_tags_get(const struct sift_tag *t, size_t n, const char *name);   /* borrowed or NULL */
void sift_tags_free(struct sift_tag *t, size_t n);

#endif
