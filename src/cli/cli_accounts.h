/* Operator accounts in `roundhouse` (the central's --auth, docs/security.md): the caller's
 * credential, and the commands `user`, `token` and `whoami`.
 *
 * Credential: ROUNDHOUSE_TOKEN (an API token, sent as "Authorization: Bearer ..."), or else
 * ROUNDHOUSE_USER: the CLI asks for that user's password, logs in (POST /api/login, the
 * session cookie kept in memory only), runs the command and logs out again. Neither set:
 * no credential, as against a central without --auth.
 *
 * Passwords are read from the terminal with echo off, or when stdin is not a terminal as
 * one line each from stdin (first the login password, then a new one). */
#ifndef ROUNDHOUSE_CLI_ACCOUNTS_H
#define ROUNDHOUSE_CLI_ACCOUNTS_H

#include "cli.h"

/* Before the command: sets the credential from the environment (logging in for
 * ROUNDHOUSE_USER). CLI_EXIT_OK, or an exit code after printing why. */
int cli_accounts_begin(struct cli *c);
/* After the command: ends the session cli_accounts_begin opened, if any. */
void cli_accounts_end(struct cli *c);

int cli_cmd_user(struct cli *c, int argc, char **argv);
int cli_cmd_token(struct cli *c, int argc, char **argv);
int cli_cmd_whoami(struct cli *c, int argc, char **argv);

#endif
