/* detect_lookalike.c — look-alike sender domains: confusables (UTS #39 skeletons
 * through ICU's spoof checker), mixed scripts, punycode/IDN (UTS #46, RFC 5891)
 * and small edit distances of the registrable label, against the local and
 * protected domains and domains seen legitimately earlier in the run. The only
 * file that includes ICU. It does not resolve names or judge a domain's age. */
#include "detect_int.h"

#include <unicode/uidna.h>
#include <unicode/uspoof.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct la {
    USpoofChecker *skel;    /* skeletons */
    USpoofChecker *mixed;   /* restriction level: highly restrictive (UTS #39 §5.2) */
    UIDNA *idna;
    int failed;             /* ICU could not be set up: rules that need it are skipped */
};

void det_lookalike_free(void *p)
{
    struct la *la = p;
    if (!la) return;
    if (la->skel) uspoof_close(la->skel);
    if (la->mixed) uspoof_close(la->mixed);
    if (la->idna) uidna_close(la->idna);
    free(la);
}

void *det_lookalike_new(void)
{
    struct la *la = sift_xcalloc(1, sizeof *la);
    UErrorCode e = U_ZERO_ERROR;
    la->skel = uspoof_open(&e);
    if (U_SUCCESS(e)) la->mixed = uspoof_open(&e);
    if (U_SUCCESS(e)) {
        uspoof_setChecks(la->mixed, USPOOF_RESTRICTION_LEVEL, &e);
        uspoof_setRestrictionLevel(la->mixed, USPOOF_HIGHLY_RESTRICTIVE);
    }
    if (U_SUCCESS(e)) la->idna = uidna_openUTS46(UIDNA_DEFAULT, &e);
    if (U_FAILURE(e)) la->failed = 1;
    return la;
}

static int non_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80) return 1;
    return 0;
}

/* Unicode form of a domain (xn-- labels decoded, UTS #46 mapped), or a copy. */
static char *to_unicode(struct la *la, const char *dom)
{
    if (la->failed) return sift_xstrdup(dom);
    char out[1024];
    UErrorCode e = U_ZERO_ERROR;
    UIDNAInfo info = UIDNA_INFO_INITIALIZER;
    int32_t n = uidna_nameToUnicodeUTF8(la->idna, dom, -1, out, (int32_t)sizeof out - 1, &info, &e);
    if (U_FAILURE(e) || n <= 0 || n >= (int32_t)sizeof out) return sift_xstrdup(dom);
    out[n] = '\0';
    return sift_xstrdup(out);
}

char *det_to_unicode(const struct sift_detect *d, const char *dom)
{
    return to_unicode(d->la, dom);
}

char *det_to_ascii(const struct sift_detect *d, const char *dom)
{
    struct la *la = d->la;
    if (la->failed || !non_ascii(dom)) return sift_xstrdup(dom);
    char out[1024];
    UErrorCode e = U_ZERO_ERROR;
    UIDNAInfo info = UIDNA_INFO_INITIALIZER;
    int32_t n = uidna_nameToASCII_UTF8(la->idna, dom, -1, out, (int32_t)sizeof out - 1, &info, &e);
    if (U_FAILURE(e) || n <= 0 || n >= (int32_t)sizeof out) return sift_xstrdup(dom);
    out[n] = '\0';
    return sift_xstrdup(out);
}

static char *skeleton(struct la *la, const char *s)
{
    if (la->failed) return sift_xstrdup(s);
    char out[2048];
    UErrorCode e = U_ZERO_ERROR;
    int32_t n = uspoof_getSkeletonUTF8(la->skel, 0, s, -1, out, (int32_t)sizeof out - 1, &e);
    if (U_FAILURE(e) || n < 0 || n >= (int32_t)sizeof out) return sift_xstrdup(s);
    out[n] = '\0';
    return sift_xstrdup(out);
}

/* The registrable label: "paypal" of "paypal.co.uk". Caller frees. */
static char *first_label(const char *org)
{
    const char *dot = strchr(org, '.');
    return dot ? sift_xstrndup(org, (size_t)(dot - org)) : sift_xstrdup(org);
}

/* Edit distance allowed between labels of these lengths: 1 from 4 characters,
 * 2 from 9 (shorter names are too often near each other by chance). */
static unsigned allowed_distance(size_t len)
{
    return len >= 9 ? 2 : len >= 4 ? 1 : 0;
}

enum target_kind { T_LOCAL, T_PROTECTED, T_SEEN };
static const char *kind_name[] = { "local domain", "protected domain", "domain seen earlier in this capture" };

