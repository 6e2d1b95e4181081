/* Command line of roundhouse-fleet (docs/cli.md). */
#ifndef ROUNDHOUSE_FLEET_OPTIONS_H
#define ROUNDHOUSE_FLEET_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"
#include "protocol.h"

enum fleet_scenario { FLEET_BOOT_STORM = 0, FLEET_STEADY, FLEET_REASSIGN };

#define FLEET_MAX_CONTROLLERS 100000
#define FLEET_MAX_TRAINS_PER_CONTROLLER 64              /* the central's heartbeat limit */
#define FLEET_CENTRAL_TRAINS_MAX PROTO_TRAIN_NUMBER_MAX /* the central numbers trains */

struct fleet_options {
    char central[512]; /* base URL, no trailing '/' */
    char mqtt_host[256];
    int mqtt_port;
    long controllers;
    int trains_per_controller;
    long trained_controllers; /* those with index < this carry the trains; the rest none */
    double duration_s;
    enum fleet_scenario scenario;
    bool json;
    uint64_t seed;
    int http_connections;
    double heartbeat_interval_s; /* 0: the interval the central hands out */
    int mqtt_keepalive_s;
    int mqtt_connecting_max; /* MQTT connections being opened at once */
    long central_pid;        /* 0: look the central up by its port */
    double boot_timeout_s;
    int reassign_inflight;
    long shard, shards; /* --shard K/M: simulate the controllers with index % M == K */
    enum log_level log_level;
    enum log_format log_format;
};

const char *fleet_scenario_name(enum fleet_scenario s);
void fleet_options_usage(FILE *out);
/* Trains the controller with index idx registers: --trains-per-controller for the first
 * --trained-controllers, 0 for the others. */
int fleet_trains_of(const struct fleet_options *o, long idx);
/* 0 when the fleet should run, 1 when --help or --version was printed on out, -EINVAL on
 * bad usage (message on err). o is written only on 0. */
int fleet_options_parse(int argc, char **argv, struct fleet_options *o, FILE *out, FILE *err);

#endif
