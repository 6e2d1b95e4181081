# Cross build for Debian's arm64 (docs/deploy.md, "ARM builds"), with Debian's cross compiler and
# the target's multiarch -dev packages (scripts/install-cross-deps.sh arm64):
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-arm64.cmake
# Tests run under qemu-user (CMAKE_CROSSCOMPILING_EMULATOR), so ctest works as on the host.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
# Only the target's .pc files (the host's would hand out the host's libraries).
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
# Programs from the host, libraries and headers from the target's multiarch directories.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

# Debian's libpq-dev cannot be installed beside the host's: the central is cross-built
# without its PostgreSQL backend (docs/arm.md).
set(ROUNDHOUSE_POSTGRES OFF CACHE BOOL "roundhouse-central with its PostgreSQL backend (libpq)" FORCE)
