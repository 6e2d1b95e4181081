#include "cli_options.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "cli_commands.h"
#include "parse.h"

/* Longest --timeout: beyond an hour a hung request is better ended by the operator. */
#define TIMEOUT_MAX_S 3600.0

void cli_options_usage(FILE *out)
{
    fputs("Usage: roundhouse [OPTIONS] COMMAND [ARGS...]\n"
          "\n"
          "Command-line client of the Roundhouse central API: inspect controllers and trains,\n"
          "assign trains, send speed and stop commands, export and import the registry.\n"
          "\n"
          "Options (anywhere on the line; `--` ends them):\n"
          "  --central URL      central API base URL (ROUNDHOUSE_CENTRAL; default: the first\n"
          "                     central found on the network by DNS-SD within 3 s, through\n"
          "                     avahi-daemon)\n"
          "  --ca FILE          PEM CA certificates for an https:// central (ROUNDHOUSE_CA;\n"
          "                     default the system's trust store)\n"
          "  --json             print the API's JSON documents unchanged instead of tables\n"
          "  --timeout SEC      limit for each request, connecting included (default 10)\n"
          "  --direction DIR    for `speed`: forward or reverse\n"
          "  --force            for `assign`: move at once, without waiting for the old\n"
          "                     controller to release the train (it may still drive it)\n"
          "  --limit N          for `controllers`, `trains`: list at most N\n"
          "  --name TEXT        for `controllers`, `trains`: only names containing TEXT\n"
          "                     (upper and lower case ASCII letters alike)\n"
          "  --presence LIST    for `controllers`: only these states; for `trains`: only\n"
          "                     trains whose controller is in one (online, stale, offline,\n"
          "                     unknown, comma-separated)\n"
          "  -h, --help         this text\n"
          "  -V, --version      program version\n"
          "\n"
          "Commands:\n",
          out);
    cli_commands_usage(out);
    fputs("\n"
          "CONTROLLER is a controller UUID or its unique name; `none` (in `assign`) unassigns.\n"
          "Against a central started with --auth: ROUNDHOUSE_TOKEN=TOKEN sends an API token;\n"
          "or ROUNDHOUSE_USER=NAME logs in as NAME for this one command (the password is asked\n"
          "for, or read as a line from stdin when that is not a terminal).\n"
          "Times are shown in the local time zone (TZ); `--json` keeps the API's UTC values.\n"
          "ROUNDHOUSE_REGISTRATION_TOKEN, when set, is sent as X-Registration-Token (a central\n"
          "started with --registration-token requires it for `import`).\n"
          "\n"
          "Exit status:\n"
          "  0  success\n"
          "  1  the central answered an error (its message is printed on stderr), could not be\n"
          "     reached, or a local file could not be read or written\n"
          "  2  bad usage: unknown command or option, missing or invalid argument\n",
          out);
}

static int usage_error(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(FILE *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("roundhouse: ", err);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fputs("\nTry 'roundhouse --help'.\n", err);
    return -EINVAL;
}

/* Argument of a long option: "--opt=value" or the next argv element. */
static int option_value(int argc, char **argv, int *i, const char *name, const char **value,
                        FILE *err)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return 0;
    }
    if (*i + 1 >= argc)
        return usage_error(err, "option %s needs a value", name);
    *value = argv[++*i];
    return 0;
}

