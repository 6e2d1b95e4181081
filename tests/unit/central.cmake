# Unit tests of the central's pure cores and its store.
rh_unit_test(test_presence ${RH_UNIT_DIR}/test_presence.c)
target_link_libraries(test_presence PRIVATE rh_central)
rh_unit_test(test_paging ${RH_UNIT_DIR}/test_paging.c)
target_link_libraries(test_paging PRIVATE rh_central)
rh_unit_test(test_registry ${RH_UNIT_DIR}/test_registry.c)
target_link_libraries(test_registry PRIVATE rh_central)
rh_unit_test(test_runtime_config ${RH_UNIT_DIR}/test_runtime_config.c)
target_link_libraries(test_runtime_config PRIVATE rh_central)
rh_unit_test(test_store ${RH_UNIT_DIR}/test_store.c)
target_link_libraries(test_store PRIVATE rh_central)
# Its PostgreSQL half starts a throwaway cluster with the script the integration tests use.
target_compile_definitions(test_store PRIVATE
  RH_PG_CLUSTER="${PROJECT_SOURCE_DIR}/tests/support/pg-cluster.sh"
  RH_HAVE_POSTGRES=$<BOOL:${ROUNDHOUSE_POSTGRES}>)
rh_unit_test(test_ratelimit ${RH_UNIT_DIR}/test_ratelimit.c)
target_link_libraries(test_ratelimit PRIVATE rh_central)
rh_unit_test(test_withrottle_proto ${RH_UNIT_DIR}/test_withrottle_proto.c)
target_link_libraries(test_withrottle_proto PRIVATE rh_central)
rh_unit_test(test_auth ${RH_UNIT_DIR}/test_auth.c)
target_link_libraries(test_auth PRIVATE rh_central)

rh_unit_test(test_advertise ${RH_UNIT_DIR}/test_advertise.c)
target_link_libraries(test_advertise PRIVATE rh_central)
rh_unit_test(test_mqtt_acl ${RH_UNIT_DIR}/test_mqtt_acl.c)
target_link_libraries(test_mqtt_acl PRIVATE rh_central)
rh_unit_test(test_cluster_proto ${RH_UNIT_DIR}/test_cluster_proto.c)
target_link_libraries(test_cluster_proto PRIVATE rh_central)
