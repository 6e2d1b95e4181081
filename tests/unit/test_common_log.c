/* Level/format option parsing and the lines log_event writes to stderr (captured in a file). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "fileio.h"
#include "log.h"
#include "timeutil.h"

static void test_level_parse(void **state)
{
    static const struct {
        const char *s;
        enum log_level level;
    } ok[] = {
        {"debug", RH_LOG_DEBUG},  {"DEBUG", RH_LOG_DEBUG},     {"info", RH_LOG_INFO},
        {"Info", RH_LOG_INFO},    {"warning", RH_LOG_WARNING}, {"WARNING", RH_LOG_WARNING},
        {"warn", RH_LOG_WARNING}, {"Warn", RH_LOG_WARNING},    {"error", RH_LOG_ERROR},
        {"ERROR", RH_LOG_ERROR},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        enum log_level l = (enum log_level)99;
        assert_int_equal(log_level_parse(ok[i].s, &l), 0);
        assert_int_equal(l, ok[i].level);
    }
    static const char *const bad[] = {"",      "fatal", "inf", "warnings", " info",
                                      "info ", "0",     "err", "critical"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum log_level l = RH_LOG_ERROR;
        if (log_level_parse(bad[i], &l) != -EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(l, RH_LOG_ERROR);
    }
    enum log_level l = RH_LOG_ERROR;
    assert_int_equal(log_level_parse(NULL, &l), -EINVAL);
    assert_int_equal(l, RH_LOG_ERROR);
}

static void test_format_parse(void **state)
{
    enum log_format f = LOG_FORMAT_TEXT;
    assert_int_equal(log_format_parse("json", &f), 0);
    assert_int_equal(f, LOG_FORMAT_JSON);
    assert_int_equal(log_format_parse("TEXT", &f), 0);
    assert_int_equal(f, LOG_FORMAT_TEXT);
    assert_int_equal(log_format_parse("Json", &f), 0);
    assert_int_equal(f, LOG_FORMAT_JSON);
    assert_int_equal(log_format_parse("text", &f), 0);
    assert_int_equal(f, LOG_FORMAT_TEXT);
    static const char *const bad[] = {"", "xml", "jsonl", " json", "plain"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (log_format_parse(bad[i], &f) != -EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(f, LOG_FORMAT_TEXT);
    }
    assert_int_equal(log_format_parse(NULL, &f), -EINVAL);
    assert_int_equal(f, LOG_FORMAT_TEXT);
}

static void test_enabled(void **state)
{
    log_setup(RH_LOG_WARNING, LOG_FORMAT_JSON);
    assert_false(log_enabled(RH_LOG_DEBUG));
    assert_false(log_enabled(RH_LOG_INFO));
    assert_true(log_enabled(RH_LOG_WARNING));
    assert_true(log_enabled(RH_LOG_ERROR));
    log_setup(RH_LOG_DEBUG, LOG_FORMAT_JSON);
    assert_true(log_enabled(RH_LOG_DEBUG));
    log_setup(RH_LOG_INFO, LOG_FORMAT_JSON);
}

/* Redirects stderr into a file while the test emits lines, then returns what was written. */
struct capture {
    char path[64];
    int saved;
};

static void capture_begin(struct capture *c)
{
    snprintf(c->path, sizeof c->path, "/tmp/rh-test-log-XXXXXX");
    int fd = mkstemp(c->path);
    assert_true(fd >= 0);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
}

/* Not inlined: gcc 12 at -O2/-O3 takes the callers' pointers into the returned buffer for
 * pointers to this function's local `text` (a false -Wdangling-pointer). */
__attribute__((noinline)) static char *capture_end(struct capture *c)
{
    assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
    close(c->saved);
    char *text = NULL;
    assert_int_equal(fileio_read_all(c->path, 1 << 20, &text, NULL), 0);
    unlink(c->path);
    return text;
}

