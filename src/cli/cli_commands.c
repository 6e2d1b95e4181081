/* The command table of `roundhouse` (cli_commands.h): each command's synopsis and argument
 * count, --help's list, and the dispatch that checks a command line before any command runs.
 * The commands live by family in cli_controllers.c, cli_trains.c, cli_drive.c, cli_backup.c
 * and cli_accounts.c; `health` is here. */
#include "cli_commands.h"

#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "cli_accounts.h"
#include "cli_api.h"
#include "cli_backup.h"
#include "cli_controllers.h"
#include "cli_drive.h"
#include "cli_trains.h"
#include "views.h"

typedef int (*command_fn)(struct cli *c, int argc, char **argv);

struct command {
    const char *name;
    const char *args;
    const char *help;
    int min_args, max_args;
    command_fn run;
};

/* The central answers /health with 503 and a health document (not an error body) when its
 * database is unusable: that document is the answer to show, and the exit status says
 * whether everything is healthy, so that monitoring scripts can use it directly. */
static int cmd_health(struct cli *c, int argc, char **argv)
{
    struct cli_answer a = {0};
    int rc = cli_api_request(c, "GET", "/health", NULL, &a);
    if (rc != CLI_EXIT_OK)
        goto out;
    const char *status = json_string_value(json_object_get(a.doc, "status"));
    bool health_doc =
        json_is_object(a.doc) && status != NULL && (a.reply.status == 200 || a.reply.status == 503);
    if (!health_doc) {
        rc = a.reply.status >= 200 && a.reply.status <= 299
                 ? cli_fail(c, "unexpected answer from %s/health", http_client_base(c->http))
                 : cli_api_fail_http(c, a.reply.status, a.doc);
        goto out;
    }
    rc = c->opt.json ? cli_print_raw(c, &a.reply)
                     : cli_print_view(c, views_health_print(c->out, a.doc));
    if (rc == CLI_EXIT_OK && strcmp(status, "healthy") != 0) {
        const char *reason = json_string_value(json_object_get(a.doc, "reason"));
        rc = cli_fail(c, "the central is %s%s%s", status, reason ? ": " : "", reason ? reason : "");
    }
out:
    cli_answer_clear(&a);
    return rc;
}

