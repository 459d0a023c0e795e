# Cross-compile mring for 64-bit Arm Linux on Debian, and run its tests
# under qemu-user:
#
#   cmake -S . -B build-arm64 \
#         -DCMAKE_TOOLCHAIN_FILE=tools/cmake/aarch64-linux-gnu.cmake
#
# Needs gcc-aarch64-linux-gnu, qemu-user and the :arm64 -dev packages of
# the libraries (Debian multiarch; tools/deps.sh installs them). With
# -DMRING_ARM64_CC=clang the compiler is clang-14 --target=aarch64-linux-gnu
# instead, linking with the same GNU cross binutils and libraries.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(_triple aarch64-linux-gnu)

set(MRING_ARM64_CC gcc CACHE STRING "Compiler for the arm64 build: gcc or clang")
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES MRING_ARM64_CC)
if(MRING_ARM64_CC STREQUAL "clang")
  set(CMAKE_C_COMPILER clang-14)
  set(CMAKE_C_COMPILER_TARGET ${_triple})
else()
  set(CMAKE_C_COMPILER ${_triple}-gcc)
endif()
# Multiarch: headers in /usr/include, libraries in /usr/lib/${_triple}.
set(CMAKE_LIBRARY_ARCHITECTURE ${_triple})

# Only the target's libraries, never the build machine's.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${_triple}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu)

# ctest runs every test executable through qemu-user. -L: where the
# arm64 dynamic loader and libc are. The :arm64 packages bring the
# multiarch ones (/lib/ld-linux-aarch64.so.1), and those must be used
# together with the libraries next to them: the cross toolchain's loader
# (/usr/${_triple}, libc6-arm64-cross) is another build of glibc, and with
# the multiarch libc.so.6 it hangs in pthread_create. "-L /" also
# overrides a QEMU_LD_PREFIX in the environment.
find_program(MRING_QEMU_AARCH64 qemu-aarch64 REQUIRED)
if(EXISTS /lib/ld-linux-aarch64.so.1)
  set(_ld_prefix /)
else()
  set(_ld_prefix /usr/${_triple})
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR ${MRING_QEMU_AARCH64} -L ${_ld_prefix})
