/* jsonr against jansson: whatever jsonr_subset reads, json_loadb reads to an equal value (the
 * same types: an integer is not equal to a real), and jsonr_loadb is json_loadb. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "jsonr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_t *fast = jsonr_subset(text, size);
    json_t *ref = json_loadb(text, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if (fast != NULL && (ref == NULL || !json_equal(fast, ref)))
        abort();
    json_t *both = jsonr_loadb(text, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if ((both == NULL) != (ref == NULL) || (both != NULL && !json_equal(both, ref)))
        abort();
    json_decref(fast);
    json_decref(ref);
    json_decref(both);
    return 0;
}
