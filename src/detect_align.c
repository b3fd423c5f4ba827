/* detect_align.c — identity alignment rules: envelope MAIL FROM vs header From as
 * DMARC defines alignment (RFC 7489 §3.1: relaxed = same organizational domain,
 * strict = same domain), Sender / Reply-To / Return-Path divergence, and
 * display-name tricks. Does not verify SPF or DKIM (no DNS). */
#include "detect_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static void envelope_alignment(struct det_msg *x)
{
    if (!x->env_org || !x->from_org) return;     /* null sender <> (bounces), or no From */
    if (strcmp(x->env_org, x->from_org) != 0) {
        if (x->list_id)
            det_emit(x, "envelope_misaligned_list", SIFT_SEV_INFO,
                     "mailing list (List-Id: %s): MAIL FROM <%s> (organizational domain %s) differs "
                     "from From <%s> (%s) as list software does; not reported as forgery",
                     x->list_id, x->t->mail_from, x->env_org, x->from_addr, x->from_org);
        else if (x->forward_reason)
            det_emit(x, "envelope_misaligned_forwarded", SIFT_SEV_INFO,
                     "forwarded (%s): MAIL FROM <%s> (organizational domain %s) differs from From <%s> (%s); "
                     "not reported as forgery",
                     x->forward_reason, x->t->mail_from, x->env_org, x->from_addr, x->from_org);
        else
            det_emit(x, "envelope_from_misaligned", SIFT_SEV_MEDIUM,
                     "MAIL FROM <%s> (organizational domain %s) is not aligned with From <%s> "
                     "(organizational domain %s), relaxed alignment (RFC 7489 3.1)",
                     x->t->mail_from, x->env_org, x->from_addr, x->from_org);
    } else if (strcmp(x->env_domain, x->from_domain) != 0) {
        det_emit(x, "envelope_from_strict_misaligned", SIFT_SEV_INFO,
                 "MAIL FROM domain %s and From domain %s share the organizational domain %s "
                 "(relaxed alignment holds, strict does not)",
                 x->env_domain, x->from_domain, x->from_org);
    }
}

/* Organizational domain of an address, or NULL. Caller frees. */
static char *org_of(struct det_msg *x, const char *addr)
{
    char *dom = det_domain_of(addr);
    if (!dom) return NULL;
    char *org = sift_detect_org_domain(x->d, dom);
    free(dom);
    return org;
}

static void header_divergence(struct det_msg *x)
{
    const struct sift_mime_summary *m = x->m;
    if (!m) return;
    for (size_t i = 0; i < m->n_addresses; i++) {
        const struct sift_mime_address *a = &m->addresses[i];
        if (!a->field || !a->address) continue;
        if (!strcmp(a->field, "return-path")) {
            /* Return-Path is written by the final delivery agent from MAIL FROM; one that
             * travels over SMTP and names someone else is a claim, not a fact. */
            if (strcasecmp(a->address, x->t->mail_from) != 0)
                det_emit(x, "return_path_divergent", SIFT_SEV_LOW,
                         "Return-Path <%s> differs from MAIL FROM <%s>", a->address, x->t->mail_from);
            continue;
        }
        if (!x->from_org || !*a->address) continue;
        int sender = !strcmp(a->field, "sender"), reply = !strcmp(a->field, "reply-to");
        if (!sender && !reply) continue;
        if (x->list_id) continue;   /* lists set Sender/Reply-To to themselves */
        char *org = org_of(x, a->address);
        if (org && strcmp(org, x->from_org) != 0)
            det_emit(x, sender ? "sender_header_divergent" : "reply_to_divergent", SIFT_SEV_LOW,
                     "%s <%s> (organizational domain %s) differs from From <%s> (%s)",
                     sender ? "Sender" : "Reply-To", a->address, org, x->from_addr, x->from_org);
        free(org);
    }
}

/* Lower-case, letters and digits only, single spaces: "  Jane  DOE, CEO" -> "jane doe ceo". */
static char *norm_name(const char *s)
{
    size_t l = strlen(s);
    char *o = sift_xmalloc(l + 1);
    size_t n = 0;
    int space = 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p >= 0x80) {
            o[n++] = (char)tolower(*p);
            space = 0;
        } else if (!space) {
            o[n++] = ' ';
            space = 1;
        }
    }
    while (n && o[n - 1] == ' ') n--;
    o[n] = '\0';
    return o;
}

/* 1 if needle occurs in hay on word boundaries (both normalised). */
static int contains_words(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    if (!nl) return 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        if ((p == hay || p[-1] == ' ') && (p[nl] == '\0' || p[nl] == ' ')) return 1;
    return 0;
}

static void display_name(struct det_msg *x)
{
    const struct sift_mime_summary *m = x->m;
    if (!m || !m->from_name || !*m->from_name || !x->from_org) return;
    const char *name = m->from_name;

    /* An address inside the display name: "ceo@bank.example" <x@evil.example>. */
    const char *at = strchr(name, '@');
    if (at) {
        const char *b = at, *e = at + 1;
        while (b > name && !strchr(" \t<>\"'()[],;:", b[-1])) b--;
        while (*e && !strchr(" \t<>\"'()[],;:", *e)) e++;
        char *shown = sift_xstrndup(b, (size_t)(e - b));
        char *org = strchr(shown, '.') || strchr(at, '.') ? org_of(x, shown) : NULL;
        if (org && at > b && strcmp(org, x->from_org) != 0)
            det_emit(x, "display_name_address_mismatch", SIFT_SEV_HIGH,
                     "From display name shows %s (organizational domain %s) but the address is <%s> (%s)",
                     shown, org, x->from_addr, x->from_org);
        free(org);
        free(shown);
    }

    /* A protected name (an executive, a brand) from outside the trusted domains. */
    if (x->d->cfg.n_protected_names && !det_is_local_domain(x->d, x->from_domain)) {
        int trusted = 0;
        for (size_t i = 0; i < x->d->cfg.n_protected_domains && !trusted; i++)
            trusted = !strcmp(x->from_org, x->d->cfg.protected_domains[i]) ||
                      !strcmp(x->from_domain, x->d->cfg.protected_domains[i]);
        if (!trusted) {
            char *nn = norm_name(name);
            for (size_t i = 0; i < x->d->cfg.n_protected_names; i++) {
                char *pn = norm_name(x->d->cfg.protected_names[i]);
                if (contains_words(nn, pn)) {
                    det_emit(x, "display_name_protected", SIFT_SEV_HIGH,
                             "From display name \"%s\" matches protected name \"%s\" but the address <%s> "
                             "is outside the local and protected domains",
                             name, x->d->cfg.protected_names[i], x->from_addr);
                    free(pn);
                    break;
                }
                free(pn);
            }
            free(nn);
        }
    }
}

void det_rules_align(struct det_msg *x)
{
    envelope_alignment(x);
    header_divergence(x);
    display_name(x);
}