static const struct command commands[] = {
    {"controllers", "", "list controllers", 0, 0, cli_cmd_controllers},
    {"controller", "CONTROLLER", "details of one controller and its trains", 1, 1,
     cli_cmd_controller},
    {"trains", "", "list trains with their last reported status", 0, 0, cli_cmd_trains},
    {"train", "TRAIN", "details of one train", 1, 1, cli_cmd_train},
    {"status", "TRAIN", "last status the train reported", 1, 1, cli_cmd_status},
    {"assign", "TRAIN CONTROLLER|none [--force]", "move a train to a controller; none unassigns it",
     2, 2, cli_cmd_assign},
    {"rename-train", "TRAIN NAME", "change a train's display name", 2, 2, cli_cmd_rename_train},
    {"add-train", "CONTROLLER TRAIN NAME [MOTOR_PORT] [KEY=VALUE...]",
     "add a train to a controller (MOTOR_PORT 1-4: the DC-motor HAT's port; invert=yes|no, "
     "address=N, model=, description=, plugin=NAME, config=JSON)",
     3, 10, cli_cmd_add_train},
    {"set-address", "TRAIN 1-9999", "set the number a throttle (WiThrottle) knows the train by", 2,
     2, cli_cmd_set_address},
    {"delete-train", "TRAIN", "stop a train and delete it", 1, 1, cli_cmd_delete_train},
    {"set-driving", "TRAIN KEY=VALUE...|none",
     "acceleration_s, braking_s (seconds for 0-100), min_speed, max_speed, start_resumes=yes|no", 2,
     6, cli_cmd_set_driving},
    {"rename-controller", "CONTROLLER NAME", "change a controller's name", 2, 2,
     cli_cmd_rename_controller},
    {"describe-controller", "CONTROLLER TEXT", "set a controller's description (\"\" clears it)", 2,
     2, cli_cmd_describe_controller},
    {"enable", "CONTROLLER", "let a disabled controller drive its trains again", 1, 1,
     cli_cmd_enable},
    {"disable", "CONTROLLER", "stop a controller's trains and keep them from being driven", 1, 1,
     cli_cmd_disable},
    {"delete-controller", "CONTROLLER", "stop its trains, unassign them, delete the controller", 1,
     1, cli_cmd_delete_controller},
    {"prune", "DURATION", "delete every controller offline for DURATION or more (90, 30m, 12h, 7d)",
     1, 1, cli_cmd_prune},
    {"speed", "TRAIN 0-100 [--direction forward|reverse]", "set a train's speed", 2, 2,
     cli_cmd_speed},
    {"stop", "TRAIN", "stop a train (ramps down)", 1, 1, cli_cmd_stop},
    {"estop", "[TRAIN]", "emergency stop: one train, or without TRAIN every train", 0, 1,
     cli_cmd_estop},
    {"export", "FILE|-", "write the whole registry as JSON (atomically; - = stdout)", 1, 1,
     cli_cmd_export},
    {"import", "FILE|-", "create or update everything in an export (- = stdin)", 1, 1,
     cli_cmd_import},
    {"import-legacy", "FILE", "import the earlier system's SQLite database (UUIDs kept)", 1, 1,
     cli_cmd_import_legacy},
    {"resume", "", "let trains be driven again after a layout emergency stop", 0, 0,
     cli_cmd_resume},
    {"health", "", "service health; exit 1 unless healthy", 0, 0, cmd_health},
    {"user", "list|add NAME [ROLE]|remove NAME|passwd NAME",
     "operator accounts (--auth); ROLE: viewer (default), operator, admin", 1, 3, cli_cmd_user},
    {"token", "list|create LABEL [USER]|revoke ID",
     "API tokens (--auth); create prints the token once, for ROUNDHOUSE_TOKEN", 1, 3,
     cli_cmd_token},
    {"whoami", "", "the account the central sees this command as (--auth)", 0, 0, cli_cmd_whoami},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

void cli_commands_usage(FILE *out)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char synopsis[96];
        snprintf(synopsis, sizeof synopsis, "%s%s%s", commands[i].name,
                 commands[i].args[0] ? " " : "", commands[i].args);
        /* Long synopses get their own line so that the help column stays aligned. */
        if (strlen(synopsis) > 28)
            fprintf(out, "  %s\n  %-28s  %s\n", synopsis, "", commands[i].help);
        else
            fprintf(out, "  %-28s  %s\n", synopsis, commands[i].help);
    }
}

int cli_commands_run(struct cli *c)
{
    const char *name = c->opt.argv[0];
    const struct command *cmd = NULL;
    for (size_t i = 0; i < NCOMMANDS && cmd == NULL; i++)
        if (strcmp(commands[i].name, name) == 0)
            cmd = &commands[i];
    if (cmd == NULL)
        return cli_usage(c, "unknown command '%s'", name);
    int nargs = c->opt.argc - 1;
    if (nargs < cmd->min_args || nargs > cmd->max_args)
        return cli_usage(c, "wrong number of arguments; usage: roundhouse %s%s%s", cmd->name,
                         cmd->args[0] ? " " : "", cmd->args);
    if (c->opt.direction != NULL && cmd->run != cli_cmd_speed)
        return cli_usage(c, "--direction only applies to the speed command");
    if (c->opt.force && cmd->run != cli_cmd_assign)
        return cli_usage(c, "--force only applies to the assign command");
    if ((c->opt.limit > 0 || c->opt.name != NULL || c->opt.presence != NULL) &&
        cmd->run != cli_cmd_controllers && cmd->run != cli_cmd_trains)
        return cli_usage(c, "--limit, --name and --presence only apply to the controllers and "
                            "trains commands");
    return cmd->run(c, nargs, c->opt.argv + 1);
}
