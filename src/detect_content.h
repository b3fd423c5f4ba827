/* detect_content.h — findings about what a message carries: attachments
 * whose bytes are not what they are declared to be, executables, double
 * extensions, links whose text shows another domain. Pure functions. */
#ifndef SIFT_DETECT_CONTENT_H
#define SIFT_DETECT_CONTENT_H

#include "mime.h"

/* Reports through finding (user passed back; where is NULL):
 *  attachment_type_mismatch  (medium; high if the bytes are an executable)
 *  attachment_executable     (high if the bytes are an executable, else medium: name only)
 *  attachment_double_extension (high) e.g. "invoice.pdf.exe"
 *  link_text_mismatch        (medium) <a href="http://evil.example">www.bank.example</a>
 * Details quote at most 200 bytes of any attacker string. */
void sift_detect_content(const struct sift_mime_summary *m, sift_finding_fn finding, void *user);

/* Building blocks, exposed for tests. */
int sift_detect_is_executable_type(const char *mime_type);        /* 1 for PE/ELF/Mach-O MIME types */
int sift_detect_double_extension(const char *filename);          /* 1 for "x.pdf.exe" shapes */
int sift_detect_types_disagree(const char *declared, const char *real);

#endif
