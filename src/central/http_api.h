/* Routes of the central's REST API (docs/api.md) and their handlers. */
#ifndef ROUNDHOUSE_HTTP_API_H
#define ROUNDHOUSE_HTTP_API_H

#include "http_server.h"

struct central;

/* The http_handler_fn for struct http_server_config; ctx is the struct central. */
void http_api_handle(void *ctx, const struct http_request *req, struct http_response *resp);
/* The observe callback of struct http_server_config: feeds the request metrics. */
void http_api_observe(void *ctx, const char *method, const char *route, unsigned status,
                      double seconds);
/* The raw_body callback of struct http_server_config: PUT /api/trains/{id}/photo. */
bool http_api_raw_body(const char *method, const char *url);

#endif