static void test_json_line(void **state)
{
    struct capture c = {.saved = -1};
    log_setup(RH_LOG_INFO, LOG_FORMAT_JSON);
    int64_t before = timeutil_now_ms();
    capture_begin(&c);
    log_event(RH_LOG_INFO, "controller_registered", "{s:s, s:s, s:I, s:s?}", "uuid",
              "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b", "status", "restored", "duration_ms",
              (json_int_t)12, "absent", (const char *)NULL);
    char *text = capture_end(&c);
    int64_t after = timeutil_now_ms();

    /* One line, ts/level/event first. */
    size_t len = strlen(text);
    assert_true(len > 0);
    assert_int_equal(text[len - 1], '\n');
    assert_ptr_equal(strchr(text, '\n'), text + len - 1);
    assert_int_equal(strncmp(text, "{\"ts\":\"", 7), 0);

    json_error_t jerr;
    json_t *line = json_loads(text, 0, &jerr);
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(line, "event")), "controller_registered");
    assert_string_equal(json_string_value(json_object_get(line, "uuid")),
                        "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b");
    assert_string_equal(json_string_value(json_object_get(line, "status")), "restored");
    assert_int_equal(json_integer_value(json_object_get(line, "duration_ms")), 12);
    assert_true(json_is_null(json_object_get(line, "absent")));
    int64_t ts = 0;
    assert_int_equal(timeutil_parse_ms(json_string_value(json_object_get(line, "ts")), &ts), 0);
    assert_true(ts >= before && ts <= after);
    json_decref(line);
    free(text);
}

/* Lines longer than the writer's stack buffer, lines without fields, and an event name that
 * needs escaping each come out as one JSON object per line. */
static void test_json_line_sizes(void **state)
{
    (void)state;
    static char big[6000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct capture c = {.saved = -1};
    log_setup(RH_LOG_INFO, LOG_FORMAT_JSON);
    capture_begin(&c);
    log_event(RH_LOG_INFO, "big", "{s:s, s:i}", "value", big, "after", 7);
    log_event(RH_LOG_INFO, "bare", NULL);
    log_event(RH_LOG_INFO, "odd \"name\"", "{s:i}", "n", 1);
    char *text = capture_end(&c);
    char *save = NULL, *l1 = strtok_r(text, "\n", &save), *l2 = strtok_r(NULL, "\n", &save),
         *l3 = strtok_r(NULL, "\n", &save);
    assert_non_null(l3);
    assert_null(strtok_r(NULL, "\n", &save));
    json_error_t jerr;
    json_t *a = json_loads(l1, 0, &jerr), *b = json_loads(l2, 0, &jerr),
           *d = json_loads(l3, 0, &jerr);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(d);
    assert_int_equal(strlen(json_string_value(json_object_get(a, "value"))), sizeof big - 1);
    assert_int_equal(json_integer_value(json_object_get(a, "after")), 7);
    assert_string_equal(json_string_value(json_object_get(b, "event")), "bare");
    assert_int_equal(json_object_size(b), 3);
    assert_string_equal(json_string_value(json_object_get(d, "event")), "odd \"name\"");
    assert_int_equal(json_integer_value(json_object_get(d, "n")), 1);
    json_decref(a);
    json_decref(b);
    json_decref(d);
    free(text);
}

/* Held lines wait for log_release, in order; a warning writes them, then itself, at once. */
static void test_held_lines(void **state)
{
    (void)state;
    struct capture c = {.saved = -1};
    log_setup(RH_LOG_INFO, LOG_FORMAT_JSON);
    capture_begin(&c);
    log_hold();
    log_event(RH_LOG_INFO, "first", NULL);
    log_event(RH_LOG_INFO, "second", "{s:i}", "n", 2);
    struct stat sb;
    assert_int_equal(fstat(STDERR_FILENO, &sb), 0);
    assert_int_equal(sb.st_size, 0); /* nothing written yet */
    log_event(RH_LOG_WARNING, "third", NULL);
    assert_int_equal(fstat(STDERR_FILENO, &sb), 0);
    off_t after_warning = sb.st_size;
    log_event(RH_LOG_INFO, "fourth", NULL);
    log_release();
    log_event(RH_LOG_INFO, "fifth", NULL); /* not held any more */
    log_hold_free();
    char *text = capture_end(&c);
    assert_true(after_warning > 0);
    const char *order[] = {"first", "second", "third", "fourth", "fifth"};
    const char *at = text;
    for (size_t i = 0; i < 5; i++) {
        char want[48];
        snprintf(want, sizeof want, "\"event\":\"%s\"", order[i]);
        const char *found = strstr(at, want);
        assert_non_null(found);
        at = found;
    }
    /* Up to the warning, nothing after it. */
    char *head = strndup(text, (size_t)after_warning);
    assert_non_null(head);
    assert_null(strstr(head, "fourth"));
    assert_non_null(strstr(head, "third"));
    free(head);
    free(text);
}

static void test_level_filter(void **state)
{
    struct capture c = {.saved = -1};
    log_setup(RH_LOG_WARNING, LOG_FORMAT_JSON);
    capture_begin(&c);
    log_event(RH_LOG_INFO, "hidden", NULL);
    log_event(RH_LOG_DEBUG, "hidden", NULL);
    log_event(RH_LOG_ERROR, "shown", NULL);
    char *text = capture_end(&c);
    log_setup(RH_LOG_INFO, LOG_FORMAT_JSON);
    assert_null(strstr(text, "hidden"));
    assert_non_null(strstr(text, "\"level\":\"error\",\"event\":\"shown\""));
    free(text);
}

static void test_bad_fields_format(void **state)
{
    struct capture c = {.saved = -1};
    log_setup(RH_LOG_INFO, LOG_FORMAT_JSON);
    capture_begin(&c);
    log_event(RH_LOG_WARNING, "oops", "[i]", 1); /* not an object */
    char *text = capture_end(&c);
    json_error_t jerr;
    json_t *line = json_loads(text, 0, &jerr);
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "event")), "oops");
    assert_string_equal(json_string_value(json_object_get(line, "log_fields_error")), "[i]");
    json_decref(line);
    free(text);

    /* A field that is not UTF-8 (written without jansson's tree, the same line as jansson's
     * refusal gives), and a nested format (written through jansson). */
    capture_begin(&c);
    log_event(RH_LOG_WARNING, "odd", "{s:s, s:s}", "ok", "fine", "path", "/x\xff");
    log_event(RH_LOG_WARNING, "nested", "{s:{s:i}, s:[s]}", "a", "b", 1, "c", "d");
    text = capture_end(&c);
    char *second = strchr(text, '\n');
    assert_non_null(second);
    *second++ = '\0';
    line = json_loads(text, 0, &jerr);
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "event")), "odd");
    assert_string_equal(json_string_value(json_object_get(line, "log_fields_error")), "{s:s, s:s}");
    assert_null(json_object_get(line, "ok"));
    json_decref(line);
    line = json_loads(second, 0, &jerr);
    assert_non_null(line);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(line, "a"), "b")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(line, "c"), 0)), "d");
    json_decref(line);
    free(text);
}