/* "--name" or "--name=..." */
static bool is_option(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

static bool is_flag(const char *arg, const char *name)
{
    return strcmp(arg, name) == 0;
}

/* "online,stale": what the central accepts as ?presence, checked before anything is sent. */
static bool presence_list_valid(const char *s)
{
    static const char *const states[] = {"online", "stale", "offline", "unknown"};
    const char *p = s;
    do {
        size_t n = strcspn(p, ",");
        bool known = false;
        for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
            known = known || (strlen(states[i]) == n && strncmp(p, states[i], n) == 0);
        if (!known)
            return false;
        p += n;
    } while (*p++ == ',');
    return true;
}

static int set_central(const char *value, struct cli_options *o, FILE *err)
{
    if (strncasecmp(value, "http://", 7) != 0 && strncasecmp(value, "https://", 8) != 0)
        return usage_error(err, "invalid central URL '%s': expected http://HOST[:PORT]", value);
    o->central = value;
    return 0;
}

static int set_timeout(const char *value, struct cli_options *o, FILE *err)
{
    double s = 0;
    if (parse_double(value, 0.001, TIMEOUT_MAX_S, &s) < 0)
        return usage_error(err, "invalid --timeout '%s': expected seconds, 0.001-3600", value);
    o->timeout_ms = (long)(s * 1000.0 + 0.5);
    return 0;
}

static int set_limit(const char *value, struct cli_options *o, FILE *err)
{
    bool digits = value[0] != '\0';
    for (const char *p = value; *p; p++)
        digits = digits && *p >= '0' && *p <= '9';
    if (!digits || parse_long(value, 1, LONG_MAX, &o->limit) < 0)
        return usage_error(err, "invalid --limit '%s': expected a whole number from 1", value);
    return 0;
}

static int set_presence(const char *value, struct cli_options *o, FILE *err)
{
    if (!presence_list_valid(value))
        return usage_error(err,
                           "invalid --presence '%s': expected online, stale, offline or "
                           "unknown, or several of them separated by commas",
                           value);
    o->presence = value;
    return 0;
}

int cli_options_parse(int argc, char **argv, const char *env_central, struct cli_options *o,
                      FILE *out, FILE *err)
{
    struct cli_options r = {.central = NULL, .timeout_ms = CLI_DEFAULT_TIMEOUT_MS};
    const char *value = "";
    bool from_env = env_central != NULL && env_central[0] != '\0';
    int npos = 0;
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        /* "-" is stdin/stdout for import/export; "-5" is a (bad) number, not an option. */
        bool option =
            !options_done && arg[0] == '-' && arg[1] != '\0' && !(arg[1] >= '0' && arg[1] <= '9');
        if (!option) {
            argv[1 + npos++] = argv[i]; /* compacts in place: 1 + npos <= i */
            continue;
        }
        if (is_flag(arg, "--")) {
            options_done = true;
        } else if (is_flag(arg, "--help") || is_flag(arg, "-h")) {
            cli_options_usage(out);
            return 1;
        } else if (is_flag(arg, "--version") || is_flag(arg, "-V")) {
            fputs("roundhouse " ROUNDHOUSE_VERSION "\n", out);
            return 1;
        } else if (is_flag(arg, "--json")) {
            r.json = true;
        } else if (is_option(arg, "--central")) {
            if (option_value(argc, argv, &i, "--central", &value, err) < 0 ||
                set_central(value, &r, err) < 0)
                return -EINVAL;
            from_env = false;
        } else if (is_option(arg, "--ca")) {
            if (option_value(argc, argv, &i, "--ca", &value, err) < 0)
                return -EINVAL;
            r.ca = value;
        } else if (is_option(arg, "--timeout")) {
            if (option_value(argc, argv, &i, "--timeout", &value, err) < 0 ||
                set_timeout(value, &r, err) < 0)
                return -EINVAL;
        } else if (strcmp(arg, "--force") == 0) {
            r.force = true;
        } else if (is_option(arg, "--direction")) {
            if (option_value(argc, argv, &i, "--direction", &value, err) < 0)
                return -EINVAL;
            r.direction = value;
        } else if (is_option(arg, "--limit")) {
            if (option_value(argc, argv, &i, "--limit", &value, err) < 0 ||
                set_limit(value, &r, err) < 0)
                return -EINVAL;
        } else if (is_option(arg, "--name")) {
            if (option_value(argc, argv, &i, "--name", &value, err) < 0)
                return -EINVAL;
            r.name = value;
        } else if (is_option(arg, "--presence")) {
            if (option_value(argc, argv, &i, "--presence", &value, err) < 0 ||
                set_presence(value, &r, err) < 0)
                return -EINVAL;
        } else {
            return usage_error(err, "unknown option '%s'", arg);
        }
    }
    /* The flag wins over the environment (docs/cli.md), whatever their order. */
    if (from_env && set_central(env_central, &r, err) < 0)
        return -EINVAL;
    if (npos == 0)
        return usage_error(err, "a command is required");
    r.argc = npos;
    r.argv = argv + 1;
    *o = r;
    return 0;
}
