/* JSON views of store rows as the API presents them (Train, EdgeController, TrainStatus),
 * shared by the HTTP handlers and export. All return new references, NULL on failure. */
#ifndef ROUNDHOUSE_API_VIEWS_H
#define ROUNDHOUSE_API_VIEWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "presence.h"

struct central;

/* ISO-8601 UTC string for an integer seconds value, null for null/absent. */
json_t *view_time(const json_t *seconds);
/* Presence of a controller row at now (see presence.h): its last_seen, and whether the MQTT
 * will of its current session was received. */
enum presence view_presence(struct central *c, const json_t *row, int64_t now);
/* The same rule for a row of the presence scan (store_controller_presence_scan). */
struct store_presence_row;
enum presence view_presence_scanned(struct central *c, const struct store_presence_row *row,
                                    int64_t now);
json_t *view_status(const json_t *status_row);
/* view_status, with "controller_status" (presence of the reporting controller, else of
 * fallback_controller) and state "offline" when that controller is offline or unknown.
 * Reads through the store: call inside a transaction. */
json_t *view_status_live(struct central *c, const json_t *status_row,
                         const char *fallback_controller);
/* The live status of a train row (view_status_live of its status row): a train that never
 * reported has the zero status (speed 0, stopped) from its registration on. 0 with *out a
 * new reference, or a negative errno of the store. */
int view_train_status(struct central *c, const json_t *train_row, json_t **out);
json_t *view_train(struct central *c, const json_t *row, bool with_status);
json_t *view_controller(struct central *c, const json_t *row, int64_t now, bool with_trains);
/* view_controller with its trains given: the rows of its trains (store_train_list order;
 * NULL: none), for a page that read the trains of all its controllers in one query. */
json_t *view_controller_with(struct central *c, const json_t *row, int64_t now,
                             const json_t *train_rows);

/* Whether a controller reports the trains it runs in its heartbeats (a Roundhouse edge does;
 * the earlier system's does not: its metadata says reports_placement false). Unknown counts
 * as reporting. */
bool view_reports_placement(const json_t *controller_row);

#endif
