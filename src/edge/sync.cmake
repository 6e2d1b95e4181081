# rh_sync: the edge's decisions about the central, all pure: the registration / train /
# config / heartbeat state machine (sync.c), the central's answers read into its events
# (answer.c) and the runtime-config checks they use (cache.c). A library of its own so that
# roundhouse-fleet drives every simulated controller through this very code, also in a build
# without the edge (-DROUNDHOUSE_EDGE=OFF).
add_library(rh_sync STATIC
  ${CMAKE_CURRENT_LIST_DIR}/sync.c
  ${CMAKE_CURRENT_LIST_DIR}/answer.c
  ${CMAKE_CURRENT_LIST_DIR}/cache.c)
target_include_directories(rh_sync PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(rh_sync PUBLIC rh_common PkgConfig::JANSSON)
