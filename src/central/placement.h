/* Which trains a controller runs, and the handover between controllers (registry.h,
 * registry_train_deliverable). Both functions work inside an open store transaction. */
#ifndef ROUNDHOUSE_PLACEMENT_H
#define ROUNDHOUSE_PLACEMENT_H

#include <jansson.h>
#include <stdint.h>

struct central;
struct store;

/* The train rows that go into the runtime config at now of the controller whose row is self
 * (as the store returns it): assigned to it, and not still held by another live controller. */
int placement_runtime_trains(struct central *c, struct store *st, const json_t *self, int64_t now,
                             json_t **out);
/* Controller holder_id released its trains or stopped being live: every train it still holds
 * that is assigned elsewhere becomes deliverable, so the new owners' config versions rise
 * (and they are notified after commit). */
int placement_release(struct central *c, struct store *st, const char *holder_id, int64_t now);

/* Whether controller_id's runtime config, with every train assigned to it (the handover may
 * hold some back for now, not for ever), is still one an edge can run: at most
 * PROTO_CONTROLLER_TRAINS_MAX trains and PROTO_RUNTIME_CONFIG_MAX bytes. 0; -E2BIG for too
 * many trains; -EFBIG for too large a document; or a store error. */
int placement_config_fits(struct central *c, struct store *st, const char *controller_id);

#endif
