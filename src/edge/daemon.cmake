# roundhouse-edge: everything but main.c in rh_edge (and the sync decisions in rh_sync,
# sync.cmake), so unit tests link the modules directly.
add_library(rh_edge STATIC
  ${CMAKE_CURRENT_LIST_DIR}/config_opts.c
  ${CMAKE_CURRENT_LIST_DIR}/sysinfo.c
  ${CMAKE_CURRENT_LIST_DIR}/identity.c
  ${CMAKE_CURRENT_LIST_DIR}/credential.c
  ${CMAKE_CURRENT_LIST_DIR}/epoch.c
  ${CMAKE_CURRENT_LIST_DIR}/trains.c
  ${CMAKE_CURRENT_LIST_DIR}/response_parser.c
  ${CMAKE_CURRENT_LIST_DIR}/resolve.c
  ${CMAKE_CURRENT_LIST_DIR}/api_client.c
  ${CMAKE_CURRENT_LIST_DIR}/discover.c
  ${CMAKE_CURRENT_LIST_DIR}/mqtt_link.c
  ${CMAKE_CURRENT_LIST_DIR}/health.c
  ${CMAKE_CURRENT_LIST_DIR}/sdnotify.c
  ${CMAKE_CURRENT_LIST_DIR}/edge.c
  ${CMAKE_CURRENT_LIST_DIR}/edge_apply.c
  ${CMAKE_CURRENT_LIST_DIR}/edge_mqtt.c
  ${CMAKE_CURRENT_LIST_DIR}/edge_central.c
  ${CMAKE_CURRENT_LIST_DIR}/edge_report.c
  ${CMAKE_CURRENT_LIST_DIR}/loop.c)
target_include_directories(rh_edge PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(rh_edge PUBLIC rh_sync rh_motor rh_common rh_dnssd http_parser::http_parser
                      PkgConfig::MOSQ
                      PkgConfig::JANSSON)

add_executable(roundhouse-edge ${CMAKE_CURRENT_LIST_DIR}/main.c)
target_link_libraries(roundhouse-edge PRIVATE rh_edge rh_motor rh_common PkgConfig::MOSQ)
