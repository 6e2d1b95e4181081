# YAML loading (src/common/yamljson.c) and the central's bootstrap file (src/central/bootstrap.c).
rh_unit_test(test_yamljson ${RH_UNIT_DIR}/test_yamljson.c)
target_link_libraries(test_yamljson PRIVATE rh_common)

if(ROUNDHOUSE_CENTRAL)
  rh_unit_test(test_bootstrap ${RH_UNIT_DIR}/test_bootstrap.c)
  target_link_libraries(test_bootstrap PRIVATE rh_bootstrap)
  target_compile_definitions(test_bootstrap PRIVATE
    RH_TEST_DATA_DIR="${RH_UNIT_DIR}/data"
    RH_EXAMPLES_DIR="${PROJECT_SOURCE_DIR}/docs/examples")
endif()
