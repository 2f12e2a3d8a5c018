# Every dependency comes from a Debian 12 package (scripts/bootstrap.sh installs them) and is found the standard way.
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)          # 3.21: no CMake config, the FindProtobuf module
find_package(gRPC CONFIG REQUIRED)       # 1.51: needs protobuf-compiler-grpc for the plugin target
find_package(absl CONFIG REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)   # target: yaml-cpp
find_package(spdlog CONFIG REQUIRED)     # shared, external fmt
find_package(fmt CONFIG REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
find_package(SQLite3 REQUIRED)         # the session-event outbox (events/); target SQLite::SQLite3
if(OA_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
  include(GoogleTest)
endif()
if(OA_BUILD_BENCH)
  find_package(benchmark CONFIG REQUIRED)
endif()
