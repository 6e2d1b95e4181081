# Unit tests of the common library (src/common), one executable per module.
foreach(module backoff canon driving fileio jsonr jsonw jsonx log parse prom protocol secret sha256 strbuf timeutil
       tlsutil uuidstr)
  rh_unit_test(test_common_${module} ${RH_UNIT_DIR}/test_common_${module}.c)
  target_link_libraries(test_common_${module} PRIVATE rh_common)
endforeach()
# The web UI's copy of the command words and field limits is checked against protocol.h.
target_compile_definitions(test_common_protocol PRIVATE
  RH_WEB_APP_JS="${PROJECT_SOURCE_DIR}/src/central/web/app.js")
