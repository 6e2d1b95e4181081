/* Request bodies of every endpoint that takes one, through the real handlers and a real
 * (in-memory) SQLite store. Input: first byte picks the route, the rest is the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "central.h"
#include "events.h"
#include "http_api.h"
#include "layout.h"
#include "log.h"
#include "longpoll.h"
#include "store.h"

static struct central c;
static char uuid[37];

/* path = prefix, then (when suffix is not NULL) the controller created at start and suffix. */
static const struct {
    const char *method;
    const char *prefix;
    const char *suffix;
} routes[] = {
    {"POST", "/api/controllers/register", NULL},
    {"POST", "/api/controllers/", "/heartbeat"},
    {"POST", "/api/controllers/", "/trains"},
    {"POST", "/api/trains", NULL},
    {"PUT", "/api/trains/t1", NULL},
    {"PATCH", "/api/controllers/", ""},
    {"POST", "/api/import", NULL},
    {"POST", "/api/trains/t1/command", NULL},
    {"POST", "/api/status/update", NULL},
    {"POST", "/api/emergency-stop", NULL},
    {"GET", "/api/controllers/", "/config"},
};

static void call(const char *method, const char *path, const char *body, size_t len,
                 struct http_response *resp)
{
    json_t *headers = json_pack("{s:s}", "Content-Type", "application/json");
    json_t *query = json_pack("{s:s, s:s}", "wait", "0", "version", "1");
    struct http_request req = {.method = method,
                               .path = path,
                               .body = body,
                               .body_len = len,
                               .fake_headers = headers,
                               .fake_query = query};
    snprintf(req.client_ip, sizeof req.client_ip, "127.0.0.1");
    http_api_handle(&c, &req, resp);
    json_decref(headers);
    json_decref(query);
}

static void init(void)
{
    char *argv[] = {"fuzz_api", NULL};
    char err[256];
    central_options_parse(&c.opts, 1, argv);
    log_setup(RH_LOG_ERROR + 1, LOG_FORMAT_JSON); /* quiet */
    if (store_open(":memory:", STORE_SCHEMA_VERSION, &c.store, err, sizeof err) < 0)
        abort();
    c.events = events_new(64, 4, 4);
    c.longpoll = longpoll_new(4);
    if (layout_init(&c) < 0)
        abort();
    struct http_response resp = {0};
    const char reg[] = "{\"name\":\"fuzz\",\"address\":\"127.0.0.1\"}";
    call("POST", "/api/controllers/register", reg, sizeof reg - 1, &resp);
    /* The registration's answer is written as text (http_response_pack). */
    json_t *answer = json_loads(resp.text != NULL ? resp.text : "{}", 0, NULL);
    snprintf(uuid, sizeof uuid, "%s", json_string_value(json_object_get(answer, "uuid")));
    json_decref(answer);
    json_decref(resp.json);
    free(resp.text);
    char path[128];
    snprintf(path, sizeof path, "/api/controllers/%s/trains", uuid);
    const char train[] = "{\"train_id\":\"t1\",\"name\":\"Fuzz\"}";
    memset(&resp, 0, sizeof resp);
    call("POST", path, train, sizeof train - 1, &resp);
    json_decref(resp.json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (c.store == NULL)
        init();
    if (size < 1 || size > 70000)
        return 0;
    size_t r = data[0] % (sizeof routes / sizeof routes[0]);
    char path[128];
    snprintf(path, sizeof path, "%s%s%s", routes[r].prefix, routes[r].suffix ? uuid : "",
             routes[r].suffix ? routes[r].suffix : "");
    char *body = malloc(size);
    if (body == NULL)
        return 0;
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0';
    struct http_response resp = {0};
    call(routes[r].method, path, body, size - 1, &resp);
    /* Every answer is a valid HTTP status with, for errors, a JSON body naming the problem. */
    if (resp.status < 200 || resp.status > 599)
        abort();
    if (resp.status >= 400 && !json_is_string(json_object_get(resp.json, "detail")))
        abort();
    json_decref(resp.json);
    free(resp.text);
    free(body);
    return 0;
}
