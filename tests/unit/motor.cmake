# Motor side of the edge: ramp engine, PCA9685 driver over the recording fake I2C bus, plugins.
rh_unit_test(test_ramp ${RH_UNIT_DIR}/test_ramp.c)
target_link_libraries(test_ramp PRIVATE rh_motor)

rh_unit_test(test_pca9685 ${RH_UNIT_DIR}/test_pca9685.c)
target_link_libraries(test_pca9685 PRIVATE rh_motor)

rh_unit_test(test_plugins ${RH_UNIT_DIR}/test_plugins.c)
target_link_libraries(test_plugins PRIVATE rh_motor)