static void test_text_line(void **state)
{
    struct capture c = {.saved = -1};
    log_setup(RH_LOG_DEBUG, LOG_FORMAT_TEXT);
    capture_begin(&c);
    log_event(RH_LOG_DEBUG, "ramp_step", "{s:s, s:i}", "motor", "m1", "speed", 40);
    char *text = capture_end(&c);
    log_setup(RH_LOG_INFO, LOG_FORMAT_JSON);
    assert_non_null(strstr(text, " debug   ramp_step motor=m1 speed=40\n"));
    int64_t ts = 0;
    char stamp[25];
    memcpy(stamp, text, 24);
    stamp[24] = '\0';
    assert_int_equal(timeutil_parse_ms(stamp, &ts), 0);
    free(text);
}

/* A long event name must not cost the line its fields. */
static void test_text_long_event(void **state)
{
    char event[301];
    memset(event, 'e', sizeof event - 1);
    event[sizeof event - 1] = '\0';
    struct capture c = {.saved = -1};
    log_setup(RH_LOG_INFO, LOG_FORMAT_TEXT);
    capture_begin(&c);
    log_event(RH_LOG_INFO, event, "{s:s}", "k", "v");
    log_event(RH_LOG_INFO, event, NULL);
    char *text = capture_end(&c);
    log_setup(RH_LOG_INFO, LOG_FORMAT_JSON);
    char *first = strstr(text, event);
    assert_non_null(first);
    assert_int_equal(strncmp(first + strlen(event), " k=v\n", 5), 0);
    char *second = strstr(first + strlen(event), event);
    assert_non_null(second);
    assert_string_equal(second + strlen(event), "\n");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_parse),       cmocka_unit_test(test_format_parse),
        cmocka_unit_test(test_enabled),           cmocka_unit_test(test_json_line),
        cmocka_unit_test(test_json_line_sizes),   cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_bad_fields_format), cmocka_unit_test(test_text_line),
        cmocka_unit_test(test_text_long_event),   cmocka_unit_test(test_held_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