/* Compare one sender domain with one target; emits and returns 1 on a match. */
static int compare(struct det_msg *x, struct la *la, const char *role, const char *dom, const char *org,
                   const char *uorg, const char *uskel, const char *target, enum target_kind kind)
{
    char *torg = sift_detect_org_domain(x->d, target);
    int hit = 0;
    if (strcmp(torg, org) != 0) {
        char *tu = to_unicode(la, torg);
        char *tskel = skeleton(la, tu);
        const char *rule = kind == T_SEEN ? "lookalike_domain_seen" : NULL;
        enum sift_severity sev = kind == T_SEEN ? SIFT_SEV_MEDIUM : SIFT_SEV_HIGH;
        if (!strcmp(uskel, tskel) && strcmp(uorg, tu) != 0) {
            det_emit(x, rule ? rule : "lookalike_domain_confusable", sev,
                     "%s domain %s is confusable with %s %s (same UTS 39 skeleton \"%s\")",
                     role, dom, kind_name[kind], torg, tskel);
            hit = 1;
        } else {
            char *a = first_label(org), *b = first_label(torg);
            unsigned cap = allowed_distance(strlen(b));
            unsigned dist = cap ? sift_detect_edit_distance(a, b, cap) : 1;
            if (cap && dist >= 1 && dist <= cap) {
                det_emit(x, rule ? rule : "lookalike_domain_edit", sev,
                         "%s domain %s is %u edit%s from %s %s (label \"%s\" vs \"%s\")",
                         role, dom, dist, dist == 1 ? "" : "s", kind_name[kind], torg, a, b);
                hit = 1;
            }
            free(a);
            free(b);
        }
        free(tu);
        free(tskel);
    }
    free(torg);
    return hit;
}

static void check_domain(struct det_msg *x, struct la *la, const char *role, const char *udom)
{
    struct sift_detect *d = x->d;
    if (!udom || strchr(udom, ':') || !strchr(udom, '.')) return;    /* address literals, bare names */
    /* evidence shows an IDN both ways: "pаypal.com (xn--pypal-4ve.com)" */
    char dom[600];
    char *ace = det_to_ascii(d, udom);
    if (strcmp(ace, udom)) snprintf(dom, sizeof dom, "%s (%s)", udom, ace);
    else snprintf(dom, sizeof dom, "%s", udom);
    free(ace);
    if (det_is_local_domain(d, udom)) return;
    char *org = sift_detect_org_domain(d, udom);
    for (size_t i = 0; i < d->cfg.n_protected_domains; i++)
        if (!strcmp(org, d->cfg.protected_domains[i])) { free(org); return; }
    char *uorg = to_unicode(la, org);
    char *uskel = skeleton(la, uorg);
    int hit = 0;

    if (!la->failed && (non_ascii(uorg))) {
        UErrorCode e = U_ZERO_ERROR;
        int32_t r = uspoof_check2UTF8(la->mixed, uorg, -1, NULL, &e);
        if (U_SUCCESS(e) && (r & USPOOF_RESTRICTION_LEVEL))
            det_emit(x, "lookalike_domain_mixed_script", SIFT_SEV_MEDIUM,
                     "%s domain %s mixes scripts (fails the UTS 39 highly restrictive level)", role, dom);
    }
    for (size_t i = 0; i < d->cfg.n_local_domains && !hit; i++)
        hit = compare(x, la, role, dom, org, uorg, uskel, d->cfg.local_domains[i], T_LOCAL);
    for (size_t i = 0; i < d->cfg.n_protected_domains && !hit; i++)
        hit = compare(x, la, role, dom, org, uorg, uskel, d->cfg.protected_domains[i], T_PROTECTED);
    int known = 0;
    for (size_t i = 0; i < d->n_seen && !known; i++) known = !strcmp(d->seen[i], org);
    for (size_t i = 0; i < d->n_seen && !hit && !known; i++)
        hit = compare(x, la, role, dom, org, uorg, uskel, d->seen[i], T_SEEN);
    free(uskel);
    free(uorg);
    free(org);
}

void det_rules_lookalike(struct det_msg *x)
{
    if (!x->from_domain && !x->env_domain) return;
    struct la *la = x->d->la;
    if (x->from_domain) check_domain(x, la, "From", x->from_domain);
    if (x->env_domain && (!x->from_org || strcmp(x->env_org, x->from_org) != 0))
        check_domain(x, la, "MAIL FROM", x->env_domain);
}
