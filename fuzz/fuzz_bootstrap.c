/* The bootstrap YAML file: YAML parsing into JSON, then validation of the earlier
 * config.yaml structure. */
#include <stdint.h>
#include <stdlib.h>

#include "bootstrap.h"
#include "yamljson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *tree = NULL, *doc = NULL;
    char err[256];
    if (yamljson_load_buffer((const char *)data, size, &tree, err, sizeof err) == 0) {
        if (bootstrap_parse(tree, &doc, err, sizeof err) == 0 && !json_is_object(doc))
            abort();
        json_decref(doc);
        json_decref(tree);
    }
    return 0;
}
