/* The central's DNS-SD advertisement: which listeners are worth advertising (advertise.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "advertise.h"

static void test_loopback(void **state)
{
    (void)state;
    assert_true(advertise_host_is_loopback("127.0.0.1"));
    assert_true(advertise_host_is_loopback("127.255.0.9"));
    assert_true(advertise_host_is_loopback("::1"));
    assert_true(advertise_host_is_loopback("::ffff:127.0.0.1"));
    assert_false(advertise_host_is_loopback("0.0.0.0"));
    assert_false(advertise_host_is_loopback("::"));
    assert_false(advertise_host_is_loopback("192.168.1.10"));
    assert_false(advertise_host_is_loopback("128.0.0.1"));
    assert_false(advertise_host_is_loopback("fe80::1"));
    assert_false(advertise_host_is_loopback("not-an-address"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
