/* The fleet's results for people (a table) and for scripts (one JSON document). */
#ifndef ROUNDHOUSE_FLEET_REPORT_H
#define ROUNDHOUSE_FLEET_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "fleet.h"
#include "fleet_options.h"

/* Builds the JSON document (new reference; NULL on allocation failure). Sorts the samples. */
json_t *report_json(const struct fleet_options *o, struct fleet_result *r);
/* Writes the document as indented JSON, or the table. 0 or -EIO. */
int report_print(FILE *out, const struct fleet_options *o, struct fleet_result *r);

#endif
