# Cross build for Debian's armhf (docs/deploy.md, "ARM builds"), with Debian's cross compiler and
# the target's multiarch -dev packages (scripts/install-cross-deps.sh armhf):
#   cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-armhf.cmake
# Tests run under qemu-user (CMAKE_CROSSCOMPILING_EMULATOR), so ctest works as on the host.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm)
# Only the target's .pc files (the host's would hand out the host's libraries).
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/arm-linux-gnueabihf/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
# Programs from the host, libraries and headers from the target's multiarch directories.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

# Debian's libpq-dev cannot be installed beside the host's: the central is cross-built
# without its PostgreSQL backend (docs/arm.md).
set(ROUNDHOUSE_POSTGRES OFF CACHE BOOL "roundhouse-central with its PostgreSQL backend (libpq)" FORCE)
