#include "registry.h"

#include <string.h>
#include <strings.h>

#include "secret.h"

struct registry_decision registry_match(bool uuid_given, bool uuid_known,
                                        const struct registry_candidate *candidates,
                                        size_t ncandidates)
{
    struct registry_decision d = {REGISTRY_CREATE, 0};
    if (uuid_given) {
        d.action = uuid_known ? REGISTRY_REACTIVATE : REGISTRY_RESTORE;
        return d;
    }
    for (size_t i = 0; i < ncandidates; i++) {
        if (candidates[i].same_address && !candidates[i].secured) {
            d.action = REGISTRY_ADOPT;
            d.adopt_index = i;
            return d;
        }
    }
    for (size_t i = 0; i < ncandidates; i++) {
        if (candidates[i].presence != PRESENCE_ONLINE && !candidates[i].secured) {
            d.action = REGISTRY_ADOPT;
            d.adopt_index = i;
            return d;
        }
    }
    return d;
}

bool registry_same_address(const char *stored, const char *requested)
{
    return stored != NULL && requested != NULL && stored[0] != '\0' &&
           strcasecmp(stored, "unknown") != 0 && strcmp(stored, requested) == 0;
}

const char *registry_status_name(enum registry_action a)
{
    switch (a) {
    case REGISTRY_REACTIVATE:
        return "reactivated";
    case REGISTRY_RESTORE:
        return "restored";
    case REGISTRY_ADOPT:
        return "existing";
    default:
        return "registered";
    }
}

int64_t registry_seed_config_version(int64_t current, int64_t applied)
{
    if (current < 1)
        current = 1;
    if (applied > current)
        return applied + 1;
    return current;
}

int64_t registry_restore_config_version(int64_t applied)
{
    return applied >= 1 ? applied + 1 : 1;
}

int64_t registry_session_epoch(int64_t current, int64_t announced)
{
    int64_t epoch = current + 1;
    return announced > epoch ? announced : epoch;
}

enum registry_secret_check registry_secret_check(const char *stored_hash, const char *presented)
{
    if (stored_hash == NULL)
        return REGISTRY_SECRET_OK;
    if (presented == NULL)
        return REGISTRY_SECRET_MISSING;
    return secret_matches(presented, stored_hash) ? REGISTRY_SECRET_OK : REGISTRY_SECRET_WRONG;
}

enum registry_secret_step registry_secret_step(enum registry_action a, bool on_record,
                                               bool presented, bool asked)
{
    if (a == REGISTRY_REACTIVATE && on_record)
        return REGISTRY_SECRET_KEEP;
    if (presented && (a == REGISTRY_REACTIVATE || a == REGISTRY_RESTORE))
        return REGISTRY_SECRET_ADOPT;
    return asked ? REGISTRY_SECRET_ISSUE : REGISTRY_SECRET_KEEP;
}

const char *registry_reassignment_status(const char *desired, const char *actual, bool conflict)
{
    if (conflict)
        return "conflict";
    if (desired == NULL && actual == NULL)
        return "complete";
    if (desired != NULL && actual != NULL && strcmp(desired, actual) == 0)
        return "complete";
    if (actual != NULL)
        return "pending";
    return "in_progress";
}

bool registry_train_deliverable(const char *controller_id, const char *actual,
                                enum presence actual_presence)
{
    if (actual == NULL || strcmp(actual, controller_id) == 0)
        return true;
    return actual_presence == PRESENCE_OFFLINE || actual_presence == PRESENCE_UNKNOWN;
}
