# Unit tests of the edge daemon's modules (src/edge), linked against rh_edge directly.
if(ROUNDHOUSE_EDGE)
  foreach(module cache sync commands options identity credential sdnotify api_client
          discover answer resolve)
    rh_unit_test(test_edge_${module} ${RH_UNIT_DIR}/test_edge_${module}.c)
    target_link_libraries(test_edge_${module} PRIVATE rh_edge)
  endforeach()
endif()
