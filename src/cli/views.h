/* Human views of the central's JSON documents: tables of controllers and trains, and
 * "key: value" details of one controller, train, train status or the service health.
 * Plain functions of the documents and the local time zone (TZ): `--json` shows scripts the
 * documents themselves, so nothing here may be needed to read them.
 *
 * Absent or null values print as "-". Documents of an unexpected shape print what they
 * have rather than fail. All print functions return 0, -ENOMEM or -EIO (write error). */
#ifndef ROUNDHOUSE_CLI_VIEWS_H
#define ROUNDHOUSE_CLI_VIEWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* GET /api/controllers: NAME, ID, STATUS, ADDRESS, LAST SEEN, CONFIG, TRAINS. */
int views_controllers_print(FILE *out, const json_t *controllers);
/* GET /api/controllers/{id}. */
int views_controller_print(FILE *out, const json_t *controller);
/* GET /api/trains: ID, NAME, CONTROLLER, PLACEMENT, SPEED, DIRECTION, STATE. controllers
 * (GET /api/controllers, may be NULL) turns controller UUIDs into names. */
int views_trains_print(FILE *out, const json_t *trains, const json_t *controllers);
/* GET /api/trains/{id}; controllers as above. */
int views_train_print(FILE *out, const json_t *train, const json_t *controllers);
/* GET /api/trains/{id}/status; controllers as above. */
int views_status_print(FILE *out, const json_t *status, const json_t *controllers);
/* GET /health. */
int views_health_print(FILE *out, const json_t *health);

/* An API timestamp (ISO-8601 UTC) as local "YYYY-MM-DD HH:MM:SS", with the zone's
 * abbreviation when zone is set. Returns buf, the string itself when it does not parse, or
 * none when iso is not a string. */
const char *views_time_local(const json_t *iso, bool zone, const char *none, char *buf, size_t len);

/* Name of the controller with UUID id in a GET /api/controllers list, or NULL. */
const char *views_controller_name(const json_t *controllers, const char *id);

#endif
