#include "canon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

int canon_dump(const json_t *doc, char **out)
{
    if (doc == NULL)
        return -EINVAL;
    /* Sorted keys and jansson's compact separators (",", ":"); UTF-8 is kept as is (no
     * \u escapes), so the text is the same whichever side serialises it. */
    char *text = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL)
        return -ENOMEM;
    *out = text;
    return 0;
}

int canon_checksum(const json_t *doc, char out[CANON_CHECKSUM_LEN + 1])
{
    if (!json_is_object(doc))
        return -EINVAL;
    json_t *copy = json_copy((json_t *)doc);
    if (copy == NULL)
        return -ENOMEM;
    json_object_del(copy, "checksum");
    char *text = NULL;
    int rc = canon_dump(copy, &text);
    json_decref(copy);
    if (rc < 0)
        return rc;
    canon_text_checksum(text, strlen(text), out);
    free(text);
    return 0;
}

void canon_text_checksum(const char *text, size_t len, char out[CANON_CHECKSUM_LEN + 1])
{
    memcpy(out, "sha256:", sizeof "sha256:"); /* its NUL is overwritten next */
    sha256_hex(text, len, out + 7);
}
