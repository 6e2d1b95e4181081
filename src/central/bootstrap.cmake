# Bootstrap file validation (earlier config.yaml format -> import document), linked by the
# central and by its unit tests.
add_library(rh_bootstrap STATIC ${CMAKE_CURRENT_LIST_DIR}/bootstrap.c)
target_include_directories(rh_bootstrap PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(rh_bootstrap PUBLIC rh_common)
