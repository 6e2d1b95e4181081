# Unit tests of the common library (src/common), one executable per module.
foreach(module backoff canon driving fileio jsonx log parse secret sha256 timeutil tlsutil
       uuidstr)
  rh_unit_test(test_common_${module} ${RH_UNIT_DIR}/test_common_${module}.c)
  target_link_libraries(test_common_${module} PRIVATE rh_common)
endforeach()
