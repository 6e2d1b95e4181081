/* MQTT payloads the central ingests: train status and controller presence. First byte picks
 * the topic, the rest is the payload. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "central.h"
#include "events.h"
#include "log.h"
#include "longpoll.h"
#include "notify.h"
#include "store.h"

static struct central c;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (c.store == NULL) {
        char *argv[] = {"fuzz_mqtt_ingest", NULL};
        char err[256];
        central_options_parse(&c.opts, 1, argv);
        log_setup(RH_LOG_ERROR + 1, LOG_FORMAT_JSON);
        if (store_open(":memory:", STORE_SCHEMA_VERSION, &c.store, err, sizeof err) < 0)
            abort();
        c.events = events_new(64, 4, 4);
        json_t *ctl =
            json_pack("{s:s, s:s, s:i, s:i, s:I, s:I}", "id",
                      "0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a2e", "name", "fuzz", "session_epoch", 3,
                      "last_seen", 1, "created_at", (json_int_t)1, "updated_at", (json_int_t)1);
        json_t *train = json_pack("{s:s, s:s, s:s, s:{}, s:s, s:I, s:I}", "id", "t1", "name",
                                  "Fuzz", "plugin_name", "simulator", "plugin_config",
                                  "desired_controller_id", "0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a2e",
                                  "created_at", (json_int_t)1, "updated_at", (json_int_t)1);
        store_begin(c.store, true);
        store_controller_insert(c.store, ctl);
        store_train_insert(c.store, train);
        store_commit(c.store);
        json_decref(ctl);
        json_decref(train);
    }
    if (size < 1)
        return 0;
    static const char *const topics[] = {
        "trains/t1/status",
        "trains/unknown/status",
        "controllers/0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a2e/presence",
        "controllers/not-a-uuid/presence",
    };
    notify_ingest(&c, topics[data[0] % 4], data + 1, size - 1);
    return 0;
}
