# The edge daemon's parsers (src/edge): the state directory's cache file, a downloaded runtime
# config as checked before it is applied, the MQTT train command payload, and the central's
# HTTP answers as the edge's own client parses them.
# (The fuzz directory is built only with both daemons.)
rh_fuzz(fuzz_edge_cache SOURCES fuzz_edge_cache.c LIBS rh_edge rh_motor rh_common)
rh_fuzz(fuzz_edge_config SOURCES fuzz_edge_config.c LIBS rh_edge rh_motor rh_common)
rh_fuzz(fuzz_edge_command SOURCES fuzz_edge_command.c LIBS rh_edge rh_motor rh_common)
rh_fuzz(fuzz_edge_http SOURCES fuzz_edge_http.c LIBS rh_edge rh_motor rh_common)
